# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyring_migrate with switch_config: a running server moved to the destination without a restart, on a fake
server whose component reads its configuration file at each RELOAD KEYRING as MySQL's does. The real server is in
tests/integration/test_zero_restart_switch.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key
from ansible_collections.keyops.mysql.plugins.modules import keyring_migrate

from ..keystore.strategies import random_bytes
from .conftest import run_module

TYPE = 'component_keyring_file'
KEYS = [Key('INNODBKey-3c1f5f0e-1d2f-11ef-9a0c-0242ac120002-1', '', 'AES', random_bytes(51, 32)),
        Key('app-secret', 'app@%', 'SECRET', random_bytes(52, 64))]
SOCKET = dict(login_unix_socket='/s', config_file='')


@pytest.fixture
def fleet(tmp_path, fake_server, pause_marker_dir):
    """A server whose component_keyring_file uses `source`, configured by `config`."""
    source, destination = str(tmp_path / 'old'), str(tmp_path / 'new')
    config = str(tmp_path / 'component_keyring_file.cnf')
    open_keystore(TYPE, source).write(KEYS)
    with open(config, 'w') as handle:
        json.dump(dict(path=source, read_only=False), handle)
    fake_server.component = (TYPE, source)
    fake_server.keys = set((k.key_id, k.user_id) for k in KEYS)

    def reload(server):
        # As component_keyring_file: re-read the configuration, then the file it names.
        with open(config) as handle:
            path = json.load(handle)['path']
        server.component = (TYPE, path)
        server.keys = set((k.key_id, k.user_id) for k in open_keystore(TYPE, path).load())
    fake_server.reload = reload
    return dict(source=source, destination=destination, config=config, server=fake_server)


def args(fleet, **extra):
    values = dict(SOCKET, source=dict(type=TYPE, path=fleet['source']), destination=dict(type=TYPE, path=fleet['destination']),
                  online=True, switch_config=fleet['config'])
    values.update(extra)
    return values


def configured_path(fleet):
    with open(fleet['config']) as handle:
        return json.load(handle)['path']


def statements(server):
    return [sql for sql in server.executed if sql.startswith(('SET GLOBAL', 'ALTER INSTANCE'))]


def test_the_server_moves_to_the_destination_paused_only_for_the_copy_and_the_rewrite(fleet, capsys):
    source_bytes = open(fleet['source'], 'rb').read()
    rc, result = run_module(keyring_migrate, args(fleet), capsys)
    assert rc == 0 and result['changed'] and result['switched'] and result['keyring_reloaded']
    server = fleet['server']
    assert server.component == (TYPE, fleet['destination']) and configured_path(fleet) == fleet['destination']
    assert server.keys == set((k.key_id, k.user_id) for k in KEYS) and server.keyring_operations
    # OFF, ON, then the reload (refused while OFF), in that order and once each.
    assert statements(server) == ['SET GLOBAL keyring_operations = OFF', 'SET GLOBAL keyring_operations = ON',
                                  'ALTER INSTANCE RELOAD KEYRING']
    assert open(fleet['source'], 'rb').read() == source_bytes
    assert json.load(open(result['switch_config_backup']))['path'] == fleet['source']
    assert result['migrated_count'] == 2 and result['keys_copied_after_reload'] == 0


def test_a_rerun_changes_nothing_and_pauses_nothing(fleet, capsys):
    run_module(keyring_migrate, args(fleet), capsys)
    fleet['server'].executed[:] = []
    rc, result = run_module(keyring_migrate, args(fleet), capsys)
    assert rc == 0 and not result['changed'] and not result['switched'] and not result['paused']
    assert statements(fleet['server']) == []


def test_check_mode_lists_what_it_would_do_and_changes_nothing(fleet, capsys):
    config_before = open(fleet['config']).read()
    rc, result = run_module(keyring_migrate, args(fleet, _ansible_check_mode=True), capsys)
    assert rc == 0 and result['changed'] and not os.path.exists(fleet['destination'])
    assert open(fleet['config']).read() == config_before and statements(fleet['server']) == []
    assert result['queries'][-3:] == ['SET GLOBAL keyring_operations = OFF', 'SET GLOBAL keyring_operations = ON',
                                      'ALTER INSTANCE RELOAD KEYRING']


def test_a_key_written_between_the_resume_and_the_reload_is_copied_and_reloaded_again(fleet, capsys):
    server, late = fleet['server'], Key('late-key', 'app@%', 'AES', random_bytes(53, 32))
    reload = server.reload
    calls = []

    def reload_after_a_late_write(srv):
        if not calls:
            # The server, still on the source in memory, writes a key there just before the first reload.
            source = open_keystore(TYPE, fleet['source'])
            source.write(list(source.load()) + [late])
        calls.append(1)
        reload(srv)
    server.reload = reload_after_a_late_write
    rc, result = run_module(keyring_migrate, args(fleet), capsys)
    assert rc == 0 and result['keys_copied_after_reload'] == 1 and len(calls) == 2, result
    assert ('late-key', 'app@%') in server.keys
    assert late in list(open_keystore(TYPE, fleet['destination']).load())
    assert server.keyring_operations


def test_a_failed_reload_puts_the_configuration_back_and_leaves_the_server_on_the_source(fleet, capsys):
    config_before = open(fleet['config']).read()
    fleet['server'].fail['ALTER INSTANCE RELOAD KEYRING'] = (4035, 'Keyring reload failed.')
    rc, result = run_module(keyring_migrate, args(fleet), capsys)
    assert rc == 1 and result['switch_rolled_back'] and not result['switched']
    assert 'was not switched' in result['msg'] and 'still uses the source' in result['msg']
    assert open(fleet['config']).read() == config_before
    assert fleet['server'].component == (TYPE, fleet['source']) and fleet['server'].keyring_operations


def test_a_configuration_the_server_does_not_read_is_found_and_put_back(fleet, capsys):
    server = fleet['server']
    server.reload = lambda srv: None          # the server reads another file: still on the source
    rc, result = run_module(keyring_migrate, args(fleet), capsys)
    assert rc == 1 and 'the server does not read this configuration file' in result['msg']
    assert configured_path(fleet) == fleet['source'] and server.keyring_operations


def test_a_change_of_component_type_is_refused_before_any_pause(fleet, capsys):
    rc, result = run_module(keyring_migrate, args(fleet, destination=dict(
        type='component_keyring_encrypted_file', path=fleet['destination'], password='pw')), capsys)
    assert rc == 1 and 'needs a restart' in result['msg'] and statements(fleet['server']) == []
    assert not os.path.exists(fleet['destination'])


def test_a_global_configuration_that_defers_is_refused(fleet, capsys):
    with open(fleet['config'], 'w') as handle:
        json.dump(dict(read_local_config=True), handle)
    rc, result = run_module(keyring_migrate, args(fleet), capsys)
    assert rc == 1 and 'read_local_config' in result['msg'] and statements(fleet['server']) == []


def test_switch_config_needs_online(fleet, capsys):
    rc, result = run_module(keyring_migrate, args(fleet, online=False), capsys)
    assert rc == 1 and 'needs online: true' in result['msg'] and not os.path.exists(fleet['destination'])


def test_a_server_paused_by_someone_else_is_refused(fleet, capsys):
    fleet['server'].keyring_operations = False
    rc, result = run_module(keyring_migrate, args(fleet), capsys)
    assert rc == 1 and 'keyops did not pause it' in result['msg'] and not os.path.exists(fleet['destination'])


def test_an_encrypted_destination_gets_its_password_in_the_configuration_and_never_in_the_result(tmp_path, fleet,
                                                                                                 capsys):
    encrypted = 'component_keyring_encrypted_file'
    source = str(tmp_path / 'enc-old')
    open_keystore(encrypted, source, 'pw-old').write(KEYS)
    fleet['server'].component = (encrypted, source)
    with open(fleet['config'], 'w') as handle:
        json.dump(dict(path=source, password='pw-old', read_only=False), handle)

    def reload(server):
        members = json.load(open(fleet['config']))
        server.component = (encrypted, members['path'])
        keystore = open_keystore(encrypted, members['path'], members['password'])
        server.keys = set((k.key_id, k.user_id) for k in keystore.load())
    fleet['server'].reload = reload
    rc, result = run_module(keyring_migrate, args(fleet, source=dict(type=encrypted, path=source, password='pw-old'),
                                                  destination=dict(type=encrypted, path=fleet['destination'],
                                                                   password='pw-new-secret')), capsys)
    assert rc == 0 and result['switched'], result
    assert json.load(open(fleet['config'])) == dict(path=fleet['destination'], password='pw-new-secret',
                                                    read_only=False)
    assert 'pw-new-secret' not in json.dumps(result) and 'pw-old' not in json.dumps(result)


def test_a_run_killed_after_the_rewrite_is_finished_by_a_reload(fleet, capsys):
    # The killed run copied every key and rewrote the configuration, but the server never reloaded: it still uses
    # the source. Nothing is left to copy or rewrite, and the server must still be switched.
    run_module(keyring_migrate, dict(args(fleet), switch_config=None, online=False, login_unix_socket=None), capsys)
    with open(fleet['config'], 'w') as handle:
        json.dump(dict(path=fleet['destination'], read_only=False), handle)
    rc, result = run_module(keyring_migrate, args(fleet), capsys)
    assert rc == 0 and result['changed'] and result['switched'] and not result['paused'], result
    assert fleet['server'].component == (TYPE, fleet['destination'])
    assert statements(fleet['server']) == ['ALTER INSTANCE RELOAD KEYRING']
