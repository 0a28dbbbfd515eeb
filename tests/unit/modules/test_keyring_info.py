# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import json
import os

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key
from ansible_collections.keyops.mysql.plugins.modules import keyring_info

from ..keystore.strategies import random_bytes
from .conftest import run_module

KEY = Key('INNODBKey-1', '', 'AES', random_bytes(51, 32))


def test_reports_keystore_files_without_bytes(tmp_path, capsys):
    path = str(tmp_path / 'keyring')
    open_keystore('keyring_file', path).write([KEY])
    with open(path + '.backup', 'wb') as f:
        f.write(b'')
    rc, result = run_module(keyring_info, dict(server=False, keystores=[dict(type='keyring_file', path=path)],
                                               _ansible_check_mode=True), capsys)
    assert rc == 0 and result['changed'] is False
    report = result['keystores'][0]
    assert report['keys'] == [dict(key_id='INNODBKey-1', user_id='', key_type='AES')]
    assert report['details'] == dict(version='2.0', architecture='LE_64') and report['key_count'] == 1
    assert report['backup']['present'] is True and report['backup']['server_action'] == 'discard'
    assert binascii.hexlify(KEY.data).decode() not in json.dumps(result)


def test_reports_a_server_and_tolerates_missing_tables(fake_server, capsys):
    fake_server.keyring_operations = None
    fake_server.version = '10.11.6-MariaDB'
    rc, result = run_module(keyring_info, dict(login_unix_socket='/s', config_file=''), capsys)
    assert rc == 0 and result['server_version'] == '10.11.6-MariaDB' and result['keyring_operations'] is None
    assert result['components'] == [] and result['keys'] == [] and result['keyring_file_data'] is None


def test_privileges_and_verify_queries(fake_server, capsys):
    fake_server.grants = [('GRANT USAGE ON *.* TO `keyops_migrate`@`%`',),
                          ('GRANT ENCRYPTION_KEY_ADMIN,SYSTEM_VARIABLES_ADMIN ON *.* TO `keyops_migrate`@`%`',)]
    rc, result = run_module(keyring_info, dict(login_unix_socket='/s', config_file=''), capsys)
    assert rc == 0 and result['can_set_keyring_operations'] is True
    fake_server.grants = [('GRANT SYSTEM_VARIABLES_ADMIN ON *.* TO `x`@`%`',),
                          ('GRANT ENCRYPTION_KEY_ADMIN ON `shop`.* TO `x`@`%`',)]
    rc, result = run_module(keyring_info, dict(login_unix_socket='/s', config_file=''), capsys)
    assert rc == 0 and result['can_set_keyring_operations'] is False
    rc, result = run_module(keyring_info, dict(login_unix_socket='/s', config_file='',
                                               verify_queries=['SELECT VERSION()']), capsys)
    assert rc == 0 and result['verify_queries'] == [dict(query='SELECT VERSION()', row_count=1)]
    rc, result = run_module(keyring_info, dict(login_unix_socket='/s', config_file='',
                                               verify_queries=['SELECT * FROM shop.nope']), capsys)
    assert rc == 1 and "verify query 'SELECT * FROM shop.nope' failed" in result['msg']


def test_verify_encrypted_tables_reads_one_row_of_each_and_names_the_one_that_fails(fake_server, capsys):
    import pymysql
    original = fake_server.execute

    def execute(sql):
        if sql.startswith(('SELECT TABLE_SCHEMA', 'SELECT 1 FROM ')):
            fake_server.executed.append(sql)
        if sql.startswith('SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES'):
            return [('shop', 'customers'), ('we`ird', 'orders')]
        if sql == 'SELECT 1 FROM `we``ird`.`orders` LIMIT 1' and fake_server.master_key_lost:
            raise pymysql.err.OperationalError(3185, "Can't find master key from keyring, please check in the "
                                                     "server log if a keyring is loaded and initialized successfully.")
        if sql.startswith('SELECT 1 FROM '):
            return [(1,)]
        return original(sql)
    fake_server.execute = execute
    fake_server.master_key_lost = False
    args = dict(login_unix_socket='/s', config_file='', verify_queries=['SELECT VERSION()'], verify_encrypted_tables=5)
    rc, result = run_module(keyring_info, args, capsys)
    assert rc == 0 and result['verify_queries'] == [
        dict(query='SELECT VERSION()', row_count=1), dict(query='SELECT 1 FROM `shop`.`customers` LIMIT 1', row_count=1),
        dict(query='SELECT 1 FROM `we``ird`.`orders` LIMIT 1', row_count=1)]
    fake_server.master_key_lost = True
    rc, result = run_module(keyring_info, args, capsys)
    assert rc == 1 and "verify query 'SELECT 1 FROM `we``ird`.`orders` LIMIT 1' failed" in result['msg']
    assert '3185' in result['msg']
    fake_server.executed.clear()
    rc, result = run_module(keyring_info, dict(args, verify_encrypted_tables=0), capsys)
    assert rc == 0 and not any('information_schema.TABLES' in sql for sql in fake_server.executed)


def test_verify_binary_logs_reads_the_oldest_and_newest_encrypted_log(fake_server, capsys):
    import pymysql
    original = fake_server.execute
    logs = [('binlog.000001', 180, 'No'), ('binlog.000002', 700, 'Yes'), ('binlog.000003', 900, 'Yes'),
            ('binlog.000004', 300, 'Yes')]

    def execute(sql):
        if sql == 'SELECT @@GLOBAL.binlog_encryption, @@GLOBAL.log_bin':
            return [(fake_server.binlog_encryption, 1)]
        if sql == 'SHOW BINARY LOGS':
            return logs
        if sql.startswith('SHOW BINLOG EVENTS'):
            if fake_server.no_replication_slave:
                raise pymysql.err.OperationalError(1227, 'Access denied; you need (at least one of) the REPLICATION '
                                                         'SLAVE privilege(s) for this operation')
            if fake_server.lost_key and '000002' in sql:
                raise pymysql.err.OperationalError(3185, "Can't find key from keyring")
            return [] if sql.endswith('LIMIT 0') else [('binlog.000002', 4, 'Format_desc', 1, 127, 'Server ver')]
        return original(sql)
    fake_server.execute = execute
    fake_server.binlog_encryption, fake_server.no_replication_slave, fake_server.lost_key = 1, False, False
    args = dict(login_unix_socket='/s', config_file='', verify_binary_logs=True)
    rc, result = run_module(keyring_info, args, capsys)
    assert rc == 0 and [q['query'] for q in result['verify_queries']] == [
        "SHOW BINLOG EVENTS IN 'binlog.000002' LIMIT 1", "SHOW BINLOG EVENTS IN 'binlog.000004' LIMIT 1"]
    fake_server.lost_key = True
    rc, result = run_module(keyring_info, args, capsys)
    assert rc == 1 and "SHOW BINLOG EVENTS IN 'binlog.000002' LIMIT 1" in result['msg'] and '3185' in result['msg']
    fake_server.lost_key, fake_server.no_replication_slave = False, True
    rc, result = run_module(keyring_info, args, capsys)
    assert rc == 0 and result['verify_queries'] == [] and 'REPLICATION SLAVE' in str(result['warnings'])
    fake_server.binlog_encryption = 0
    rc, result = run_module(keyring_info, args, capsys)
    assert rc == 0 and result['verify_queries'] == []


def test_migration_reports_what_keyring_migrate_would_do_without_writing(tmp_path, capsys):
    from ansible_collections.keyops.mysql.plugins.modules import keyring_migrate
    source, destination = str(tmp_path / 'keyring'), str(tmp_path / 'component')
    other = Key('other', '', 'AES', random_bytes(52, 32))
    open_keystore('keyring_file', source).write([KEY, other])
    open_keystore('component_keyring_file', destination).write([KEY])
    before = open(destination, 'rb').read()
    migration = dict(source=dict(type='keyring_file', path=source),
                     destination=dict(type='component_keyring_file', path=destination))
    rc, result = run_module(keyring_info, dict(server=False, migration=migration), capsys)
    assert rc == 0 and result['changed'] is False
    plan = result['migration']
    assert plan['failed'] is False and plan['changed'] is True and plan['method'] == 'native'
    assert (plan['migrated_count'], plan['already_present_count'], plan['conflict_count']) == (1, 1, 0)
    assert plan['migrated'] == [dict(key_id='other', user_id='', key_type='AES')]
    assert open(destination, 'rb').read() == before
    # exactly keyring_migrate's own check-mode result, but for the keys keyring_migrate adds to every result
    rc, check = run_module(keyring_migrate, dict(migration, _ansible_check_mode=True), capsys)
    assert rc == 0 and dict((k, v) for k, v in check.items() if k in plan) == \
        dict((k, v) for k, v in plan.items() if k in check)
    assert binascii.hexlify(other.data).decode() not in json.dumps(result)


def test_a_migration_that_would_fail_is_reported_not_raised(tmp_path, capsys):
    source, destination = str(tmp_path / 'keyring'), str(tmp_path / 'component')
    open_keystore('keyring_file', source).write([KEY])
    open_keystore('component_keyring_file', destination).write([Key(KEY.key_id, '', 'AES', random_bytes(53, 32))])
    migration = dict(source=dict(type='keyring_file', path=source),
                     destination=dict(type='component_keyring_file', path=destination))
    rc, result = run_module(keyring_info, dict(server=False, migration=migration,
                                               keystores=[dict(type='keyring_file', path=source)]), capsys)
    assert rc == 0 and result['keystores'][0]['key_count'] == 1
    plan = result['migration']
    assert plan['failed'] is True and plan['conflict_count'] == 1 and 'INNODBKey-1' in plan['msg']
    assert plan['error'] == 'MigrationConflictError' and plan['conflicts'][0]['reason'] == 'different_data'
    rc, result = run_module(keyring_info, dict(server=False, migration=dict(
        migration, source=dict(type='keyring_file', path=str(tmp_path / 'missing')))), capsys)
    assert rc == 0 and result['migration']['failed'] and 'does not exist' in result['migration']['msg']


def test_server_files_of_a_stopped_server_whose_binary_is_missing_fail_in_one_line(tmp_path, capsys):
    exe = str(tmp_path / 'no-mysqld')
    rc, result = run_module(keyring_info, dict(server=False, server_files=dict(exe=exe, version='8.0.36')), capsys)
    assert rc == 1 and result['error'] == 'DiscoveryError' and '\n' not in result['msg'], result
    assert result['msg'].startswith('%s is not an executable file' % exe), result['msg']


def test_the_preflights_copy_check_waits_out_the_running_servers_own_write(tmp_path, fake_server, capsys,
                                                                           monkeypatch):
    # Seen in CI: the role's preflight read an async replica's keystore while a replicated master key rotation was
    # writing it through its .backup, and refused the run as an interrupted write.
    from ansible_collections.keyops.mysql.plugins.module_utils import native_copy as migration_utils
    source, destination = str(tmp_path / 'component'), str(tmp_path / 'component.new')
    open_keystore('component_keyring_file', source).write([KEY])
    with open(source + '.backup', 'wb') as handle:
        handle.write(open(source, 'rb').read())
    waits = []

    def the_write_finishes(seconds):
        waits.append(seconds)
        os.unlink(source + '.backup')
    monkeypatch.setattr(migration_utils.time, 'sleep', the_write_finishes)
    migration = dict(source=dict(type='component_keyring_file', path=source),
                     destination=dict(type='component_keyring_file', path=destination))
    rc, result = run_module(keyring_info, dict(login_unix_socket='/s', config_file='', migration=migration), capsys)
    assert rc == 0 and result['migration']['failed'] is False and waits == [migration_utils.SETTLE_WAIT], result
    assert result['migration']['migrated_count'] == 1

    # No server (server: false): nothing writes the keystore, so a backup is an interrupted write at once.
    with open(source + '.backup', 'wb') as handle:
        handle.write(open(source, 'rb').read())
    waits.clear()
    monkeypatch.setattr(migration_utils.time, 'sleep', waits.append)
    rc, result = run_module(keyring_info, dict(server=False, migration=migration), capsys)
    assert rc == 0 and result['migration']['failed'] is True and waits == []
    assert result['migration']['error'] == 'BackupPresentError'
