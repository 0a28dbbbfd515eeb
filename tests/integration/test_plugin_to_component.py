# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyops.mysql.plugin_to_component on a host that looks like a stopped MySQL 8.0 server on the keyring_file plugin,
upgraded to the 9.7 binaries in the same restart: the path every 8.0 server on the plugin takes to 8.4.

No 8.0 binary runs here, so the "8.0 server" is sandbox host plugin1: a data directory no 8.0 feature depends on,
the keystore a real 8.0 keyring_file plugin wrote (../shared/vectors/keyring_file/plugin_keyring_file_data.v2), and
option files that load the plugin as an 8.0 package's would - early in [mysqld-8.0], in [mysqld] beside another
plugin on the same plugin-load-add line (name=library form), keyring_file_data in two spellings, through an
!includedir - plus another instance's group that must not change.
The global manifest and component configuration the 9.7 root ships are removed (8.0 packages have none).

The tests run in order on one fleet of their own:
1. A start that fails (the start command fails): every file the switch wrote or created is put back or removed,
   byte for byte, and the server is left stopped, as it was.
2. The real conversion, then the start on the 9.7 binaries: the component is active on the new keystore, the plugin
   is not loaded, the other plugin on the line is, keyring_key_fetch returns the exact plaintexts of the vector's
   keys, the source keystore is unchanged, the option files changed only in this instance's plugin lines
   (MySQL's own my_print_defaults shows it), and the global files only defer to the data directory's.
3. Run again on the now running server: nothing to do, nothing changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import subprocess

import pytest

from ..conftest import REPO_ROOT

pytestmark = pytest.mark.integration

HOST = 'plugin1'
PLUGIN_KEYSTORE = '/var/lib/mysql-keyring/keyring'
COMPONENT_KEYSTORE = '/var/lib/mysql-keyring/component_keyring_file'
MY_CNF = '/etc/mysql/my.cnf'
KEYRING_CNF = '/etc/mysql/conf.d/keyring.cnf'
KEYRING_CNF_TEXT = ('# as an 8.0 server on the keyring_file plugin has it\n'
                    '[mysqld]\n'
                    'plugin-load-add = "mysql_no_login.so;keyring_file=keyring_file.so"  # and the keys\n'
                    'keyring_file_data = /var/lib/mysql-keyring/keyring\n'
                    '\n'
                    '[mysqld@other]\n'
                    'keyring_file_data = /var/lib/other/keyring\n')
# Appended to the host's my.cnf: the plugin loaded early in an 8.0-only group, its data file in another spelling,
# and the Debian !includedir.
MY_CNF_TAIL = ('\n[mysqld-8.0]\nearly_plugin_load=keyring_file.so\n'
               'loose-keyring-file-data = /var/lib/mysql-keyring/keyring\n\n!includedir /etc/mysql/conf.d/\n')
GLOBAL_FILES = ('/usr/sbin/mysqld.my', '/usr/lib/mysql/plugin/component_keyring_file.cnf')
LOCAL_FILES = ('/var/lib/mysql/mysqld.my', '/var/lib/mysql/component_keyring_file.cnf')
VECTORS = os.environ.get('KEYOPS_SANDBOX_VECTORS') or os.path.join(REPO_ROOT, '..', 'shared', 'vectors')


@pytest.fixture(scope='module')
def fleet(sandbox_fleet):
    own = sandbox_fleet(n=1, plugin_host=True, fresh=True)     # plugin1 ends up running on the component
    root = own.hosts[HOST]['keyops_sandbox_root']
    os.makedirs(root + '/etc/mysql/conf.d', exist_ok=True)
    with open(root + MY_CNF, 'a') as handle:
        handle.write(MY_CNF_TAIL)
    with open(root + KEYRING_CNF, 'w') as handle:
        handle.write(KEYRING_CNF_TEXT)
    for path in GLOBAL_FILES + LOCAL_FILES:
        if os.path.lexists(root + path):
            os.unlink(root + path)
    yield own
    own.down()


def host_file(fleet, path):
    """The bytes of a file on plugin1, or None when it is missing."""
    full = fleet.hosts[HOST]['keyops_sandbox_root'] + path
    if not os.path.lexists(full):
        return None
    with open(full, 'rb') as handle:
        return handle.read()


def files_now(fleet):
    return dict((path, host_file(fleet, path)) for path in (MY_CNF, KEYRING_CNF) + GLOBAL_FILES + LOCAL_FILES)


def query(fleet, sql):
    return fleet.query(HOST, sql)


def running(fleet):
    result = fleet.command(HOST, ['/usr/local/sbin/mysql-service', 'status'])[HOST]
    return result.get('rc') == 0


def run(fleet, tmp_path, name, check=False, **extra):
    variables = dict(keyring_migration_hosts='plugin', keyring_migration_report_dir=str(tmp_path / name),
                     keyring_migration_login=dict(login_unix_socket='/run/mysqld/mysqld.sock'),
                     keyring_migration_stop_command='/usr/local/sbin/mysql-service stop',
                     keyring_migration_start_command='/usr/local/sbin/mysql-service start',
                     keyring_migration_server_state='stopped',
                     keyring_migration_stopped_server=dict(defaults_file=MY_CNF, version='8.0.36'))
    variables.update(extra)
    extra_file = tmp_path / ('%s-vars.json' % name)
    extra_file.write_text(json.dumps(variables))
    res = subprocess.run([fleet.ansible_bin('ansible-playbook'), '-i', str(fleet.inventory), '-e', '@%s' % extra_file]
                         + ['--check'] * check + ['keyops.mysql.plugin_to_component'],
                         env=fleet.ansible_env(ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.cache', 'collections')),
                         cwd=fleet.state_dir, capture_output=True, text=True, timeout=900, check=False)
    report_file = tmp_path / name / 'keyring-migration-report.json'
    return res, json.loads(report_file.read_text()) if report_file.exists() else None


def print_defaults(fleet, group_suffix=''):
    """What MySQL's own parser gives mysqld from the host's option files (my_print_defaults, on the host)."""
    argv = ['my_print_defaults', '--defaults-file=' + MY_CNF] + (
        ['--defaults-group-suffix=' + group_suffix] if group_suffix else []) + ['mysqld', 'server', 'mysqld-8.0']
    result = fleet.command(HOST, argv)[HOST]
    assert result.get('rc') == 0, result
    return result['stdout'].splitlines()


def test_a_start_that_fails_puts_every_file_back_and_leaves_the_server_stopped(fleet, tmp_path):
    before = files_now(fleet)
    keystore = host_file(fleet, PLUGIN_KEYSTORE)
    assert not running(fleet) and keystore is not None
    res, report = run(fleet, tmp_path, 'fails', keyring_migration_start_command='/bin/false')
    assert res.returncode != 0, res.stdout[-4000:]
    line = report['hosts'][HOST]
    assert line['status'] == 'failed' and 'left stopped' in line['reason'], line
    assert files_now(fleet) == before, res.stdout[-10000:]   # as they were; nothing it created is left
    assert host_file(fleet, PLUGIN_KEYSTORE) == keystore
    assert not running(fleet)
    fleet.command(HOST, ['rm', '-f', COMPONENT_KEYSTORE])      # the copy it made; the next run makes it again


def test_the_stopped_8_0_server_is_converted_and_starts_on_9_7_with_the_vectors_keys(fleet, tmp_path):
    with open(os.path.join(VECTORS, 'manifest.json')) as handle:
        vector = json.load(handle)['keyring_file/plugin_keyring_file_data.v2']
    source = host_file(fleet, PLUGIN_KEYSTORE)
    assert hashlib.sha256(source).hexdigest() == vector['sha256_of_file']
    assert any('keyring_file.so' in line for line in print_defaults(fleet))

    # Check mode first: the plan, and nothing changes.
    before = files_now(fleet)
    res, _report = run(fleet, tmp_path, 'plan', check=True)
    assert res.returncode == 0, res.stdout[-6000:]
    assert files_now(fleet) == before and not running(fleet)

    res, report = run(fleet, tmp_path, 'convert')
    assert res.returncode == 0, res.stdout[-8000:]
    assert report['hosts'][HOST]['status'] == 'ok', report['hosts'][HOST]
    assert running(fleet)

    # The component runs on the new keystore; the plugin is not loaded; the other plugin on its line is.
    status = dict(query(fleet, 'SELECT STATUS_KEY, STATUS_VALUE FROM performance_schema.keyring_component_status'))
    assert status['Component_name'] == 'component_keyring_file' and status['Data_file'] == COMPONENT_KEYSTORE
    assert status['Component_status'] == 'Active'
    assert query(fleet, "SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'keyring_file'")[0][0] == 0
    log = (host_file(fleet, '/var/log/mysql/error.log') or b'').decode(errors='replace')
    assert query(fleet, "SELECT PLUGIN_STATUS FROM information_schema.PLUGINS "
                        "WHERE PLUGIN_NAME = 'mysql_no_login'") == (('ACTIVE',),), log[-3000:]

    # keyring_key_fetch, over root@localhost (the keys' owner), returns the 8.0 server's plaintexts.
    query(fleet, "INSTALL PLUGIN keyring_udf SONAME 'keyring_udf.so'")
    query(fleet, "CREATE FUNCTION keyring_key_fetch RETURNS STRING SONAME 'keyring_udf.so'")
    for key in vector['keys']:
        fetched = query(fleet, "SELECT HEX(keyring_key_fetch('%s'))" % key['key_id'])[0][0]
        assert fetched.lower() == key['key_data_plain_hex'], key['key_id']
    assert host_file(fleet, PLUGIN_KEYSTORE) == source          # the source was only read

    # The option files lost only this instance's plugin lines, in every group it reads; another instance's group
    # and the other plugin stay. MySQL's own parser agrees.
    assert host_file(fleet, KEYRING_CNF).decode() == KEYRING_CNF_TEXT.replace(
        '"mysql_no_login.so;keyring_file=keyring_file.so"', '"mysql_no_login.so"').replace(
        'keyring_file_data = /var/lib/mysql-keyring/keyring\n\n', '\n')
    assert host_file(fleet, MY_CNF).decode().endswith('\n[mysqld-8.0]\n\n!includedir /etc/mysql/conf.d/\n')
    parsed = print_defaults(fleet)
    assert not [line for line in parsed if 'keyring' in line], parsed
    assert '--plugin-load-add=mysql_no_login.so' in parsed
    assert '--keyring_file_data=/var/lib/other/keyring' in print_defaults(fleet, '@other')

    # The component's files: this server's in its data directory, the global ones only defer to them.
    assert json.loads(host_file(fleet, '/var/lib/mysql/mysqld.my')) == {'components': 'file://component_keyring_file'}
    assert json.loads(host_file(fleet, '/var/lib/mysql/component_keyring_file.cnf')) == {
        'path': COMPONENT_KEYSTORE, 'read_only': False}
    assert json.loads(host_file(fleet, '/usr/sbin/mysqld.my')) == {'read_local_manifest': True}
    assert json.loads(host_file(fleet, '/usr/lib/mysql/plugin/component_keyring_file.cnf')) == {
        'read_local_config': True}
    root = fleet.hosts[HOST]['keyops_sandbox_root']
    manifest = os.stat(root + '/var/lib/mysql/mysqld.my')
    assert (manifest.st_uid, oct(manifest.st_mode & 0o777)) == (0, '0o640')


def test_a_second_run_on_the_running_server_has_nothing_to_do(fleet, tmp_path):
    before = files_now(fleet)
    uptime = int(query(fleet, "SHOW GLOBAL STATUS LIKE 'Uptime'")[0][1])
    res, report = run(fleet, tmp_path, 'again', keyring_migration_server_state='running')
    assert res.returncode == 0, res.stdout[-6000:]
    assert report['hosts'][HOST]['action'] == 'none', report['hosts'][HOST]
    assert files_now(fleet) == before
    assert int(query(fleet, "SHOW GLOBAL STATUS LIKE 'Uptime'")[0][1]) >= uptime
