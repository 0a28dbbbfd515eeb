# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving one MySQL server instance from the keyring_file plugin (8.0) to the component_keyring_file component
(8.0.24 and later, and 8.4, which has no keyring plugins): which files to edit, and what forbids the move.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.

The instance is the server whose facts are given; the host may run others (systemd's ``mysqld@name`` units, or
mysqld_multi's ``[mysqldN]`` groups), which must stay on the plugin until their own move:
- its groups are the ones mysqld reads (option_files.mysqld_groups, with the ``--defaults-group-suffix`` of its
  command line), plus, under mysqld_multi, the ``[mysqldN]`` group whose ``datadir`` is the server's: mysqld_multi
  hands that group's options to the server on its command line;
- only those groups are edited (option_files.remove_keyring_plugin), and a plugin setting in a group every
  instance reads, on a host with several, forbids the move rather than moving them all;
- the component is loaded from a manifest and configured from a file in the server's own data directory, with
  global files beside the binary and in the plugin directory that only defer to the data directory's.

No I/O here: keyring_info reads the facts (the command line, the option files, the JSON files); unit tests reach
every case.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.keyops.mysql.plugins.module_utils.config_files import SECTION_LINE, option_name
from ansible_collections.keyops.mysql.plugins.module_utils.host_plan import (
    FIRST_WITH_COMPONENTS,
    problem,
    version_tuple,
)
from ansible_collections.keyops.mysql.plugins.module_utils.option_files import (
    PLUGIN_LISTS,
    Setting,
    _option,
    keyring_plugin_settings,
    mysqld_groups,
    plugin_list,
)
from ansible_collections.keyops.mysql.plugins.module_utils.server_files import (
    COMPONENT_CONFIG,
    command_line,
    component_file_paths,
)

COMPONENT = 'component_keyring_file'
COMPONENT_URN = 'file://' + COMPONENT
MULTI_GROUP = re.compile(r'^mysqld\d+$')      # mysqld_multi's [mysqldN]

# Every problem the planner can report. Messages are one line, name the file, line, group or option, and say what
# to do.
KEYRING_PLUGIN_ON_COMMAND_LINE = 'keyring_plugin_on_command_line'
KEYRING_PLUGIN_IN_SHARED_GROUP = 'keyring_plugin_in_shared_group'
KEYRING_PLUGIN_NOT_IN_OPTIONS = 'keyring_plugin_not_in_options'
KEYRING_DATA_FILE_DIFFERS = 'keyring_data_file_differs'
GLOBAL_MANIFEST_LOADS_COMPONENTS = 'global_manifest_loads_components'
GLOBAL_CONFIG_NOT_DEFERRING = 'global_config_not_deferring'
LOCAL_MANIFEST_LOADS_OTHER = 'local_manifest_loads_other'
VERSION_WITHOUT_COMPONENTS = 'version_without_components'
MYSQLD_MULTI_GROUP_AMBIGUOUS = 'mysqld_multi_group_ambiguous'

PROBLEM_CODES = (KEYRING_PLUGIN_ON_COMMAND_LINE, KEYRING_PLUGIN_IN_SHARED_GROUP, KEYRING_PLUGIN_NOT_IN_OPTIONS,
                 KEYRING_DATA_FILE_DIFFERS, GLOBAL_MANIFEST_LOADS_COMPONENTS, GLOBAL_CONFIG_NOT_DEFERRING,
                 LOCAL_MANIFEST_LOADS_OTHER, VERSION_WITHOUT_COMPONENTS, MYSQLD_MULTI_GROUP_AMBIGUOUS)


def plan_plugin_switch(facts, destination_path, server_group):
    """The move of one instance from the keyring_file plugin to component_keyring_file: dict(edits, problems,
    warnings, settings, groups, instance, component_files).

    `facts`, read from the host: version ('8.0.36-log'), datadir and plugin_dir (as the server reports them), exe
    (the mysqld binary), argv (its command line, argv[0] the binary; for a stopped server one the caller builds),
    option_tree ([path, text] of every option file it reads, in read order, includes expanded),
    keyring_file_data (the running server's, None when not known), and global_manifest, global_config,
    local_manifest, local_config (each file's JSON object, None when missing). `destination_path` is the
    component's keystore, `server_group` the server's OS group (it reads the local files through it).

    edits: keyring_config options (with `file`, a label, and for option files `remove_keyring_plugin`, the groups
    option_files.remove_keyring_plugin is given), in the order to make them. settings: every keyring_file plugin
    line of the option files and argument of the command line, as Setting.as_dict() with `mine` (one of the
    instance's groups; the command line's have file and group None, line their index in argv). instance:
    'single', 'systemd:@name' or 'mysqld_multi:mysqldN'."""
    version = facts.get('version') or ''
    datadir = facts['datadir']
    argv = list(facts.get('argv') or ())
    tree = list(facts.get('option_tree') or ())
    suffix = command_line(argv)['group_suffix']

    multi_groups, own_multi = mysqld_multi_groups(tree, datadir)
    multi = own_multi[0] if own_multi else None
    groups = mysqld_groups(version, suffix) + ([multi] if multi else [])
    if suffix:
        instance = 'systemd:' + suffix
    elif multi:
        instance = 'mysqld_multi:' + multi
    else:
        instance = 'single'
    several = bool(suffix) or bool(multi_groups)

    found = []                  # [(Setting, mine)] of the option files, in read order
    for path, text in tree:
        found += [(setting, setting.group in groups) for setting in keyring_plugin_settings(text, path)]
    mine = [setting for setting, is_mine in found if is_mine]
    on_argv = command_line_settings(argv)
    settings = [dict(setting.as_dict(), mine=is_mine) for setting, is_mine in found]
    settings += [dict(setting.as_dict(), mine=True) for setting in on_argv]

    paths = component_file_paths(facts['exe'], facts['plugin_dir'], datadir)
    local = dict(manifest=paths['local_manifest'], config=paths['local_config'])
    problems = []
    if own_multi[1:]:
        problems.append(problem(MYSQLD_MULTI_GROUP_AMBIGUOUS, 'the mysqld_multi groups %s all name datadir %s, so '
                                'which one starts this server is unknown: keep it in one group only, then run again'
                                % (', '.join('[%s]' % group for group in own_multi), datadir)))
    if version_tuple(version) < FIRST_WITH_COMPONENTS:
        problems.append(problem(VERSION_WITHOUT_COMPONENTS, 'MySQL %s has no keyring components (8.0.24 and later '
                                'have): upgrade it to 8.0.24 or later first, still on the keyring_file plugin, then '
                                'run again' % (version or '(version unknown)')))
    problems += command_line_problems(argv, on_argv, [setting for setting in mine if setting.group == multi])
    if several:
        shared = mysqld_groups(version)
        problems += [problem(KEYRING_PLUGIN_IN_SHARED_GROUP, '%s: every MySQL instance on this host reads that '
                             'group, so removing it would move the others off the keyring_file plugin too: move it '
                             "into each instance's own group ([mysqld@name] or [mysqldN]) first, then run again"
                             % _where(setting, argv))
                     for setting in mine if setting.group in shared]
    problems += active_plugin_problems(facts.get('keyring_file_data'), mine, on_argv, groups, argv)
    problems += component_file_problems(facts, paths)

    return dict(edits=switch_edits(facts, destination_path, server_group, paths, mine, groups),
                problems=problems, warnings=[local_manifest_warning(paths)],
                settings=settings, groups=groups, instance=instance, component_files=local)


def mysqld_multi_groups(tree, datadir):
    """(the [mysqldN] groups of the option files, in read order; those of them whose datadir is `datadir`): the
    last datadir a group sets is the one mysqld_multi passes on."""
    datadirs = {}
    for _path, text in tree:
        for _number, group, name, value in option_lines(text):
            if group is not None and MULTI_GROUP.match(group):
                datadirs.setdefault(group, None)
                if name == 'datadir':
                    datadirs[group] = value
    groups = list(datadirs)     # in the order first seen
    wanted = _normpath(datadir)
    return groups, [group for group in groups if datadirs[group] and _normpath(datadirs[group]) == wanted]


def option_lines(text):
    """(line number, group, name, value) of each group header (name and value None) and option line of one option
    file's text, names as MySQL compares them, values unquoted."""
    found, group = [], None
    for number, line in enumerate((text or '').splitlines(), 1):
        match = SECTION_LINE.match(line)
        if match:
            group = match.group(1).strip()
            found.append((number, group, None, None))
            continue
        option = _option(line)
        if option is not None:
            found.append((number, group) + option)
    return found


def command_line_settings(argv):
    """The command line's options that load or configure the keyring_file plugin (server_files.command_line), as
    Settings: no file, no group, `number` the argument's index in argv."""
    wanted = set(command_line(argv)['plugin_options'])
    found = []
    for index, arg in enumerate(argv):
        if index and arg in wanted:
            name, _sep, value = arg[2:].partition('=')
            found.append(Setting(None, index, None, option_name(name), value))
    return found


def command_line_problems(argv, on_argv, multi_settings):
    """The command line's plugin options, except those the instance's [mysqldN] group puts there (mysqld_multi
    passes that group's options on the command line, so editing the group removes them)."""
    left = [setting for setting in on_argv
            if not any(_same_setting(setting, other) for other in multi_settings)]
    if not left:
        return []
    return [problem(KEYRING_PLUGIN_ON_COMMAND_LINE, "the server's command line carries %s, which no option file "
                    "edit removes: they come from its service unit (ExecStart, or an Environment such as "
                    "MYSQLD_OPTS) or a wrapper script; remove them there, then run again"
                    % ' '.join(argv[setting.number] for setting in left))]


def active_plugin_problems(keyring_file_data, mine, on_argv, groups, argv):
    """A running server on the plugin whose options do not load it, or whose options name another keystore."""
    if keyring_file_data is None:
        return []
    found = []
    if not any(setting.name in PLUGIN_LISTS for setting in mine + on_argv):
        found.append(problem(KEYRING_PLUGIN_NOT_IN_OPTIONS, 'the keyring_file plugin is active (keyring_file_data %s) '
                             'but no early-plugin-load, plugin-load or plugin-load-add in %s or on the command line '
                             'loads it: it was most likely installed with INSTALL PLUGIN and loads from the '
                             'mysql.plugin table, which keyops cannot change; a DBA must UNINSTALL PLUGIN keyring_file '
                             '(loading it with early-plugin-load=keyring_file.so in an option group of this instance '
                             'instead), then run again'
                             % (keyring_file_data or "''", ' '.join('[%s]' % group for group in groups))))
    effective = None            # the last one mysqld reads: the files in order, then the command line
    for setting in mine + on_argv:
        if setting.name == 'keyring_file_data':
            effective = setting
    if keyring_file_data and effective is not None and effective.value \
            and _normpath(effective.value) != _normpath(keyring_file_data):
        found.append(problem(KEYRING_DATA_FILE_DIFFERS, 'the running server keeps its keys in %s but %s sets '
                             'keyring_file_data %s (a SET PERSIST in the data directory\'s mysqld-auto.cnf, or an '
                             'option changed since the server started): find which is right, make the option say it '
                             'and RESET PERSIST keyring_file_data, then run again'
                             % (keyring_file_data, _where(effective, argv), effective.value)))
    return found


def component_file_problems(facts, paths):
    """Global files that load or configure components for every instance on the host, and a local manifest the
    switch would overwrite."""
    found = []
    global_manifest = facts.get('global_manifest')
    if global_manifest is not None and not _member(global_manifest, 'read_local_manifest'):
        found.append(problem(GLOBAL_MANIFEST_LOADS_COMPONENTS, '%s does not defer to the data directory (no '
                             '"read_local_manifest": true), so it loads components (%s) for every instance on this '
                             'host: replace it with {"read_local_manifest": true} and move its components into each '
                             "data directory's mysqld.my, then run again"
                             % (paths['global_manifest'], _member(global_manifest, 'components') or 'none now')))
    global_config = facts.get('global_config')
    if global_config is not None and not _member(global_config, 'read_local_config'):
        found.append(problem(GLOBAL_CONFIG_NOT_DEFERRING, '%s does not defer to the data directory (no '
                             '"read_local_config": true), so it configures %s for every instance on this host: '
                             'replace it with {"read_local_config": true} and move its settings into each data '
                             "directory's %s, then run again"
                             % (paths['global_config'], COMPONENT, COMPONENT_CONFIG)))
    loaded = manifest_components(facts.get('local_manifest'))
    if loaded and COMPONENT_URN not in loaded:
        found.append(problem(LOCAL_MANIFEST_LOADS_OTHER, '%s already loads %s, which the switch would replace with %s: '
                             'merge them by hand (one "components" value, URNs separated by commas; a server loads '
                             'one keyring component), then run again'
                             % (paths['local_manifest'], ','.join(loaded), COMPONENT_URN)))
    return found


def manifest_components(manifest):
    """The component URNs a manifest's `components` lists (MySQL reads them as one comma-separated string)."""
    value = _member(manifest, 'components')
    if not isinstance(value, str):
        return [str(value)] if value else []
    return [urn.strip() for urn in value.split(',') if urn.strip()]


def switch_edits(facts, destination_path, server_group, paths, mine, groups):
    """The keyring_config edits, in the order they are made.

    The component is loaded and configured per instance, from the manifest and configuration in its own data
    directory, with global files (beside the binary, in the plugin directory) that only defer to them: several
    instances on one host each get their own keystore, and an instance still on the plugin, with no local files,
    loads nothing new. The global files are written only where missing (one that exists and does not defer is a
    problem, never overwritten); the option files' plugin lines go last, once the component's files are there."""
    edits = [dict(file='component_config', path=paths['local_config'], format='json',
                  settings=dict(path=destination_path), defaults=dict(read_only=False), password=False,
                  owner='root', group=server_group, mode='0640')]
    loaded = manifest_components(facts.get('local_manifest'))
    if COMPONENT_URN not in loaded or set(loaded) == {COMPONENT_URN}:
        # One that lists the component with others (merged by hand) is left as it is: the edit would drop them.
        edits.append(dict(file='component_manifest', path=paths['local_manifest'], format='json',
                          settings=dict(components=COMPONENT_URN), defaults={}, password=False,
                          owner='root', group=server_group, mode='0640'))
    if facts.get('global_config') is None:
        edits.append(dict(file='global_component_config', path=paths['global_config'],
                          format='json', settings=dict(read_local_config=True), defaults={}, password=False,
                          owner='root', group='root', mode='0644'))
    if facts.get('global_manifest') is None:
        edits.append(dict(file='global_component_manifest', path=paths['global_manifest'],
                          format='json', settings=dict(read_local_manifest=True), defaults={}, password=False,
                          owner='root', group='root', mode='0644'))
    option_files = []
    for setting in mine:
        if setting.path not in option_files:
            option_files.append(setting.path)
    edits += [dict(file='option_file', path=path, format='option_file', remove_keyring_plugin=list(groups))
              for path in option_files]
    return edits


def local_manifest_warning(paths):
    return ('%s is in the data directory, which the server\'s OS user owns: that user can replace it, and MySQL '
            'loads the components it names at the next start; on a single-instance host a root-owned global '
            'manifest (%s) that loads %s itself is the hardened alternative'
            % (paths['local_manifest'], paths['global_manifest'], COMPONENT_URN))


def _member(document, name):
    return document.get(name) if isinstance(document, dict) else None


def _same_setting(setting, other):
    """Whether two settings of one option set the same thing (plugin lists item by item, paths normalised)."""
    if setting.name != other.name:
        return False
    if setting.name in PLUGIN_LISTS:
        return [item.strip() for item, _k in plugin_list(setting.value)] == [
            item.strip() for item, _k in plugin_list(other.value)]
    if setting.name == 'keyring_file_data':
        return _normpath(setting.value) == _normpath(other.value)
    return (setting.value or '').strip() == (other.value or '').strip()


def _where(setting, argv):
    """file:line [group] option of an option file's setting, the argument itself of the command line's."""
    if setting.path is None:
        return 'the command line (%s)' % argv[setting.number]
    return '%s:%d [%s] %s' % (setting.path, setting.number, setting.group, setting.name)


def _normpath(path):
    path = (path or '').strip()
    return os.path.normpath(path) if path else ''
