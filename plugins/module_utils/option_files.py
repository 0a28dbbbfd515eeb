# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MySQL option files as a server reads them, and the edit that takes the keyring_file plugin out of them.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.

What MySQL's own parser does (my_print_defaults of 9.7.4, checked in tests/integration/test_option_files_mysql.py):
- ``!include FILE`` reads FILE there; ``!includedir DIR`` reads DIR's ``*.cnf`` files (not ``*.ini``), sorted by
  name; both may appear in any group.
- An option is ``name``, ``name = value``; ``loose-``/``loose_`` prefixes and dashes/underscores do not change which
  option it is; a value may be quoted and followed by a ``#`` comment; ``#`` and ``;`` lines are comments.
- mysqld reads [mysqld], [server] and [mysqld-MAJOR.MINOR], and with ``--defaults-group-suffix=@name`` (systemd's
  ``mysqld@name``) also [mysqld@name] and [server@name]; mysqld_multi hands instance N the options of [mysqldN] on
  its command line, and mysqld N still reads [mysqld] and [server] itself.

The edit removes what an 8.4 server no longer knows and the plugin's loading: ``keyring_file.so`` from the
``early-plugin-load``, ``plugin-load`` and ``plugin-load-add`` lists (the other plugins stay on the line; a line
left empty goes), and the ``keyring_file_data`` and ``keyring_file`` (the plugin's load option) lines - only in
the groups it is told are this instance's. Pure functions of the text: unit tests reach every case.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.keyops.mysql.plugins.module_utils.config_files import SECTION_LINE, option_name

OPTION_LINE = re.compile(r'^(\s*)([A-Za-z0-9_-]+)(?:(\s*=\s*)(.*?))?(\s*)$')
INCLUDE_LINE = re.compile(r'^\s*!(include|includedir)\s+(.+?)\s*$')

PLUGIN_LISTS = ('early_plugin_load', 'plugin_load', 'plugin_load_add')
PLUGIN_OPTIONS = ('keyring_file_data', 'keyring_file')
PLUGIN_LIBRARY = 'keyring_file'


def mysqld_groups(version=None, suffix=''):
    """The groups mysqld reads: [mysqld], [server], [mysqld-MAJOR.MINOR] (version '8.0.36' -> 'mysqld-8.0'), and
    with a defaults group suffix (systemd's mysqld@name: '@name') the same groups with it."""
    groups = ['mysqld', 'server']
    if version:
        groups.append('mysqld-%s' % '.'.join(str(version).split('.')[:2]))
    if suffix:
        groups += [group + suffix for group in groups]
    return groups


def split_value(text):
    """(value, quote, comment) of what follows the `=`: the value unquoted, the quote it had ('' if none), and a
    trailing `#` comment (with the spaces before it) kept as written."""
    text = text or ''
    if text[:1] in ('"', "'"):
        end = text.find(text[0], 1)
        if end > 0:
            return text[1:end], text[0], text[end + 1:]
    hash_at = text.find('#')
    if hash_at < 0:
        return text.strip(), '', ''
    value = text[:hash_at].rstrip()
    return value, '', text[len(value):]


def plugin_list(value):
    """The items of a plugin-load list ('name=lib.so;lib2.so'), and which of them load the keyring_file plugin."""
    items = [item for item in value.split(';') if item.strip()]
    return [(item, _loads_keyring_file(item)) for item in items]


def _loads_keyring_file(item):
    name, _sep, library = item.strip().rpartition('=')
    library = os.path.basename(library.strip())
    return os.path.splitext(library)[0] == PLUGIN_LIBRARY or name.strip().lower() == PLUGIN_LIBRARY


class Setting(object):
    """One option line of an option file that concerns the keyring_file plugin."""

    def __init__(self, path, number, group, name, value):
        self.path, self.number, self.group, self.name, self.value = path, number, group, name, value

    def as_dict(self):
        return dict(file=self.path, line=self.number, group=self.group, option=self.name, value=self.value)


def keyring_plugin_settings(text, path=''):
    """Every line of `text` (one file) that loads or configures the keyring_file plugin, in any group: the
    keyring_file_data and keyring_file options, and plugin-load lists naming keyring_file.so."""
    found, group = [], None
    for number, line in enumerate((text or '').splitlines(), 1):
        match = SECTION_LINE.match(line)
        if match:
            group = match.group(1).strip()
            continue
        option = _option(line)
        if option is None:
            continue
        name, value = option
        if name in PLUGIN_OPTIONS or (name in PLUGIN_LISTS and any(k for _i, k in plugin_list(value))):
            found.append(Setting(path, number, group, name, value))
    return found


def _option(line):
    """(normalised name, unquoted value) of an option line, or None for anything else."""
    if line.lstrip()[:1] in ('#', ';', '!', ''):
        return None
    match = OPTION_LINE.match(line)
    if not match:
        return None
    value = split_value(match.group(4))[0] if match.group(3) else ''
    return option_name(match.group(2)), value


def remove_keyring_plugin(text, groups):
    """(new text, edits): `text` without the keyring_file plugin in the given groups - keyring_file.so taken out of
    each plugin-load list (its other plugins kept, in order, quoted and commented as before; a list left empty is
    removed), keyring_file_data and keyring_file lines removed. Other groups are never touched. Each edit is
    dict(line, group, option, before, after), after None for a removed line."""
    lines = (text or '').splitlines(True)
    out, edits, group = [], [], None
    for number, line in enumerate(lines, 1):
        match = SECTION_LINE.match(line)
        if match:
            group = match.group(1).strip()
        option = None if match or group not in groups else _option(line)
        if option is None:
            out.append(line)
            continue
        name, value = option
        if name in PLUGIN_OPTIONS:
            edits.append(dict(line=number, group=group, option=name, before=line.rstrip('\r\n'), after=None))
            continue
        items = plugin_list(value) if name in PLUGIN_LISTS else []
        if not any(keyring for _item, keyring in items):
            out.append(line)
            continue
        kept = [item for item, keyring in items if not keyring]
        new_line = _with_value(line, ';'.join(kept)) if kept else None
        edits.append(dict(line=number, group=group, option=name, before=line.rstrip('\r\n'),
                          after=None if new_line is None else new_line.rstrip('\r\n')))
        if new_line is not None:
            out.append(new_line)
    return ''.join(out), edits


def _with_value(line, value):
    """The option line with its value replaced, its spelling, spacing, quote and trailing comment kept."""
    ending = line[len(line.rstrip('\r\n')):]
    match = OPTION_LINE.match(line.rstrip('\r\n'))
    _old, quote, comment = split_value(match.group(4))
    return '%s%s%s%s%s%s%s%s' % (match.group(1), match.group(2), match.group(3), quote, value, quote, comment,
                                 ending)


def includes(text, path):
    """The files `text` (read from `path`) includes, in order: ('file', path) for !include, ('dir', path) for
    !includedir; relative paths are taken from path's directory."""
    found = []
    for line in (text or '').splitlines():
        match = INCLUDE_LINE.match(line)
        if match:
            target = match.group(2)
            if not os.path.isabs(target):
                target = os.path.join(os.path.dirname(path), target)
            found.append(('dir' if match.group(1) == 'includedir' else 'file', target))
    return found


def included_dir_files(names):
    """The files of an !includedir directory MySQL reads: *.cnf, sorted by name."""
    return sorted(name for name in names if name.endswith('.cnf'))


def read_tree(path, read, listdir):
    """Every option file `path` reads, itself first and each include where it appears, as [(path, text)]:
    read(path) -> text or None (missing), listdir(dir) -> names or None. A file already read is not read again
    (an include loop ends there)."""
    seen, tree = set(), []

    def visit(current):
        if current in seen:
            return
        seen.add(current)
        text = read(current)
        if text is None:
            return
        tree.append((current, text))
        for kind, target in includes(text, current):
            if kind == 'file':
                visit(target)
            else:
                for name in included_dir_files(listdir(target) or ()):
                    visit(os.path.join(target, name))
    visit(path)
    return tree


def option_values(tree, groups, name):
    """The values of option `name` (any spelling) in the given groups of the tree [(path, text)], in the order the
    server reads them: the last one is the one it uses."""
    wanted, values = option_name(name), []
    for _path, text in tree:
        group = None
        for line in (text or '').splitlines():
            match = SECTION_LINE.match(line)
            if match:
                group = match.group(1).strip()
                continue
            option = _option(line) if group in groups else None
            if option is not None and option[0] == wanted:
                values.append(option[1])
    return values
