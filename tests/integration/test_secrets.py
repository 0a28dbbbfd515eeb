# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""No key byte and no password in any output, at -vvvv, in check, diff and real runs; safe file modes; a login
without the privileges changes nothing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import json
import os
import stat

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore

from .test_faults import host_path, markers, operations, play

pytestmark = pytest.mark.integration
KEYSTORE_PASSWORD = 'Keystore-Passw0rd-Never-Shown'


@pytest.fixture(scope='module')
def fleet(sandbox_fleet):
    os.environ['ANSIBLE_COLLECTIONS_PATH'] = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), '.cache', 'collections')
    return sandbox_fleet(n=2, plugin_host=True, mariadb=True)


def secrets_of(fleet):
    """Every form a secret of this fleet could take in output: key bytes raw, hex, base64; passwords."""
    forms = {KEYSTORE_PASSWORD.encode()}
    for host in fleet.group('mysql'):
        store = open_keystore('component_keyring_file', str(host_path(fleet, host, fleet.hosts[host]['keyring_path'])))
        for key in store.load():
            if len(key.data) < 8:
                continue          # too short to tell from ordinary text
            forms.update((key.data, binascii.hexlify(key.data), binascii.hexlify(key.data).upper(),
                          base64.b64encode(key.data)))
        for account in fleet.hosts[host]['mysql_accounts'].values():
            if account.get('password'):
                forms.add(account['password'].encode())
    return forms


def test_no_secret_in_any_output(fleet, tmp_path):
    forms = secrets_of(fleet)
    assert len(forms) > 40
    migration = fleet.hosts['mysql1']['mysql_accounts']['migration']
    extra = {'keystore_password': KEYSTORE_PASSWORD, 'keyring_migration_report_dir': str(tmp_path / 'report'),
             'login': {'login_host': '{{ ansible_host }}', 'login_user': migration['user'],
                       'login_password': migration['password']}}
    outputs = []
    for args in (['--check', '--diff'], ['--diff'], ['--diff']):
        res = play(fleet, 'encrypted.yml', extra, tmp_path, verbosity=4, args=args)
        assert res.returncode == 0, res.stdout[-6000:]
        outputs.append((res.stdout + res.stderr).encode())
    outputs += [p.read_bytes() for p in (tmp_path / 'report').iterdir()]
    # The runs really ran at -vvvv (SSH details shown) and returned module results.
    assert all(b'ESTABLISH SSH CONNECTION' in out and b'already_present' in out for out in outputs[:3])
    hits = [(i, form[:6]) for i, out in enumerate(outputs) for form in forms if form in out]
    assert hits == []
    # The scan does find secrets where they are: the extra-vars file handed to ansible-playbook holds two.
    handed_over = (tmp_path / 'extra-encrypted.yml.json').read_bytes()
    assert KEYSTORE_PASSWORD.encode() in handed_over and migration['password'].encode() in handed_over
    # The encrypted copy holds every key, under the password nobody saw.
    for host in fleet.group('mysql'):
        copy = open_keystore('component_keyring_encrypted_file', str(host_path(fleet, host, '/var/lib/mysql-keyring/encrypted_copy')),
                             KEYSTORE_PASSWORD)
        live = open_keystore('component_keyring_file', str(host_path(fleet, host, fleet.hosts[host]['keyring_path'])))
        assert list(copy.load()) == list(live.load())


def test_files_the_collection_creates_are_not_writable_by_others(fleet):
    for host in fleet.group('mysql'):
        for directory in ('/var/lib/mysql-keyring', '/run/keyops-mysql'):
            root = host_path(fleet, host, directory)
            if not root.exists():
                continue
            for path in [root] + list(root.iterdir()):
                mode = stat.S_IMODE(path.stat().st_mode)
                assert not mode & 0o022, (host, str(path), oct(mode))


def test_a_login_without_privileges_changes_nothing(fleet, tmp_path):
    app = fleet.hosts['mysql1']['mysql_accounts']['unprivileged']
    extra = {'keystore_password': KEYSTORE_PASSWORD, 'keyring_migration_report_dir': str(tmp_path),
             'login': {'login_unix_socket': '/run/mysqld/mysqld.sock', 'login_user': app['user'],
                       'login_password': app['password']}}
    before = {h: sorted(p.name for p in host_path(fleet, h, '/var/lib/mysql-keyring').iterdir())
              for h in fleet.group('mysql')}
    extra_path = '/var/lib/mysql-keyring/encrypted_copy_unprivileged'
    res = play(fleet, 'encrypted.yml', dict(extra, destination_override=extra_path), tmp_path,
               args=['-e', '{"keyring_migration_destination": {"type": "component_keyring_encrypted_file", '
                           '"path": "%s", "password": "%s"}}' % (extra_path, KEYSTORE_PASSWORD)])
    assert res.returncode != 0
    assert 'lacks a privilege keyops needs' in res.stdout and 'SYSTEM_VARIABLES_ADMIN' in res.stdout
    report = json.loads((tmp_path / 'keyring-migration-report.json').read_text())
    assert report['result'] == 'failed' and 'lacks a privilege' in report['hosts']['mysql1']['reason']
    after = {h: sorted(p.name for p in host_path(fleet, h, '/var/lib/mysql-keyring').iterdir())
             for h in fleet.group('mysql')}
    assert after == before
    assert operations(fleet) == dict.fromkeys(fleet.group('mysql'), '1') and not any(markers(fleet).values())
