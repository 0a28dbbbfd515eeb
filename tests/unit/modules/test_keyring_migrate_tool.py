# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyring_migrate's tool path with a STAND-IN for mysql_migrate_keyring.

MySQL 9.7 community binaries can only refuse or fail (one keyring component, no keyring plugins), so the paths
where MySQL's tool copies keys - success, skipped keys, a write failure after some keys were written (the tool
does not roll back), a tool that claims success without writing - are driven here by a small script that
behaves as client/migrate_keyring/components.cc does and prints its messages. The real binaries are exercised
by tests/integration/test_migration_tool.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import hashlib
import json
import os
import pwd
import stat
import sys
import textwrap

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key
from ansible_collections.keyops.mysql.plugins.modules import keyring_migrate

from ..keystore.strategies import random_bytes
from .conftest import run_module

KEYS = [Key('INNODBKey-3c1f5f0e-1d2f-11ef-9a0c-0242ac120002-1', '', 'AES', random_bytes(51, 32)),
        Key('app_aes', 'app@localhost', 'AES', random_bytes(52, 32)),
        Key('app_secret', 'app@localhost', 'SECRET', random_bytes(53, 24))]
PASSWORD = 'Enc-pw-for-standin-91c2'

STANDIN = textwrap.dedent('''\
    #!{python}
    # Stand-in for mysql_migrate_keyring: reads the same options and configs, prints the same messages.
    import json, os, sys, time
    args = dict(a[2:].split('=', 1) if '=' in a else (a[2:], True) for a in sys.argv[1:])
    mode = os.environ.get('STANDIN_MODE', 'success')
    with open(os.path.join(os.path.dirname(args['defaults-file']), 'calls'), 'a') as log:
        log.write(' '.join(sys.argv[1:]) + '\\n')
    with open(args['defaults-file']) as f:
        options = f.read()
    with open(os.environ['STANDIN_ARGV_LOG'], 'a') as f:
        f.write(json.dumps(dict(argv=sys.argv, options=options)) + '\\n')
    def config(role):
        d = args.get(role + '-keyring-configuration-dir')
        name = args[role + '-keyring']
        return json.load(open(os.path.join(d, name + '.cnf'))) if d else {{}}
    def stamp():
        return time.strftime('%Y-%m-%d %H:%M:%S')
    if mode == 'leak':
        sys.stderr.write('%s [ERROR]   bad configuration: password=%s\\n' % (stamp(), config('destination')['password']))
        sys.exit(1)
    src = json.load(open(config('source')['path']))['elements']
    dst_path = config('destination').get('path') or os.environ['STANDIN_OPAQUE_DESTINATION']
    dst = json.load(open(dst_path))['elements'] if os.path.exists(dst_path) else []
    migrated = skipped = 0
    for n, e in enumerate(src):
        if mode == 'skip' and n == 1:
            sys.stderr.write('%s [WARNING] Could not find data pointed by data_id: %s, auth_id: %s. Skipping\\n'
                             % (stamp(), e['data_id'], e['user']))
            skipped += 1
            continue
        if mode == 'write_fails' and n == 2:
            sys.stderr.write('%s [ERROR]   Failed to write data pointed by data_id: %s, auth_id: %s into '
                             'destination keyring\\n' % (stamp(), e['data_id'], e['user']))
            sys.stderr.write('%s [ERROR]   Failed to migrate all keys to destination keyring. Please check log '
                             'for more details\\n' % stamp())
            sys.exit(1)
        if mode != 'lie':
            dst.append(e)
            with open(dst_path, 'w') as f:       # written key by key, as the component's writer does
                json.dump(dict(version='1.0', elements=dst), f)
        migrated += 1
    if mode == 'plant':
        # What the server's OS user can leave in the work directory it was handed: our files replaced by links
        # to a root-only file (owned by that user, as it would make them), a hard link to it, a fifo.
        work = os.path.dirname(args['defaults-file'])
        victim = os.environ['STANDIN_VICTIM']
        os.unlink(os.path.join(work, 'destination', 'component_keyring_file.cnf'))
        os.rmdir(os.path.join(work, 'destination'))
        for name, target in (('tool.cnf', victim), ('calls', victim), ('destination', os.path.dirname(victim))):
            os.unlink(os.path.join(work, name)) if os.path.lexists(os.path.join(work, name)) else None
            os.symlink(target, os.path.join(work, name))
            os.lchown(os.path.join(work, name), 65534, 65534)
        os.link(victim, os.path.join(work, 'hard'))
        os.mkfifo(os.path.join(work, 'fifo'))
    print('%s [NOTE]    Successfully migrated %d keys. Skipped %d keys.' % (stamp(), migrated, skipped))
    print('%s [NOTE]    Key migration successful.' % stamp())
    ''')


@pytest.fixture
def env(tmp_path, monkeypatch):
    tool = tmp_path / 'mysql_migrate_keyring'
    tool.write_text(STANDIN.format(python=sys.executable))
    tool.chmod(0o755)
    source = str(tmp_path / 'source')
    open_keystore('component_keyring_file', source).write(KEYS)
    argv_log = str(tmp_path / 'argv.log')
    monkeypatch.setenv('STANDIN_ARGV_LOG', argv_log)
    monkeypatch.setenv('STANDIN_OPAQUE_DESTINATION', str(tmp_path / 'opaque'))
    return dict(dir=str(tmp_path), tool=str(tool), source=source, destination=str(tmp_path / 'destination'),
                argv_log=argv_log, records=str(tmp_path / 'records'))


def _args(env, destination=None, **extra):
    if destination is None:
        destination = dict(type='component_keyring_encrypted_file', path=env['destination'], password=PASSWORD)
    args = dict(source=dict(type='component_keyring_file', path=env['source']),
                destination=destination,
                method='mysql_tool',
                tool=dict(mysql_migrate_keyring=env['tool'], user=pwd.getpwuid(os.geteuid()).pw_name,
                          record_dir=env['records']))
    args.update(extra)
    return args


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _tool_calls(env):
    if not os.path.exists(env['argv_log']):
        return []
    with open(env['argv_log']) as f:
        return [json.loads(line) for line in f]


def _no_secret(result):
    text = json.dumps(result)
    assert PASSWORD not in text
    for key in KEYS:
        assert binascii.hexlify(key.data).decode().upper() not in text.upper()


def test_success_is_verified_and_a_rerun_does_not_run_the_tool(env, capsys, monkeypatch):
    # The stand-in writes a plain JSON file; read it back as component_keyring_file.
    args = _args(env, destination=dict(type='component_keyring_file', path=env['destination']))
    rc, result = run_module(keyring_migrate, dict(args, _ansible_diff=True), capsys)
    assert rc == 0, result['msg']
    assert result['changed'] and result['method'] == 'mysql_migrate_keyring'
    assert result['tool_output']['verdict']['ok'] and result['tool_output']['verdict']['migrated_count'] == 3
    assert result['destination_key_count'] == 3
    assert [k['key_id'] for k in result['diff']['after']['keys']] == [k.key_id for k in KEYS]
    assert set(open_keystore('component_keyring_file', env['destination']).load()) == set(KEYS)
    assert len(_tool_calls(env)) == 1
    rc, again = run_module(keyring_migrate, args, capsys)
    assert rc == 0 and not again['changed'] and again['tool_skipped'].startswith('every source key')
    assert len(_tool_calls(env)) == 1         # not run again


def test_the_tool_path_lists_at_most_max_keys_listed(env, capsys):
    args = _args(env, destination=dict(type='component_keyring_file', path=env['destination']))
    rc, result = run_module(keyring_migrate, dict(args, max_keys_listed=1, _ansible_diff=True), capsys)
    assert rc == 0, result['msg']
    assert result['migrated_count'] == 3 and len(result['migrated']) == 1 and result['keys_listed_truncated']
    assert result['diff']['after']['key_count'] == 3 and len(result['diff']['after']['keys']) == 1


def test_secrets_go_to_private_files_never_to_argv_or_output(env, capsys):
    rc, result = run_module(keyring_migrate, _args(env, destination=dict(
        type='component_keyring_file', path=env['destination'], secret_options={'extra': PASSWORD})), capsys)
    assert rc == 0, result['msg']
    (call,) = _tool_calls(env)
    assert PASSWORD not in ' '.join(call['argv'])
    workdir = os.path.dirname(call['argv'][1].split('=', 1)[1])
    assert not os.path.exists(workdir)        # removed after the run
    _no_secret(result)


def test_skipped_keys_with_exit_0_fail_and_restore_the_destination(env, capsys, monkeypatch):
    open_keystore('component_keyring_file', env['destination']).write([])
    os.chmod(env['destination'], 0o640)
    before = _sha(env['destination'])
    monkeypatch.setenv('STANDIN_MODE', 'skip')
    rc, result = run_module(keyring_migrate, _args(env, destination=dict(type='component_keyring_file',
                                                                         path=env['destination'])), capsys)
    assert rc == 1 and result['tool_output']['exit_status'] == 0
    assert 'skipped 1 key' in result['msg'] and 'restored byte-identical' in result['msg']
    assert result['destination_restored'] and not result['changed'] and result['migrated'] == []
    assert _sha(env['destination']) == before and stat.S_IMODE(os.stat(env['destination']).st_mode) == 0o640


def test_a_failure_after_partial_writes_is_undone(env, capsys, monkeypatch):
    # The real tool stops at a failed write and does not remove the keys it already wrote.
    monkeypatch.setenv('STANDIN_MODE', 'write_fails')
    rc, result = run_module(keyring_migrate, _args(env, destination=dict(type='component_keyring_file',
                                                                         path=env['destination'])), capsys)
    assert rc == 1 and result['tool_output']['exit_status'] == 1
    assert 'Failed to write data pointed by data_id: app_secret' in result['msg']
    assert result['destination_restored'] and not os.path.exists(env['destination'])


def test_a_tool_that_claims_success_without_writing_is_caught(env, capsys, monkeypatch):
    monkeypatch.setenv('STANDIN_MODE', 'lie')
    open_keystore('component_keyring_file', env['destination']).write([])
    rc, result = run_module(keyring_migrate, _args(env, destination=dict(type='component_keyring_file',
                                                                         path=env['destination'])), capsys)
    assert rc == 1 and result['tool_output']['verdict']['ok']
    assert 'missing or different in the destination' in result['msg']


def test_some_keys_already_present_refuses_before_running(env, capsys):
    open_keystore('component_keyring_file', env['destination']).write(KEYS[:1])
    rc, result = run_module(keyring_migrate, _args(env, destination=dict(type='component_keyring_file',
                                                                         path=env['destination'])), capsys)
    assert rc == 1 and 'already in the destination' in result['msg'] and 'method: native' in result['msg']
    assert _tool_calls(env) == []


def test_opaque_destination_is_idempotent_through_the_run_record(env, capsys, monkeypatch):
    opaque = dict(type='component_keyring_kmip', options={'server_addr': 'kmip.example'})
    rc, first = run_module(keyring_migrate, _args(env, destination=opaque), capsys)
    assert rc == 0 and first['changed'] and os.path.exists(first['run_record'])
    with open(first['run_record']) as f:
        record = json.load(f)
    assert record['source_sha256'] == _sha(env['source']) and record['destination_sha256'] is None
    rc, again = run_module(keyring_migrate, _args(env, destination=opaque), capsys)
    assert rc == 0 and not again['changed'] and 'previous run' in again['tool_skipped']
    assert len(_tool_calls(env)) == 1
    # A new key in the source: the record no longer holds, the tool runs again.
    open_keystore('component_keyring_file', env['source']).write(
        KEYS + [Key('new', 'app@localhost', 'AES', random_bytes(54, 32))])
    rc, third = run_module(keyring_migrate, _args(env, destination=opaque), capsys)
    assert len(_tool_calls(env)) == 2 and third['changed']


def test_check_mode_reports_the_command_and_runs_nothing(env, capsys):
    rc, result = run_module(keyring_migrate, dict(_args(env), _ansible_check_mode=True, _ansible_diff=True), capsys)
    assert rc == 0 and result['changed'] and result['tool_output'] is None
    assert result['tool_command'][0] == env['tool']
    assert '--destination-keyring=component_keyring_encrypted_file' in result['tool_command']
    assert len(result['migrated']) == 3 and _tool_calls(env) == [] and not os.path.exists(env['destination'])
    _no_secret(result)


def test_online_tool_run_resumes_a_server_the_tool_left_paused(env, capsys, fake_server, monkeypatch):
    # The stand-in does not pause; the fake server is left OFF as the server's own error path can leave it.
    monkeypatch.setenv('STANDIN_MODE', 'write_fails')
    original = fake_server.execute

    def execute(sql):
        rows = original(sql)
        if sql == 'SELECT @@GLOBAL.keyring_operations' and len(_tool_calls(env)) == 1 \
                and not getattr(fake_server, 'left_off', False):
            fake_server.left_off = True
            fake_server.keyring_operations = False
            return [(0,)]
        return rows
    fake_server.execute = execute
    rc, result = run_module(keyring_migrate, _args(env, destination=dict(type='component_keyring_file',
                                                                         path=env['destination']),
                                                   online=True, login_user='root', login_password='x-login-pw'),
                            capsys)
    assert rc == 1 and result['tool_left_paused'] and result['keyring_operations']['after'] is True
    assert fake_server.keyring_operations is True
    (call,) = _tool_calls(env)
    assert '--online-migration' in call['argv'] and 'password="x-login-pw"' in call['options']
    assert 'x-login-pw' not in ' '.join(call['argv'])


def test_online_tool_run_into_the_servers_own_keystore_reloads_its_keyring(env, capsys, fake_server):
    # As on the native path: a server rewrites its whole keystore from memory at its next key write.
    fake_server.use_keystore(env['destination'])
    args = _args(env, destination=dict(type='component_keyring_file', path=env['destination']), online=True,
                 login_user='root', login_password='x-login-pw', max_keys_listed=1)
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 0 and result['changed'] and result['keyring_reloaded'] is True, result
    assert result['queries'][-1] == 'ALTER INSTANCE RELOAD KEYRING'
    assert fake_server.keys == set((k.key_id, k.user_id) for k in KEYS)     # all 3, though 1 is listed


def test_online_tool_run_into_a_keystore_a_plugin_uses_is_refused_before_the_tool_runs(env, capsys, fake_server):
    fake_server.plugin = ('keyring_file', env['destination'])
    args = _args(env, destination=dict(type='component_keyring_file', path=env['destination']), online=True,
                 login_user='root', login_password='x-login-pw')
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 1 and 'through the keyring_file plugin, which cannot reload it' in result['msg']
    assert _tool_calls(env) == [] and not any(sql.startswith('SET') for sql in fake_server.executed)


def test_missing_tool_binary_is_named(env, capsys):
    args = _args(env)
    args['tool']['mysql_migrate_keyring'] = '/nonexistent/bin/mysql_migrate_keyring'
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 1 and '/nonexistent/bin/mysql_migrate_keyring is not an executable file' in result['msg']


def test_check_mode_online_probes_the_server_and_changes_nothing(env, capsys, fake_server):
    args = dict(_args(env), online=True, login_user='root', _ansible_check_mode=True)
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 0 and result['changed'] and result['keyring_operations']['before'] is True
    assert not any(sql.startswith('SET') for sql in fake_server.executed) and _tool_calls(env) == []
    fake_server.keyring_operations = False          # a DBA's pause: a real run would be refused, so is this one
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 1 and 'keyops did not pause it' in result['msg']
    assert fake_server.keyring_operations is False


def test_a_global_component_config_that_names_another_keystore_is_refused(env, capsys, tmp_path):
    plugin_dir = tmp_path / 'plugin'
    plugin_dir.mkdir()
    (plugin_dir / 'component_keyring_file.cnf').write_text(json.dumps({'path': '/var/lib/other', 'read_only': False}))
    args = _args(env, destination=dict(type='component_keyring_file', path=env['destination']))
    args['tool']['plugin_dir'] = str(plugin_dir)
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 1 and 'sets path /var/lib/other and no read_local_config' in result['msg']
    assert _tool_calls(env) == []
    (plugin_dir / 'component_keyring_file.cnf').write_text(json.dumps({'read_local_config': True}))
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 0, result['msg']


def test_a_secret_the_tool_prints_is_masked_in_msg_and_output(env, capsys, monkeypatch):
    monkeypatch.setenv('STANDIN_MODE', 'leak')
    rc, result = run_module(keyring_migrate, _args(env), capsys)
    assert rc == 1 and 'password=********' in result['msg']
    assert 'password=********' in result['tool_output']['stderr']
    _no_secret(result)


# ---- hostile names: the server's OS user owns the keystore and work directories ------------------------------------

NOBODY = 65534


@pytest.fixture
def victim(env):
    """A root-only file whose owner, mode and bytes nothing may change."""
    path = os.path.join(env['dir'], 'victim', 'shadow')
    os.mkdir(os.path.dirname(path), 0o700)
    with open(path, 'wb') as f:
        f.write(b'root-only bytes\n')
    os.chmod(path, 0o600)

    def state():
        st = os.lstat(path)
        with open(path, 'rb') as f:
            return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), f.read(), sorted(os.listdir(os.path.dirname(path)))
    before = state()
    yield dict(path=path, untouched=lambda: state() == before)


def _plant_link(target, at):
    os.symlink(target, at)
    os.lchown(at, NOBODY, NOBODY)


@pytest.mark.skipif(os.geteuid() != 0, reason='planting links owned by another user needs root')
def test_what_the_tool_user_plants_in_the_work_directory_is_never_followed(env, capsys, monkeypatch, victim):
    monkeypatch.setenv('STANDIN_MODE', 'plant')
    monkeypatch.setenv('STANDIN_VICTIM', victim['path'])
    rc, result = run_module(keyring_migrate, _args(env, destination=dict(type='component_keyring_file',
                                                                         path=env['destination'])), capsys)
    assert rc == 0, result['msg']
    assert victim['untouched']()
    (call,) = _tool_calls(env)
    workdir = os.path.dirname(call['argv'][1].split('=', 1)[1])
    assert not os.path.lexists(workdir) and not os.path.lexists(os.path.dirname(workdir))


@pytest.mark.skipif(os.geteuid() != 0, reason='planting links owned by another user needs root')
@pytest.mark.parametrize('what', ['link', 'hard link', 'fifo'])
@pytest.mark.parametrize('where', ['destination', 'destination.backup', 'source'])
def test_a_planted_keystore_name_is_refused_before_the_tool_runs(env, capsys, victim, what, where):
    path = env['destination'] + '.backup' if where == 'destination.backup' else env[where]
    if os.path.lexists(path):
        os.unlink(path)
    if what == 'link':
        _plant_link(victim['path'], path)
    elif what == 'hard link':
        os.link(victim['path'], path)
    else:
        os.mkfifo(path)
    rc, result = run_module(keyring_migrate, _args(env, destination=dict(type='component_keyring_file',
                                                                         path=env['destination'])), capsys)
    if where == 'source' and what == 'hard link':
        # Reading a hard-linked source changes nothing; the victim's bytes are not a keystore.
        assert rc == 1 and _tool_calls(env) == []
    else:
        assert rc == 1 and path in result['msg'] and _tool_calls(env) == [], result['msg']
    assert victim['untouched']()


@pytest.mark.skipif(os.geteuid() != 0, reason='planting links owned by another user needs root')
def test_a_fifo_or_planted_link_as_the_global_component_config_is_refused(env, capsys, tmp_path, victim):
    plugin_dir = tmp_path / 'plugin'
    plugin_dir.mkdir()
    config = str(plugin_dir / 'component_keyring_file.cnf')
    args = _args(env, destination=dict(type='component_keyring_file', path=env['destination']))
    args['tool']['plugin_dir'] = str(plugin_dir)
    os.mkfifo(config)
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 1 and config in result['msg'] and 'fifo' in result['msg'] and _tool_calls(env) == []
    os.unlink(config)
    _plant_link(victim['path'], config)
    rc, result = run_module(keyring_migrate, args, capsys)
    assert rc == 1 and config in result['msg'] and 'symbolic link' in result['msg'] and _tool_calls(env) == []
    assert victim['untouched']()
