# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import hashlib
import json
import os
import shutil
import stat
import tempfile

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key
from ansible_collections.keyops.mysql.plugins.module_utils import native_copy as migration
from ansible_collections.keyops.mysql.plugins.modules import keyring_migrate

from ..keystore.strategies import random_bytes
from .conftest import run_module

KEYS = [Key('INNODBKey-3c1f5f0e-1d2f-11ef-9a0c-0242ac120002-1', '', 'AES', random_bytes(41, 32)),
        Key('MySQLReplicationKey_3c1f5f0e_1', '', 'AES', random_bytes(42, 32)),
        Key('app-secret', 'app@%', 'SECRET', random_bytes(43, 64))]
PASSWORD = 'hunter2-keystore-password'


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _assert_no_secrets(result):
    text = json.dumps(result)
    for key in KEYS:
        assert binascii.hexlify(key.data).decode() not in text.lower()
    assert PASSWORD not in text


@pytest.fixture
def files(tmp_path):
    source = str(tmp_path / 'keyring')
    open_keystore('keyring_file', source).write(KEYS[:2])
    return dict(source=source, destination=str(tmp_path / 'component_keyring_file'), dir=str(tmp_path))


def _args(files, **extra):
    args = dict(source=dict(type='keyring_file', path=files['source']),
                destination=dict(type='component_keyring_file', path=files['destination']))
    args.update(extra)
    return args


def test_migrates_then_reports_already_present(files, capsys):
    rc, result = run_module(keyring_migrate, _args(files, _ansible_diff=True), capsys)
    assert rc == 0 and result['changed'] is True and result['destination_created'] is True
    assert [k['key_id'] for k in result['migrated']] == [k.key_id for k in KEYS[:2]]
    assert result['source_key_count'] == 2 and result['destination_key_count'] == 2
    assert result['diff']['before']['keys'] == [] and len(result['diff']['after']['keys']) == 2
    assert list(open_keystore('component_keyring_file', files['destination']).load()) == KEYS[:2]
    _assert_no_secrets(result)
    digest = _sha(files['destination'])
    rc, result = run_module(keyring_migrate, _args(files), capsys)
    assert rc == 0 and result['changed'] is False and result['migrated'] == []
    assert len(result['already_present']) == 2 and _sha(files['destination']) == digest


@pytest.fixture
def open_dir():
    # A directory other users may enter (pytest's own temp directories are root-only).
    path = tempfile.mkdtemp(prefix='keyops-test-')
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0, reason='changing owners needs root')
def test_new_destination_gets_the_source_owner_and_0640(open_dir, capsys):
    files = dict(source=os.path.join(open_dir, 'keyring'), destination=os.path.join(open_dir, 'component'))
    open_keystore('keyring_file', files['source']).write(KEYS[:2])
    os.chown(files['source'], 65534, 65534)
    rc, result = run_module(keyring_migrate, _args(files), capsys)
    assert rc == 0, result
    dst = os.stat(files['destination'])
    assert (dst.st_uid, dst.st_gid, stat.S_IMODE(dst.st_mode)) == (65534, 65534, 0o640)


@pytest.mark.skipif(os.geteuid() != 0, reason='changing owners needs root')
def test_a_destination_its_owner_cannot_reach_is_refused(open_dir, capsys):
    hidden = os.path.join(open_dir, 'private')
    os.mkdir(hidden, 0o700)
    files = dict(source=os.path.join(open_dir, 'keyring'), destination=os.path.join(hidden, 'component'))
    open_keystore('keyring_file', files['source']).write(KEYS[:2])
    rc, result = run_module(keyring_migrate, _args(files, owner='nobody'), capsys)
    assert rc == 1 and ('cannot enter the directory %s (mode 0700' % hidden) in result['msg']
    assert 'keyring_files_owner' in result['msg'] and os.listdir(hidden) == []


def test_an_empty_source_is_refused_unless_allowed(files, capsys):
    open_keystore('component_keyring_file', files['source'] + '.empty').write([])
    args = _args(files)
    args['source'] = dict(type='component_keyring_file', path=files['source'] + '.empty')
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 1 and 'holds no keys' in result['msg'] and not os.path.exists(files['destination'])
    rc, result = run_module(keyring_migrate, dict(args, allow_empty_source=True), capsys)
    assert rc == 0 and result['destination_created']


def test_check_mode_reports_exactly_and_writes_nothing(files, capsys):
    rc, result = run_module(keyring_migrate, _args(files, _ansible_check_mode=True), capsys)
    assert rc == 0 and result['changed'] is True and len(result['migrated']) == 2
    assert not os.path.exists(files['destination'])


def test_conflict_fails_names_every_key_and_leaves_destination_identical(files, capsys):
    open_keystore('component_keyring_file', files['destination']).write(
        [Key(k.key_id, k.user_id, k.key_type, random_bytes(44, 32)) for k in KEYS[:2]])
    digest = _sha(files['destination'])
    rc, result = run_module(keyring_migrate, _args(files), capsys)
    assert rc == 1 and result['changed'] is False
    assert sorted(c['key_id'] for c in result['conflicts']) == sorted(k.key_id for k in KEYS[:2])
    for key in KEYS[:2]:
        assert key.key_id in result['msg']
    assert _sha(files['destination']) == digest and sorted(os.listdir(files['dir'])) == [
        'component_keyring_file', 'keyring']
    _assert_no_secrets(result)


@pytest.mark.parametrize('change,expected', [
    (dict(source=dict(type='keyring_file', path='relative/keyring')), 'must be absolute'),
    (dict(source=dict(type='keyring_file', path='/nonexistent/keyring')), 'does not exist'),
    ('same', 'same file'),
    (dict(mode='rw-r'), 'octal'),
])
def test_bad_input_is_a_clear_error(files, capsys, change, expected):
    args = _args(files)
    if change == 'same':
        args['destination'] = dict(type='keyring_file', path=files['source'])
    else:
        args.update(change)
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 1 and expected in result['msg']


def test_backup_keeps_the_previous_destination(files, capsys):
    open_keystore('component_keyring_file', files['destination']).write(KEYS[2:])
    with open(files['destination'], 'rb') as f:
        previous = f.read()
    rc, result = run_module(keyring_migrate, _args(files, backup=True), capsys)
    assert rc == 0 and result['changed']
    with open(result['backup_file'], 'rb') as f:
        assert f.read() == previous


def test_a_backup_file_stops_the_run_unless_following_the_server(files, capsys):
    open_keystore('component_keyring_file', files['destination']).write(KEYS[2:])
    with open(files['destination'] + '.backup', 'wb') as f:
        f.write(open_keystore('component_keyring_file', '/x').encode(KEYS[2:] + KEYS[:1], None))
    rc, result = run_module(keyring_migrate, _args(files), capsys)
    assert rc == 1 and 'roll' in result['msg'] and result['error'] == 'BackupPresentError'
    assert 'Or set on_backup_file: follow_server' in result['msg']
    rc, result = run_module(keyring_migrate, _args(files, on_backup_file='follow_server'), capsys)
    assert rc == 0 and [k['key_id'] for k in result['already_present']] == [KEYS[0].key_id]
    assert list(open_keystore('component_keyring_file', files['destination']).load()) == KEYS[2:] + KEYS[:2]
    assert os.path.exists(result['backup_file_set_aside'])


def test_encrypted_destination_password_never_shows(files, capsys):
    args = _args(files, _ansible_diff=True)
    args['destination'] = dict(type='component_keyring_encrypted_file', path=files['destination'] + '.enc',
                               password=PASSWORD)
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 0 and result['changed']
    _assert_no_secrets(result)
    args['destination']['password'] = 'wrong'
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 1 and result['error'] == 'WrongPasswordError' and PASSWORD not in json.dumps(result)


def test_online_pauses_for_the_copy_and_resumes(files, fake_server, capsys):
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file=''), capsys)
    assert rc == 0 and result['keyring_operations'] == dict(before=True, during=False, after=True)
    assert result['queries'] == ['SET GLOBAL keyring_operations = OFF', 'SET GLOBAL keyring_operations = ON']
    assert fake_server.keyring_operations is True


def test_online_conflict_fails_before_pausing(files, fake_server, capsys):
    open_keystore('component_keyring_file', files['destination']).write(
        [Key(KEYS[0].key_id, '', 'AES', random_bytes(45, 32))])
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file=''), capsys)
    assert rc == 1 and result['conflicts'] and fake_server.keyring_operations is True
    assert 'keyring_operations' not in result          # the server was never connected to, let alone paused


def test_online_resumes_when_the_copy_fails(files, fake_server, capsys):
    # With on_backup_file=follow_server nothing is prepared before the pause: the conflict is found paused.
    open_keystore('component_keyring_file', files['destination']).write(
        [Key(KEYS[0].key_id, '', 'AES', random_bytes(45, 32))])
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file='',
                                                   on_backup_file='follow_server'), capsys)
    assert rc == 1 and result['conflicts'] and fake_server.keyring_operations is True
    assert result['keyring_operations'] == dict(before=True, during=False, after=True) and result['paused']


def test_online_nothing_to_copy_does_not_pause(files, fake_server, capsys):
    args = _args(files, online=True, login_unix_socket='/s', config_file='')
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 0 and result['changed'] and result['paused']
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 0 and not result['changed'] and result['paused'] is False and result['queries'] == []
    assert result['keyring_operations'] == dict(before=True, during=True, after=True)
    assert len(result['already_present']) == 2


def test_online_redoes_the_copy_paused_when_a_file_changed_after_preparing(files, fake_server, capsys,
                                                                           monkeypatch):
    # The server adds a key to the source between the preparation and the pause: the paused copy must see it.
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore import plan as plan_module
    prepare = plan_module.prepare_migration
    late_key = Key('late', '', 'AES', random_bytes(46, 32))

    def prepare_then_change(source, destination):
        prepared = prepare(source, destination)
        open_keystore('keyring_file', files['source']).write(KEYS[:2] + [late_key])
        return prepared

    monkeypatch.setattr(migration, 'prepare_migration', prepare_then_change)
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file=''), capsys)
    assert rc == 0 and [k['key_id'] for k in result['migrated']] == [k.key_id for k in KEYS[:2]] + ['late']
    assert list(open_keystore('component_keyring_file', files['destination']).load()) == KEYS[:2] + [late_key]


def test_online_leaves_an_already_paused_server_paused(files, fake_server, capsys):
    fake_server.keyring_operations = False
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file=''), capsys)
    assert rc == 0 and fake_server.keyring_operations is False and result['queries'] == []


def test_online_failure_to_resume_is_loud(files, fake_server, capsys):
    fake_server.fail['SET GLOBAL keyring_operations = ON'] = (2013, 'Lost connection to MySQL server')
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file=''), capsys)
    assert rc == 1 and 'still OFF' in result['msg'] and 'SET GLOBAL keyring_operations = ON' in result['msg']
    # The copy itself succeeded and is reported.
    assert len(result['migrated']) == 2


def test_online_resumes_a_server_an_interrupted_run_left_paused(files, fake_server, capsys, pause_marker_dir):
    from ansible_collections.keyops.mysql.plugins.modules import keyring_operations
    run_module(keyring_operations, dict(state='disabled', login_unix_socket='/s', config_file=''), capsys)
    assert fake_server.keyring_operations is False          # ... and the run that paused it was killed
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file=''), capsys)
    assert rc == 0 and result['resumed_interrupted_pause']['pid'] > 0
    assert fake_server.keyring_operations is True and os.listdir(pause_marker_dir) == []


def test_online_leaves_a_dba_pause_alone(files, fake_server, capsys, pause_marker_dir):
    fake_server.keyring_operations = False                   # paused by someone else: no marker
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file=''), capsys)
    assert rc == 0 and fake_server.keyring_operations is False and 'resumed_interrupted_pause' not in result


def test_online_into_the_servers_own_keystore_reloads_its_keyring_after_the_resume(files, fake_server, capsys):
    # The server's component holds its keys in memory and rewrites the whole file at its next key write: without
    # a reload, the copied keys would be dropped from the file then.
    fake_server.use_keystore(files['destination'])
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file=''), capsys)
    assert rc == 0 and result['changed'] and result['keyring_reloaded'] is True
    assert result['queries'] == ['SET GLOBAL keyring_operations = OFF', 'SET GLOBAL keyring_operations = ON',
                                 'ALTER INSTANCE RELOAD KEYRING']
    assert fake_server.keys == set((k.key_id, k.user_id) for k in KEYS[:2])
    # Nothing copied: no pause and no reload.
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file=''), capsys)
    assert rc == 0 and not result['changed'] and result['queries'] == [] and result['keyring_reloaded'] is False


def test_online_into_the_servers_own_keystore_in_check_mode_only_lists_the_reload(files, fake_server, capsys):
    fake_server.use_keystore(files['destination'])
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file='',
                                                   _ansible_check_mode=True), capsys)
    assert rc == 0 and result['changed'] and 'ALTER INSTANCE RELOAD KEYRING' in result['queries']
    assert not any(sql.startswith(('SET', 'ALTER')) for sql in fake_server.executed)
    assert not os.path.exists(files['destination']) and result['keyring_reloaded'] is False


def test_online_reload_that_misses_copied_keys_fails_loudly_with_the_server_resumed(files, fake_server, capsys):
    # A key written between the resume and the reload rewrites the file from the server's memory.
    fake_server.component = ('component_keyring_file', files['destination'])
    fake_server.reload = lambda server: server.keys.clear()
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file=''), capsys)
    assert rc == 1 and 'lists 0 of the 2 copied keys' in result['msg'] and 'Re-run this task' in result['msg']
    assert fake_server.keyring_operations is True and result['keyring_reloaded'] is True


def test_online_reload_that_fails_says_to_restart_before_any_key_write(files, fake_server, capsys):
    fake_server.use_keystore(files['destination'])
    fake_server.fail['ALTER INSTANCE RELOAD KEYRING'] = (4035, 'Keyring reload failed.')
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file=''), capsys)
    assert rc == 1 and 'could not reload its keyring' in result['msg'] and 'restart it' in result['msg']
    assert fake_server.keyring_operations is True and len(result['migrated']) == 2


def test_online_into_a_keystore_a_dba_paused_server_uses_warns_to_restart(files, fake_server, capsys):
    fake_server.keyring_operations = False
    fake_server.use_keystore(files['destination'])
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file=''), capsys)
    assert rc == 0 and result['changed'] and result['keyring_reloaded'] is False
    assert 'restart it before keyring_operations is set ON' in json.dumps(result['warnings'])
    assert 'ALTER INSTANCE RELOAD KEYRING' not in fake_server.executed


def test_online_into_a_keystore_a_plugin_uses_is_refused_before_pausing(files, fake_server, capsys):
    # A keyring plugin cannot reload its file; this module would leave a server that drops the keys.
    os.symlink(files['destination'], files['dir'] + '/alias')
    fake_server.plugin = ('keyring_file', files['dir'] + '/alias')     # the same file under another name
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file=''), capsys)
    assert rc == 1 and 'through the keyring_file plugin, which cannot reload it' in result['msg']
    assert 'online: false' in result['msg'] and not os.path.exists(files['destination'])
    assert not any(sql.startswith('SET') for sql in fake_server.executed) and fake_server.keyring_operations


def test_max_keys_listed_caps_the_lists_and_the_counts_stay_exact(files, capsys):
    rc, result = run_module(keyring_migrate, _args(files, max_keys_listed=1, _ansible_diff=True), capsys)
    assert rc == 0 and result['changed'] and result['migrated_count'] == 2 and result['keys_listed_truncated']
    assert [k['key_id'] for k in result['migrated']] == [KEYS[0].key_id]
    assert result['diff']['after']['key_count'] == 2 and len(result['diff']['after']['keys']) == 1
    assert list(open_keystore('component_keyring_file', files['destination']).load()) == KEYS[:2]   # all copied
    rc, result = run_module(keyring_migrate, _args(files, max_keys_listed=0), capsys)
    assert rc == 0 and not result['changed'] and result['already_present'] == []
    assert result['already_present_count'] == 2 and result['migrated_count'] == 0 and result['keys_listed_truncated']
    rc, result = run_module(keyring_migrate, _args(files), capsys)
    assert len(result['already_present']) == 2 and result['keys_listed_truncated'] is False


def test_a_source_backup_file_names_the_way_out_too(files, capsys):
    with open(files['source'] + '.backup', 'wb') as f:
        f.write(open_keystore('keyring_file', '/x').encode(KEYS[:1], None))
    rc, result = run_module(keyring_migrate, _args(files), capsys)
    assert rc == 1 and result['error'] == 'BackupPresentError' and files['source'] in result['msg']
    assert 'Or set on_backup_file: follow_server' in result['msg']


@pytest.mark.parametrize('keystore_type', ['keyring_file', 'component_keyring_encrypted_file', 'keyring_encrypted_file'])
def test_a_file_keystore_without_a_path_is_refused_by_the_argspec(tmp_path, capsys, keystore_type):
    rc, result = run_module(keyring_migrate, dict(source=dict(type=keystore_type),
                                                  destination=dict(type='component_keyring_file',
                                                                   path=str(tmp_path / 'dst'))), capsys)
    assert rc == 1 and 'type is %s but all of the following are missing: path' % keystore_type in result['msg']
    assert not (tmp_path / 'dst').exists()


def _backup_of_a_write_in_progress(files):
    open_keystore('component_keyring_file', files['destination']).write(KEYS[2:])
    with open(files['destination'] + '.backup', 'wb') as f:
        f.write(open_keystore('component_keyring_file', '/x').encode(KEYS[2:], None))


def test_check_mode_online_waits_out_the_backup_of_a_running_servers_own_write(files, fake_server, capsys, monkeypatch):
    # Seen in CI: the preflight (check mode, nothing paused) read a GR member's keystore in the milliseconds a
    # replicated rotation was writing it through its .backup, and refused the run as an interrupted write.
    _backup_of_a_write_in_progress(files)
    waits = []

    def the_write_finishes(seconds):
        waits.append(seconds)
        os.unlink(files['destination'] + '.backup')
    monkeypatch.setattr(migration.time, 'sleep', the_write_finishes)
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file='',
                                                   _ansible_check_mode=True), capsys)
    assert rc == 0 and result['changed'] and waits == [migration.SETTLE_WAIT]


def test_a_backup_that_stays_is_an_interrupted_write_even_in_check_mode(files, fake_server, capsys, monkeypatch):
    _backup_of_a_write_in_progress(files)
    waits = []
    monkeypatch.setattr(migration.time, 'sleep', waits.append)
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file='',
                                                   _ansible_check_mode=True), capsys)
    assert rc == 1 and result['error'] == 'BackupPresentError'
    assert len(waits) == migration.SETTLE_ATTEMPTS - 1


def test_online_the_check_before_the_pause_waits_out_a_backup_of_the_servers_write(files, fake_server, capsys,
                                                                                   monkeypatch):
    # Seen in CI: the check that runs before the pause (the source holds keys) read a GR member's keystore in the
    # milliseconds a replicated master key rotation was writing it through its .backup, and failed the copy.
    open_keystore('keyring_file', files['source']).write(KEYS)
    with open(files['source'] + '.backup', 'wb') as f:
        f.write(open_keystore('keyring_file', '/x').encode(KEYS[:1], None))
    waits = []

    def the_write_finishes(seconds):
        waits.append(seconds)
        os.unlink(files['source'] + '.backup')
    monkeypatch.setattr(migration.time, 'sleep', the_write_finishes)
    rc, result = run_module(keyring_migrate, _args(files, online=True, login_unix_socket='/s', config_file=''), capsys)
    assert rc == 0 and result['changed'] and waits == [migration.SETTLE_WAIT], result
    assert list(open_keystore('component_keyring_file', files['destination']).load()) == KEYS


def test_offline_a_source_backup_is_refused_at_once(files, capsys, monkeypatch):
    open_keystore('keyring_file', files['source']).write(KEYS)
    with open(files['source'] + '.backup', 'wb') as f:
        f.write(open_keystore('keyring_file', '/x').encode(KEYS[:1], None))
    waits = []
    monkeypatch.setattr(migration.time, 'sleep', waits.append)
    rc, result = run_module(keyring_migrate, _args(files), capsys)
    assert rc == 1 and result['error'] == 'BackupPresentError' and waits == []
