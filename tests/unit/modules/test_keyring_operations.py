# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.keyops.mysql.plugins.modules import keyring_operations

from .conftest import run_module

SOCKET = dict(login_unix_socket='/run/mysqld/mysqld.sock', config_file='')


def test_disable_then_disable_again(fake_server, capsys):
    rc, result = run_module(keyring_operations, dict(SOCKET, state='disabled'), capsys)
    assert rc == 0 and result['changed'] is True
    assert (result['previous'], result['current']) == (True, False) and fake_server.keyring_operations is False
    assert result['queries'] == ['SET GLOBAL keyring_operations = OFF'] and result['server_version'] == '9.7.4'
    rc, result = run_module(keyring_operations, dict(SOCKET, state='disabled'), capsys)
    assert rc == 0 and result['changed'] is False and result['queries'] == []


def test_check_mode_predicts_and_changes_nothing(fake_server, capsys):
    rc, result = run_module(keyring_operations, dict(SOCKET, state='disabled', _ansible_check_mode=True,
                                                     _ansible_diff=True), capsys)
    assert rc == 0 and result['changed'] is True and result['current'] is False
    assert result['diff'] == dict(before=dict(keyring_operations=True), after=dict(keyring_operations=False))
    assert fake_server.keyring_operations is True
    assert not [q for q in fake_server.executed if q.startswith('SET')]


def test_no_such_variable_names_the_server_and_version(fake_server, capsys):
    fake_server.keyring_operations = None
    fake_server.version = '10.11.6-MariaDB-0+deb12u1'
    rc, result = run_module(keyring_operations, dict(SOCKET, state='enabled'), capsys)
    assert rc == 1
    assert 'socket /run/mysqld/mysqld.sock' in result['msg'] and 'MariaDB 10.11.6-MariaDB' in result['msg']
    assert '5.7.21' in result['msg']


@pytest.mark.parametrize('code', [1227, 3202])
def test_missing_privilege_names_the_privileges(fake_server, capsys, code):
    fake_server.fail['SET GLOBAL keyring_operations = OFF'] = (code, 'Access denied; you need (at least one of) '
                                                                     'the SUPER privilege(s) for this operation')
    rc, result = run_module(keyring_operations, dict(SOCKET, state='disabled'), capsys)
    assert rc == 1 and result['mysql_error_code'] == code
    assert 'SUPER, or both SYSTEM_VARIABLES_ADMIN and ENCRYPTION_KEY_ADMIN' in result['msg']


def test_access_denied_blames_the_option_file_only_when_it_was_used(fake_server, capsys, tmp_path):
    fake_server.connect_error = (1045, "Access denied for user 'app'@'localhost' (using password: YES)")
    args = dict(state='enabled', login_user='app', login_password='s3cr3t-pw', config_file='')
    rc, result = run_module(keyring_operations, args, capsys)
    assert rc == 1 and 'Access denied' in result['msg'] and 'config_file' not in result['msg']
    assert 's3cr3t-pw' not in repr(result)
    cnf = tmp_path / 'my.cnf'
    cnf.write_text(u'[client]\nuser=app\npassword=from-file\n')
    rc, result = run_module(keyring_operations, dict(state='enabled', config_file=str(cnf)), capsys)
    assert rc == 1 and ('config_file %s' % cnf) in result['msg']
    assert fake_server.connect_kwargs['read_default_file'] == str(cnf)


def test_unreachable_server_says_so(fake_server, capsys):
    fake_server.connect_error = (2003, "Can't connect to MySQL server on '10.0.0.9' ([Errno 111] refused)")
    rc, result = run_module(keyring_operations, dict(state='enabled', login_host='10.0.0.9', config_file=''), capsys)
    assert rc == 1 and result['msg'].startswith('Cannot connect to the MySQL server at 10.0.0.9:3306')
    assert 'my.cnf' not in result['msg']


def test_connection_options(fake_server, capsys):
    args = dict(state='enabled', login_host='db1', login_port=3307, login_user='u', login_password='p',
                ca_cert='/ca.pem', client_cert='/c.pem', client_key='/k.pem', check_hostname=True,
                connect_timeout=5, config_file='/nonexistent/my.cnf')
    rc, _result = run_module(keyring_operations, args, capsys)
    assert rc == 0
    kwargs = fake_server.connect_kwargs
    assert (kwargs['host'], kwargs['port'], kwargs['user'], kwargs['password']) == ('db1', 3307, 'u', 'p')
    assert kwargs['ssl'] == dict(ca='/ca.pem', cert='/c.pem', key='/k.pem', check_hostname=True)
    assert kwargs['connect_timeout'] == 5
    assert 'database' not in kwargs and 'db' not in kwargs and 'read_default_file' not in kwargs
    rc, _result = run_module(keyring_operations, dict(SOCKET, state='enabled', login_host='ignored'), capsys)
    assert fake_server.connect_kwargs['unix_socket'] == SOCKET['login_unix_socket']
    assert 'host' not in fake_server.connect_kwargs


def test_pausing_leaves_a_marker_and_resuming_removes_it(fake_server, capsys, pause_marker_dir):
    import os
    rc, result = run_module(keyring_operations, dict(SOCKET, state='disabled'), capsys)
    markers = os.listdir(pause_marker_dir)
    assert rc == 0 and markers == ['paused-3c1f5f0e-1d2f-11ef-9a0c-0242ac120002.json']
    rc, result = run_module(keyring_operations, dict(SOCKET, state='disabled'), capsys)
    assert result['paused_by_keyops']['server'] == 'the MySQL server at socket /run/mysqld/mysqld.sock'
    rc, result = run_module(keyring_operations, dict(SOCKET, state='enabled'), capsys)
    assert rc == 0 and result['changed'] and os.listdir(pause_marker_dir) == []


def test_a_failed_pause_leaves_no_marker(fake_server, capsys, pause_marker_dir):
    import os
    fake_server.fail['SET GLOBAL keyring_operations = OFF'] = (1227, 'Access denied')
    rc, _result = run_module(keyring_operations, dict(SOCKET, state='disabled'), capsys)
    assert rc == 1
    assert not os.path.exists(pause_marker_dir) or os.listdir(pause_marker_dir) == []


def test_a_failed_pause_of_a_server_left_off_by_keyops_keeps_its_marker(fake_server, capsys, pause_marker_dir):
    # keyring_migrate takes over an interrupted keyops pause by pausing again: if that statement fails while the
    # server stays OFF, the marker must stay, or the next run takes the OFF for someone else's and leaves it.
    import os
    from ansible_collections.keyops.mysql.plugins.module_utils import mysql
    run_module(keyring_operations, dict(SOCKET, state='disabled'), capsys)
    fake_server.fail['SET GLOBAL keyring_operations = OFF'] = (2013, 'Lost connection to MySQL server during query')
    session = mysql.MysqlSession(dict(SOCKET, login_user=None, login_password=None, login_host='localhost',
                                      login_port=3306, config_file='', ca_cert=None, client_cert=None,
                                      client_key=None, check_hostname=None, connect_timeout=5))
    with session:
        try:
            session.set_keyring_operations(False)
        except mysql.MysqlError:
            pass
    assert fake_server.keyring_operations is False and len(os.listdir(pause_marker_dir)) == 1


def test_only_paused_by_keyops_leaves_a_dbas_pause_alone_and_resumes_a_keyops_one(
        fake_server, capsys, pause_marker_dir):
    fake_server.keyring_operations = False          # paused by a DBA: no marker
    args = dict(SOCKET, state='enabled', only_paused_by_keyops=True)
    rc, result = run_module(keyring_operations, args, capsys)
    assert rc == 0 and not result['changed'] and result['left_paused'] and fake_server.keyring_operations is False
    assert 'keyops did not pause it' in json.dumps(result['warnings'])
    fake_server.keyring_operations = True
    run_module(keyring_operations, dict(SOCKET, state='disabled'), capsys)      # a keyops pause: marker left
    rc, result = run_module(keyring_operations, args, capsys)
    assert rc == 0 and result['changed'] and not result['left_paused'] and fake_server.keyring_operations is True
