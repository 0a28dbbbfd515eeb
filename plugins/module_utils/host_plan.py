# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keyring_migration role's decision for one host, made from keyring_info's report of the server: which keystore
the server uses, what the role must do to it (nothing, switch it, restart it), which files a switch rewrites, and
why the host cannot be migrated (`problems`, each a stable `code` and a one-line `msg`).

keyring_info computes it on the host (O(plan)), where paths resolve as the server sees them; the role only asserts
on the codes. Checks across hosts (two hosts writing one keystore, cloned servers) are the filter plugin
keyops.mysql.fleet_problems.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault import VAULT_TYPES
from ansible_collections.keyops.mysql.plugins.module_utils.server_keyrings import (
    USES_DESTINATION,
    USES_OTHER,
    USES_SOURCE,
)

ACTION_NONE = 'none'
ACTION_SWITCH = 'switch'        # rewrite the server's configuration to the destination, then restart it
ACTION_RESTART = 'restart'      # the server already uses the destination: restart it to load the copied keys

# How the role does it: `online` copies with the server paused for milliseconds (keyring_migrate online); `reload`
# does that, switches the component's configuration if it switches, and has the server reload its keyring, with no
# restart (MySQL 8.0.24+ components); `restart` copies while the server runs (paused for milliseconds), stops it,
# copies what the source gained since, switches it and starts it: the restart is the pause.
HOW_ONLINE = 'online'
HOW_RELOAD = 'reload'
HOW_RESTART = 'restart'
# A server that is down (an upgrade in progress): copied and switched with no server, then started.
HOW_STOPPED = 'stopped'

PLUGIN_TYPE = 'keyring_file'
FIRST_WITH_COMPONENTS = (8, 0, 24)
FIRST_WITHOUT_PLUGINS = (8, 4, 0)

# Every problem the planner can report, with its code. Messages name the file or setting and say what to do.
PATH_NOT_ABSOLUTE = 'path_not_absolute'
SAME_KEYSTORE = 'same_keystore'
NO_KEYRING_OPERATIONS = 'no_keyring_operations'
PAUSED_BY_SOMEONE_ELSE = 'paused_by_someone_else'
MISSING_PRIVILEGES = 'missing_privileges'
SEVERAL_KEYRINGS = 'several_keyrings'
USES_NEITHER = 'uses_neither_keystore'
SWITCH_BACK = 'switch_back_unsupported'
NO_STOP_START = 'cannot_stop_and_start'
NO_COMPONENT_CONFIG = 'component_config_missing'
NO_OPTION_FILE = 'option_file_missing'
PLUGIN_REMOVED = 'keyring_file_plugin_removed'
COMPONENTS_MISSING = 'components_not_available'
COPY_REFUSED = 'copy_refused'
SWITCH_FILE_UNREADABLE = 'switch_file_unreadable'
CONFIG_DEFERS = 'component_config_defers'
MANIFEST_DEFERS = 'component_manifest_defers'
SERVER_RUNNING = 'server_running'
SWITCH_FILE_NOT_READ = 'switch_file_not_read_by_server'
STOPPED_NEEDS_FILES = 'stopped_server_needs_server_files'
VAULT_NOT_ROLLED = 'vault_keystore_not_rolled_out'

PROBLEM_CODES = (PATH_NOT_ABSOLUTE, SAME_KEYSTORE, NO_KEYRING_OPERATIONS, PAUSED_BY_SOMEONE_ELSE, MISSING_PRIVILEGES,
                 SEVERAL_KEYRINGS, USES_NEITHER, SWITCH_BACK, NO_STOP_START, NO_COMPONENT_CONFIG, NO_OPTION_FILE,
                 PLUGIN_REMOVED, COMPONENTS_MISSING, COPY_REFUSED, SWITCH_FILE_UNREADABLE, CONFIG_DEFERS,
                 MANIFEST_DEFERS, SERVER_RUNNING, SWITCH_FILE_NOT_READ, STOPPED_NEEDS_FILES)


def problem(code, msg):
    return dict(code=code, msg=msg)


def version_tuple(version):
    """(8, 0, 36) from '8.0.36-log'; () when the server did not say."""
    match = re.match(r'^(\d+)(?:\.(\d+))?(?:\.(\d+))?', version or '')
    return tuple(int(part or 0) for part in match.groups()) if match else ()


def decide_action(uses, use_after, keys_to_copy):
    """What the role does to a server: switch one on the source to the destination; restart one that already uses
    the destination if keys are copied into it (a plugin holds its keys in memory); otherwise nothing."""
    if uses == USES_SOURCE and use_after == USES_DESTINATION:
        return ACTION_SWITCH
    if uses == USES_DESTINATION and keys_to_copy > 0:
        return ACTION_RESTART
    return ACTION_NONE


def decide_how(action, server, settings):
    """Whether the action can be done without a restart. A component re-reads its configuration and its keystore on
    ALTER INSTANCE RELOAD KEYRING (8.0.24+), but which component is loaded is read from the manifest at start only: a
    switch reloads when the destination is the component the server runs; a server on the destination reloads when
    its keyring is a component (a plugin cannot)."""
    if action == ACTION_NONE:
        return HOW_ONLINE
    if settings.get('server_stopped'):
        return HOW_STOPPED
    if settings.get('restart_policy') == 'always':
        return HOW_RESTART          # a team that wants proof each switched server boots on its new keystore
    keyrings = server.get('active_keyrings') or ()
    component = keyrings[0]['name'] if len(keyrings) == 1 and keyrings[0].get('kind') == 'component' else None
    if action == ACTION_RESTART:
        return HOW_RELOAD if component else HOW_RESTART
    reloadable = (component == settings['destination']['type'] and settings.get('component_config')
                  and version_tuple(server.get('server_version')) >= FIRST_WITH_COMPONENTS)
    return HOW_RELOAD if reloadable else HOW_RESTART


def switch_edits(settings):
    """The files a switch rewrites, as keyring_config edits, in the order they are made. The component's
    configuration carries the destination's password (`password: true`), which the role passes from its own
    variable: it never appears in a plan."""
    destination = settings['destination']
    if destination['type'] == PLUGIN_TYPE:
        return [dict(file='option_file', path=settings['option_file'], format='option_file', section='mysqld',
                     option='keyring_file_data', value=destination['path'])]
    edits = [dict(file='component_config', path=settings['component_config'], format='json',
                  settings=dict(path=destination['path']), defaults=dict(read_only=False),
                  password=bool(destination.get('password')))]
    if settings.get('component_manifest'):
        edits.append(dict(file='component_manifest', path=settings['component_manifest'], format='json',
                          settings=dict(components='file://%s' % destination['type']), defaults={},
                          password=False))
    return edits


def setting_problems(settings):
    """The role's own variables, before anything is asked of the server."""
    found = vault_problems(settings)
    if found:
        return found
    for side in ('source', 'destination'):
        if settings[side]['type'] in VAULT_TYPES:
            continue
        path = settings[side].get('path') or ''
        if not path.startswith('/'):
            found.append(problem(PATH_NOT_ABSOLUTE, 'keyring_migration_%s.path must be absolute, got %r'
                                 % (side, path)))
    if settings['source'].get('path') and settings['source'].get('path') == settings['destination'].get('path'):
        found.append(problem(SAME_KEYSTORE, 'source and destination are the same keystore (%s)'
                             % settings['source']['path']))
    return found


def vault_problems(settings):
    """The role copies each server's keys into a Vault mount of its own while the server keeps its file keystore
    (use_after source). Moving a server onto or off Percona's Vault keyring is not done by the role: no Percona
    Server runs where this is tested, and keyring_migrate copies either way."""
    if settings['source']['type'] in VAULT_TYPES:
        return [problem(VAULT_NOT_ROLLED, 'the role does not move servers off a Vault keystore (%s%s): copy the keys '
                        'with keyops.mysql.keyring_migrate' % (settings['source']['type'],
                                                               ', a rollback' if settings.get('rollback') else ''))]
    if settings['destination']['type'] in VAULT_TYPES and settings.get('use_after') != USES_SOURCE:
        return [problem(VAULT_NOT_ROLLED, 'with a Vault destination (%s) the role copies each server\'s keys into '
                        'its mount and the server keeps its keystore: set keyring_migration_use_after: source (keyops '
                        'does not switch a server to Percona\'s Vault keyring)' % settings['destination']['type'])]
    return []


def server_problems(server, settings):
    """What keeps the role from pausing and reading this server at all."""
    found = []
    operations = server.get('keyring_operations')
    if operations is None:
        found.append(problem(NO_KEYRING_OPERATIONS, 'the server has no keyring_operations variable (MariaDB, or '
                             'MySQL older than 5.7.21), so it cannot be paused'))
    elif operations is False and server.get('paused_by_keyops') is None:
        found.append(problem(PAUSED_BY_SOMEONE_ELSE, 'keyring_operations is OFF and keyops did not pause it (a DBA '
                             'or another tool did): resume it, or let that work finish, then run again'))
    if settings.get('check_privileges', True) and not server.get('can_set_keyring_operations'):
        found.append(problem(MISSING_PRIVILEGES, 'the login user cannot set keyring_operations: it needs SUPER, or '
                             'SYSTEM_VARIABLES_ADMIN and ENCRYPTION_KEY_ADMIN (set keyring_migration_check_privileges: '
                             'false if they come through a role)'))
    keyrings = [k['name'] for k in server.get('active_keyrings') or ()]
    if len(keyrings) > 1:
        found.append(problem(SEVERAL_KEYRINGS, 'the server has more than one keyring enabled (%s), which MySQL does '
                             'not support, and keyops cannot tell which one holds the keys in use: leave one enabled, '
                             'restart, then run again' % ', '.join(keyrings)))
    return found


def usage_problems(uses, action, how, server, settings):
    """Whether the keystore the server uses fits the run, and whether its switch or restart can be done."""
    found = []
    if uses == USES_OTHER:
        found.append(problem(USES_NEITHER, 'the server uses neither the source nor the destination keystore (it '
                             'uses %s); fix keyring_migration_source or keyring_migration_destination, or leave this '
                             'host out' % (', '.join(server.get('active_keystores') or ()) or 'none')))
    elif uses == USES_DESTINATION and settings['use_after'] == USES_SOURCE:
        found.append(problem(SWITCH_BACK, 'the server uses the destination keystore; use_after: source would need a '
                             'switch back, which the role does not do'))
    if how == HOW_RESTART and not settings.get('can_stop_and_start', True):
        found.append(problem(NO_STOP_START, 'the server must be restarted to be %s the destination, and the role '
                             'restarts it by stopping it, copying the keys its source gained meanwhile, and starting '
                             'it: a restart command alone cannot do that; set keyring_migration_stop_command and '
                             'keyring_migration_start_command (or neither, to use the service)'
                             % ('switched to' if action == ACTION_SWITCH else 'restarted on')))
    return found


def switch_problems(server, settings):
    """A switch needs the files it rewrites named, and a server that has the destination's kind of keyring."""
    version = version_tuple(server.get('server_version'))
    shown = '.'.join(str(part) for part in version) or 'of an unknown version'
    if settings['destination']['type'] == PLUGIN_TYPE:
        found = [] if settings.get('option_file') else [
            problem(NO_OPTION_FILE, 'switching to the keyring_file plugin needs keyring_migration_option_file')]
        if version >= FIRST_WITHOUT_PLUGINS:
            found.append(problem(PLUGIN_REMOVED, 'the server is MySQL %s, which has no keyring_file plugin (removed in '
                                 '8.4): after a switch to a keyring_file destination it would not start; use a '
                                 'component destination' % shown))
        return found
    found = [] if settings.get('component_config') else [
        problem(NO_COMPONENT_CONFIG, 'switching to a component needs keyring_migration_component_config')]
    if version < FIRST_WITH_COMPONENTS:
        found.append(problem(COMPONENTS_MISSING, 'the server is MySQL %s, which has no keyring components (they came '
                             'in 8.0.24): after a switch to a component destination it would start without a keyring'
                             % shown))
    return found


def switch_file_problems(settings, read_members):
    """A file the switch rewrites must be readable without following a link, and must be the file the server reads:
    a global configuration or manifest that defers to the data directory's (read_local_config, read_local_manifest)
    is the wrong one. Rewriting it would not move this server (or, for the manifest, would change what every
    instance on the host loads). `read_members(path)` returns the file's JSON members or raises KeystoreError."""
    found = []
    checks = (('component_config', 'read_local_config', CONFIG_DEFERS,
               'keyring_migration_component_config %s defers to the configuration file in the data directory '
               '(read_local_config): set keyring_migration_component_config to that file'),
              ('component_manifest', 'read_local_manifest', MANIFEST_DEFERS,
               'keyring_migration_component_manifest %s defers to the manifest in the data directory '
               '(read_local_manifest), and rewriting it would change what every instance on this host loads: set '
               'keyring_migration_component_manifest to the manifest in the data directory'))
    for setting, member, code, message in checks:
        path = settings.get(setting)
        if not path:
            continue
        try:
            members = read_members(path)
        except KeystoreError as exc:
            found.append(problem(SWITCH_FILE_UNREADABLE, str(exc)))
            continue
        if members.get(member):
            found.append(problem(code, message % path))
    return found


def plan_host(server, migration, settings, read_members):
    """The host's plan: {uses, action, how, expected_keystore, switch_edits, problems}.

    server: keyring_info's report of the server (keyring_operations, paused_by_keyops, can_set_keyring_operations,
    active_keyrings, active_keystores, server_version) and keystore_in_use. migration: keyring_migrate's check-mode
    result (failed and msg when it would fail). settings: source and destination ({type, path, password}), use_after,
    can_stop_and_start (the role can stop and start the server on their own), component_config, component_manifest,
    option_file, check_privileges."""
    problems = setting_problems(settings)
    if any(p['code'] == VAULT_NOT_ROLLED for p in problems):
        return dict(uses=USES_OTHER, action=ACTION_NONE, how=None, expected_keystore=None, switch_edits=[],
                    problems=problems, copy_keys=False, warnings=[])
    if settings.get('server_stopped'):
        problems += stopped_server_problems(settings.get('plugin_switch'))
    else:
        problems += server_problems(server, settings)
    uses = server.get('keystore_in_use') or USES_OTHER
    refused = bool(migration.get('failed'))
    # A rollback (source and destination swapped) of a server the migration never reached: it is on the keystore the
    # rollback returns to, and the one it would copy from was never made. Nothing to copy, nothing to refuse.
    never_reached = bool(settings.get('rollback') and uses == USES_DESTINATION and refused
                         and not keystore_exists(server, settings['source']['path']))
    refused = refused and not never_reached
    action = decide_action(uses, settings['use_after'], 0 if refused else migration.get('migrated_count') or 0)
    how = decide_how(action, server, settings)
    problems += usage_problems(uses, action, how, server, settings)
    edits = []
    plugin_switch = settings.get('plugin_switch')
    if action == ACTION_SWITCH and plugin_switch is not None and settings['source']['type'] == PLUGIN_TYPE:
        # From the keyring_file plugin to the component: the files the server reads, found on the host.
        problems += plugin_switch['problems'] + discovered_file_problems(settings, plugin_switch)
        edits = plugin_switch['edits']
    elif action == ACTION_SWITCH:
        problems += switch_problems(server, settings)
        if settings['destination']['type'] != PLUGIN_TYPE:
            problems += switch_file_problems(settings, read_members)
        edits = switch_edits(settings)
    if refused:
        problems.append(problem(COPY_REFUSED, migration.get('msg') or 'the copy cannot be planned'))
    expected = settings['destination']['path'] if (
        uses == USES_DESTINATION or (uses == USES_SOURCE and settings['use_after'] == USES_DESTINATION)) \
        else settings['source']['path']
    warnings = list(plugin_switch['warnings']) if edits and plugin_switch is not None else []
    return dict(uses=uses, action=action, how=how, expected_keystore=expected, switch_edits=edits, problems=problems,
                copy_keys=not never_reached, warnings=warnings)


def stopped_server_problems(plugin_switch):
    """A run for stopped servers needs their files found (server_files), and the server down."""
    if plugin_switch is None:
        return [problem(STOPPED_NEEDS_FILES, 'a stopped server is planned from the files it reads: it needs '
                        'server_files (the role: a switch from the keyring_file plugin to component_keyring_file)')]
    pid = plugin_switch.get('running_pid')
    if pid:
        return [problem(SERVER_RUNNING, 'the server runs (process %d) although keyring_migration_server_state is '
                        'stopped: stop it first, or run with keyring_migration_server_state: running' % pid)]
    return []


def discovered_file_problems(settings, plugin_switch):
    """The role's component_config and component_manifest, when set, must be the files this server reads."""
    found = []
    for setting, name in (('component_config', 'config'), ('component_manifest', 'manifest')):
        given, read = settings.get(setting), plugin_switch['component_files'][name]
        if given and given.rstrip('/') != read.rstrip('/'):
            found.append(problem(SWITCH_FILE_NOT_READ, 'keyring_migration_%s is %s, but this server reads %s: leave '
                                 'it unset (keyops finds it) or set it to that file' % (setting, given, read)))
    return found


def keystore_exists(server, path):
    """Whether keyring_info's report of the keystore files it was given says the file at `path` exists."""
    return any(report.get('exists') for report in server.get('keystores') or () if report.get('path') == path)
