# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_plan: the role's decision for one host. Every action and every problem code is reached here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils import host_plan
from ansible_collections.keyops.mysql.plugins.module_utils.host_plan import plan_host
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError

SOURCE = dict(type='component_keyring_file', path='/var/lib/mysql-keyring/old')
DESTINATION = dict(type='component_keyring_file', path='/var/lib/mysql-keyring/new')
PLUGIN_DESTINATION = dict(type='keyring_file', path='/var/lib/mysql-keyring/keyring')


def server(**changes):
    """A healthy 9.7 server on the source keystore, as keyring_info reports it."""
    facts = dict(server_version='9.7.4', keyring_operations=True, paused_by_keyops=None,
                 can_set_keyring_operations=True, keystore_in_use='source',
                 active_keyrings=[dict(name='component_keyring_file', kind='component', keystore=SOURCE['path'])],
                 active_keystores=[SOURCE['path']])
    facts.update(changes)
    return facts


def settings(**changes):
    values = dict(source=SOURCE, destination=DESTINATION, use_after='destination', can_stop_and_start=True,
                  component_config='/var/lib/mysql/component_keyring_file.cnf', component_manifest=None,
                  option_file=None, check_privileges=True)
    values.update(changes)
    return values


COPY = dict(failed=False, migrated_count=3)
NOTHING_TO_COPY = dict(failed=False, migrated_count=0)


def no_files(path):
    return {}


def plan(server_facts=None, migration=None, role_settings=None, read_members=no_files):
    return plan_host(server() if server_facts is None else server_facts, COPY if migration is None else migration,
                     settings() if role_settings is None else role_settings, read_members)


def codes(result):
    return [p['code'] for p in result['problems']]


# ---- actions -----------------------------------------------------------------------------------------------------

def test_a_server_on_the_source_is_switched_and_ends_on_the_destination():
    result = plan()
    assert (result['uses'], result['action'], result['expected_keystore']) == ('source', 'switch', DESTINATION['path'])
    assert result['problems'] == []


def test_a_server_on_the_source_that_keeps_it_needs_nothing():
    result = plan(role_settings=settings(use_after='source'))
    assert (result['action'], result['expected_keystore'], result['switch_edits']) == ('none', SOURCE['path'], [])


def test_a_server_on_the_destination_restarts_only_when_keys_are_copied_into_it():
    on_destination = server(keystore_in_use='destination')
    assert plan(on_destination, COPY)['action'] == 'restart'
    assert plan(on_destination, NOTHING_TO_COPY)['action'] == 'none'
    assert plan(on_destination)['expected_keystore'] == DESTINATION['path']


def test_a_copy_that_would_fail_plans_no_restart_and_says_why():
    result = plan(server(keystore_in_use='destination'), dict(failed=True, msg='/k/new: key k1 conflicts'))
    assert result['action'] == 'none'
    assert result['problems'] == [dict(code='copy_refused', msg='/k/new: key k1 conflicts')]


def test_switch_edits_for_a_component_name_the_config_and_manifest_and_never_hold_the_password():
    destination = dict(DESTINATION, password='s3cret')
    result = plan(role_settings=settings(destination=destination, component_manifest='/var/lib/mysql/mysqld.my'))
    assert result['switch_edits'] == [
        dict(file='component_config', path='/var/lib/mysql/component_keyring_file.cnf', format='json',
             settings=dict(path=DESTINATION['path']), defaults=dict(read_only=False), password=True),
        dict(file='component_manifest', path='/var/lib/mysql/mysqld.my', format='json',
             settings=dict(components='file://component_keyring_file'), defaults={}, password=False)]
    assert 's3cret' not in repr(result)


def test_switch_edit_for_the_plugin_sets_keyring_file_data_in_mysqld():
    result = plan(server(server_version='8.0.36'),
                  role_settings=settings(destination=PLUGIN_DESTINATION, option_file='/etc/mysql/my.cnf'))
    assert result['switch_edits'] == [dict(file='option_file', path='/etc/mysql/my.cnf', format='option_file',
                                           section='mysqld', option='keyring_file_data',
                                           value=PLUGIN_DESTINATION['path'])]
    assert result['problems'] == []


# ---- every problem code ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('side', ['source', 'destination'])
def test_path_not_absolute(side):
    role = settings(**{side: dict(SOURCE if side == 'source' else DESTINATION, path='keyring')})
    assert 'path_not_absolute' in codes(plan(role_settings=role))


VAULT = dict(type='component_keyring_vault', url='https://vault:8200', secret_mount_point='kv/db1')


@pytest.mark.parametrize('changes, says', [
    (dict(source=VAULT), 'does not move servers off a Vault keystore'),
    (dict(source=VAULT, destination=SOURCE, rollback=True), 'a rollback'),
    (dict(destination=VAULT), 'set keyring_migration_use_after: source'),
])
def test_a_vault_keystore_the_role_cannot_roll_is_refused_naming_what_to_do(changes, says):
    result = plan(role_settings=settings(**changes))
    assert codes(result) == ['vault_keystore_not_rolled_out'] and result['action'] == 'none' and not result['copy_keys']
    assert says in result['problems'][0]['msg']


def test_a_server_keeping_its_file_has_its_keys_copied_into_its_vault_mount_without_a_restart():
    result = plan(role_settings=settings(destination=VAULT, use_after='source'))
    assert (result['action'], result['how'], result['problems']) == ('none', 'online', [])
    assert result['expected_keystore'] == SOURCE['path'] and result['copy_keys']


def test_same_keystore():
    assert 'same_keystore' in codes(plan(role_settings=settings(destination=dict(DESTINATION, path=SOURCE['path']))))


def test_no_keyring_operations_on_mariadb():
    assert 'no_keyring_operations' in codes(plan(server(keyring_operations=None, server_version='10.11.6-MariaDB')))


def test_paused_by_someone_else_but_not_by_an_interrupted_keyops_run():
    assert 'paused_by_someone_else' in codes(plan(server(keyring_operations=False)))
    assert 'paused_by_someone_else' not in codes(plan(server(keyring_operations=False,
                                                             paused_by_keyops=dict(pid=1))))


def test_missing_privileges_unless_the_check_is_off():
    assert 'missing_privileges' in codes(plan(server(can_set_keyring_operations=False)))
    assert codes(plan(server(can_set_keyring_operations=False), role_settings=settings(check_privileges=False))) == []


def test_several_keyrings():
    keyrings = [dict(name='component_keyring_file'), dict(name='keyring_file')]
    result = plan(server(active_keyrings=keyrings))
    assert 'several_keyrings' in codes(result)
    assert 'component_keyring_file, keyring_file' in result['problems'][0]['msg']


def test_uses_neither_keystore_names_what_it_uses():
    result = plan(server(keystore_in_use='other', active_keystores=['/elsewhere']))
    assert codes(result) == ['uses_neither_keystore']
    assert '/elsewhere' in result['problems'][0]['msg']
    assert result['action'] == 'none'


def test_switch_back_unsupported():
    result = plan(server(keystore_in_use='destination'), NOTHING_TO_COPY, settings(use_after='source'))
    assert codes(result) == ['switch_back_unsupported']


ENCRYPTED_DESTINATION = dict(type='component_keyring_encrypted_file', path='/var/lib/mysql-keyring/enc', password='pw')
ON_A_PLUGIN = dict(active_keyrings=[dict(name='keyring_file', kind='plugin', keystore=DESTINATION['path'])])


@pytest.mark.parametrize('server_facts,role_settings,action', [
    (server(), settings(destination=ENCRYPTED_DESTINATION), 'switch'),
    (server(keystore_in_use='destination', **ON_A_PLUGIN), settings(), 'restart')])
def test_a_server_that_restarts_must_be_stopped_and_started_on_their_own(server_facts, role_settings, action):
    result = plan(server_facts, COPY, dict(role_settings, can_stop_and_start=False))
    assert (result['action'], result['how']) == (action, 'restart')
    assert codes(result) == ['cannot_stop_and_start']
    assert 'keyring_migration_stop_command' in result['problems'][0]['msg']


@pytest.mark.parametrize('uses', ['source', 'destination'])
def test_a_server_that_reloads_needs_no_stop_or_start(uses):
    result = plan(server(keystore_in_use=uses), COPY, settings(can_stop_and_start=False))
    assert result['how'] == 'reload' and result['problems'] == []


# ---- how: without a restart where MySQL allows --------------------------------------------------------------------

def test_how_a_server_that_keeps_the_source_is_copied_online():
    assert plan(role_settings=settings(use_after='source'))['how'] == 'online'


def test_how_a_switch_to_the_component_the_server_runs_reloads():
    assert plan()['how'] == 'reload'


def test_how_a_switch_to_another_component_type_restarts():
    assert plan(role_settings=settings(destination=ENCRYPTED_DESTINATION))['how'] == 'restart'


def test_how_a_switch_without_the_component_configuration_restarts():
    # (and is refused: component_config_missing)
    assert plan(role_settings=settings(component_config=None))['how'] == 'restart'


def test_how_a_switch_from_a_plugin_restarts():
    facts = server(server_version='8.0.36', active_keyrings=[dict(name='keyring_file', kind='plugin',
                                                                  keystore=SOURCE['path'])])
    assert plan(facts)['how'] == 'restart'


def test_how_a_server_on_the_destination_reloads_a_component_and_restarts_a_plugin():
    assert plan(server(keystore_in_use='destination'))['how'] == 'reload'
    assert plan(server(keystore_in_use='destination', **ON_A_PLUGIN))['how'] == 'restart'


def test_a_server_that_needs_nothing_need_not_be_stopped_or_started():
    assert codes(plan(role_settings=settings(use_after='source', can_stop_and_start=False))) == []


def test_component_config_missing():
    assert codes(plan(role_settings=settings(component_config=None))) == ['component_config_missing']


def test_option_file_missing():
    result = plan(server(server_version='8.0.36'), role_settings=settings(destination=PLUGIN_DESTINATION))
    assert codes(result) == ['option_file_missing']


def test_keyring_file_plugin_removed_in_8_4():
    result = plan(role_settings=settings(destination=PLUGIN_DESTINATION, option_file='/etc/my.cnf'))
    assert codes(result) == ['keyring_file_plugin_removed']
    assert 'MySQL 9.7.4' in result['problems'][0]['msg']


def test_components_not_available_before_8_0_24():
    assert codes(plan(server(server_version='8.0.23-log'))) == ['components_not_available']
    assert codes(plan(server(server_version='8.0.24'))) == []


def test_switch_file_unreadable():
    def refuse(path):
        raise KeystoreError('is a symbolic link; refusing to follow it', path=path)
    result = plan(read_members=refuse)
    assert codes(result) == ['switch_file_unreadable']
    assert '/var/lib/mysql/component_keyring_file.cnf' in result['problems'][0]['msg']


def test_component_config_defers_to_the_data_directory():
    result = plan(read_members=lambda path: dict(read_local_config=True))
    assert codes(result) == ['component_config_defers']


def test_component_manifest_defers_to_the_data_directory():
    members = {'/usr/sbin/mysqld.my': dict(read_local_manifest=True)}
    result = plan(role_settings=settings(component_manifest='/usr/sbin/mysqld.my'),
                  read_members=lambda path: members.get(path, {}))
    assert codes(result) == ['component_manifest_defers']


def test_switch_files_are_read_only_for_a_switch_to_a_component():
    def must_not_read(path):
        raise AssertionError('read %s' % path)
    assert plan(role_settings=settings(use_after='source'), read_members=must_not_read)['problems'] == []


def test_every_code_is_listed_and_reached_by_a_test_here():
    with open(__file__) as handle:
        text = handle.read()
    assert all("'%s'" % code in text for code in host_plan.PROBLEM_CODES)


def test_versions_compare_as_numbers():
    assert host_plan.version_tuple('8.0.36-28') == (8, 0, 36)
    assert host_plan.version_tuple('9.7.4') > host_plan.version_tuple('8.4.0')
    assert host_plan.version_tuple(None) == ()


def test_how_restart_policy_always_restarts_every_switched_or_reloaded_server():
    assert plan(role_settings=settings(restart_policy='always'))['how'] == 'restart'
    assert plan(server(keystore_in_use='destination'), COPY, settings(restart_policy='always'))['how'] == 'restart'
    assert plan(role_settings=settings(use_after='source', restart_policy='always'))['how'] == 'online'


# ---- rollback (source and destination swapped) -----------------------------------------------------------------

SOURCE_MISSING = dict(failed=True, msg='the source keystore does not exist; check the path')


def test_a_rollback_leaves_a_server_the_migration_never_reached_alone():
    never_reached = server(keystore_in_use='destination', keystores=[dict(path=SOURCE['path'], exists=False)])
    result = plan(never_reached, SOURCE_MISSING, settings(rollback=True))
    assert (result['action'], result['copy_keys'], result['expected_keystore']) == ('none', False, DESTINATION['path'])
    assert result['problems'] == []


def test_a_missing_source_is_still_refused_outside_a_rollback_or_for_a_server_to_switch():
    on_destination = server(keystore_in_use='destination', keystores=[dict(path=SOURCE['path'], exists=False)])
    assert codes(plan(on_destination, SOURCE_MISSING)) == ['copy_refused']
    on_source = server(keystores=[dict(path=SOURCE['path'], exists=False)])
    assert 'copy_refused' in codes(plan(on_source, SOURCE_MISSING, settings(rollback=True)))
    present = server(keystore_in_use='destination', keystores=[dict(path=SOURCE['path'], exists=True)])
    assert codes(plan(present, dict(failed=True, msg='a conflicting key'), settings(rollback=True))) == ['copy_refused']


def test_a_rollback_of_a_switched_server_copies_back_and_switches():
    result = plan(role_settings=settings(rollback=True))
    assert (result['action'], result['copy_keys']) == ('switch', True)


# ---- from the keyring_file plugin to component_keyring_file, with the server's files found (plugin_switch) -------

PLUGIN_SOURCE = dict(type='keyring_file', path='/var/lib/mysql-keyring/keyring')
COMPONENT_DESTINATION = dict(type='component_keyring_file', path='/var/lib/mysql-keyring/component_keyring_file')
FOUND = dict(edits=[dict(file='component_config', path='/var/lib/mysql/component_keyring_file.cnf', format='json'),
                    dict(file='option_file', path='/etc/mysql/mysql.conf.d/mysqld.cnf', format='option_file',
                         remove_keyring_plugin=['mysqld', 'server', 'mysqld-8.0'])],
             problems=[], warnings=['the local manifest can be replaced by the server\'s user'],
             component_files=dict(manifest='/var/lib/mysql/mysqld.my',
                                  config='/var/lib/mysql/component_keyring_file.cnf'),
             running_pid=None)


def plugin_server(**changes):
    facts = server(server_version='8.0.36', active_keyrings=[dict(name='keyring_file', kind='plugin',
                                                                  keystore=PLUGIN_SOURCE['path'])],
                   active_keystores=[PLUGIN_SOURCE['path']])
    facts.update(changes)
    return facts


def plugin_settings(found=None, **changes):
    values = dict(source=PLUGIN_SOURCE, destination=COMPONENT_DESTINATION, component_config=None,
                  plugin_switch=FOUND if found is None else found)
    values.update(changes)
    return settings(**values)


def test_a_plugin_server_switches_with_the_edits_found_on_the_host_and_restarts():
    result = plan(plugin_server(), role_settings=plugin_settings())
    assert (result['action'], result['how'], result['problems']) == ('switch', 'restart', [])
    assert result['switch_edits'] == FOUND['edits'] and result['warnings'] == FOUND['warnings']


def test_the_planners_problems_are_the_hosts():
    found = dict(FOUND, problems=[host_plan.problem('keyring_plugin_on_command_line', 'on its command line')])
    assert codes(plan(plugin_server(), role_settings=plugin_settings(found))) == ['keyring_plugin_on_command_line']


def test_component_files_set_by_the_user_must_be_the_ones_the_server_reads():
    result = plan(plugin_server(), role_settings=plugin_settings(component_config='/etc/mysql/component.cnf',
                                                                 component_manifest='/var/lib/mysql/mysqld.my'))
    assert codes(result) == ['switch_file_not_read_by_server']
    assert '/etc/mysql/component.cnf' in result['problems'][0]['msg']
    assert '/var/lib/mysql/component_keyring_file.cnf' in result['problems'][0]['msg']


def test_a_stopped_server_is_switched_with_no_pause_and_no_server_checks():
    # keyring_info describes a stopped server by its files: no keyring_operations, no privileges to check.
    stopped = dict(server_version='8.0.36', keystore_in_use='source', active_keystores=[PLUGIN_SOURCE['path']])
    result = plan(stopped, role_settings=plugin_settings(server_stopped=True))
    assert (result['action'], result['how'], result['problems']) == ('switch', 'stopped', [])


def test_a_stopped_server_that_runs_after_all_is_refused():
    stopped = dict(server_version='8.0.36', keystore_in_use='source', active_keystores=[PLUGIN_SOURCE['path']])
    result = plan(stopped, role_settings=plugin_settings(dict(FOUND, running_pid=4242), server_stopped=True))
    assert codes(result) == ['server_running'] and 'process 4242' in result['problems'][0]['msg']


def test_a_stopped_server_without_its_files_cannot_be_planned():
    stopped = dict(server_version='9.7.4', keystore_in_use='source', active_keystores=[SOURCE['path']])
    result = plan(stopped, role_settings=settings(server_stopped=True))
    assert 'stopped_server_needs_server_files' in codes(result)
