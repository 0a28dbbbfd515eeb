# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which files a running mysqld reads its keyring set-up from, taken from the server itself, not assumed.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.

- Its option files: its command line (/proc/<pid>/cmdline: ``--defaults-file``, ``--defaults-extra-file``,
  ``--defaults-group-suffix``, ``--no-defaults``) and the default files its own binary lists
  (``mysqld --verbose --help``: "Default options are read from the following files in the given order").
- Options on its command line that load the keyring_file plugin: no option file edit can remove them (a systemd
  unit's ExecStart, a wrapper script), so the move to the component must say where they are.
- Its component manifest and keyring_file component configuration: the global ones beside the ``mysqld`` binary
  (/proc/<pid>/exe) and in ``@@plugin_dir``, or the local ones in ``@@datadir`` when the global file says
  ``read_local_manifest`` / ``read_local_config`` (MySQL's lookup rules, as docs/upgrade-8.0-to-8.4.md states them).

Pure functions of what was read: unit tests reach every case; keyring_info reads /proc and the files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.keyops.mysql.plugins.module_utils.config_files import option_name
from ansible_collections.keyops.mysql.plugins.module_utils.option_files import plugin_list

MANIFEST = 'mysqld.my'
COMPONENT_CONFIG = 'component_keyring_file.cnf'
_HELP_MARKER = 'Default options are read from the following files in the given order:'
_DEFAULTS_OPTIONS = ('defaults_file', 'defaults_extra_file', 'defaults_group_suffix')


def command_line(argv):
    """What mysqld's arguments say about its option files, and its options that load or configure the
    keyring_file plugin: dict(defaults_file, defaults_extra_file, group_suffix, no_defaults, plugin_options)."""
    found = dict(defaults_file=None, defaults_extra_file=None, group_suffix='', no_defaults=False, plugin_options=[])
    for arg in argv[1:]:
        if not arg.startswith('--'):
            continue
        name, sep, value = arg[2:].partition('=')
        name = option_name(name)
        if name == 'no_defaults':
            found['no_defaults'] = True
        elif name in _DEFAULTS_OPTIONS and sep:
            found['group_suffix' if name == 'defaults_group_suffix' else name] = value
        elif name in ('keyring_file_data', 'keyring_file') or (
                name in ('early_plugin_load', 'plugin_load', 'plugin_load_add')
                and any(keyring for _item, keyring in plugin_list(value))):
            found['plugin_options'].append(arg)
    return found


def default_files(help_text):
    """The option files `mysqld --verbose --help` says it reads, in order ([] if the text does not say)."""
    lines = (help_text or '').splitlines()
    for index, line in enumerate(lines):
        if line.strip() == _HELP_MARKER and index + 1 < len(lines):
            return lines[index + 1].split()
    return []


def option_files(cmdline, help_files, home):
    """The option files the server reads, in order: only --defaults-file when given (none with --no-defaults);
    otherwise its default files, with --defaults-extra-file where MySQL reads it (before ~/.my.cnf) and ~ as the
    server's HOME."""
    if cmdline['no_defaults']:
        return []
    if cmdline['defaults_file']:
        return [cmdline['defaults_file']]
    files = []
    for path in help_files:
        if path.startswith('~/'):
            if cmdline['defaults_extra_file']:
                files.append(cmdline['defaults_extra_file'])
                cmdline = dict(cmdline, defaults_extra_file=None)
            if not home:
                continue
            path = os.path.join(home, path[2:])
        files.append(path)
    if cmdline['defaults_extra_file']:
        files.append(cmdline['defaults_extra_file'])
    return files


def component_file_paths(exe, plugin_dir, datadir):
    """Where MySQL looks for the manifest and the keyring_file component configuration: beside the binary and in
    the plugin directory (global), and in the data directory (local, read where the global file defers)."""
    return dict(global_manifest=os.path.join(os.path.dirname(exe), MANIFEST),
                global_config=os.path.join(plugin_dir, COMPONENT_CONFIG),
                local_manifest=os.path.join(datadir, MANIFEST), local_config=os.path.join(datadir, COMPONENT_CONFIG))


def component_files(exe, plugin_dir, datadir, read_json):
    """Where this server reads its manifest and its keyring_file component configuration: dict(manifest,
    global_manifest, config, global_config), each path the server uses, read_json(path) -> the file's object or
    None when it is missing. A global file that says read_local_* sends the server to the data directory's."""
    paths = component_file_paths(exe, plugin_dir, datadir)
    global_manifest, global_config = paths['global_manifest'], paths['global_config']
    manifest = (read_json(global_manifest) or {}).get('read_local_manifest') and paths['local_manifest']
    config = (read_json(global_config) or {}).get('read_local_config') and paths['local_config']
    return dict(manifest=manifest or global_manifest, global_manifest=global_manifest,
                config=config or global_config, global_config=global_config)


def help_variables(help_text):
    """The variable table at the end of `mysqld --verbose --help` ('datadir   /var/lib/mysql/'), as {name: value}:
    the binary's own defaults when it is run with --no-defaults."""
    found, table = {}, False
    for line in (help_text or '').splitlines():
        if line.startswith('-' * 20):
            table = True
            continue
        if table and line.strip():
            name, _sep, value = line.partition(' ')
            found[name] = value.strip()
    return found
