# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a keyring configuration file names now, and the backups keyops left beside it (for keyring_info's status).

Read-only, and safe in a directory the server's OS user can write: the file is read without following a link (see
config_files.read_text), and the directory is listed through a descriptor opened the same way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.keyops.mysql.plugins.module_utils.config_files import (
    option_values, parse_json_object, read_text)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import locate

# keep_copy's names: '<name>.<pid>.<YYYY-MM-DD@HH:MM:SS>~' (AnsibleModule.backup_local's).
BACKUP_SUFFIX = re.compile(r'^\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$')
SERVER_SECTIONS = ('mysqld', 'server')


def option_value(text, name, sections=SERVER_SECTIONS):
    """The last value the server's sections of an option file give `name` (as MySQL reads: the last one wins),
    without a trailing comment or quotes."""
    values = option_values(text, sections, name)
    return (values[-1].split('#')[0].strip().strip('"\'') or None) if values else None


def backups_beside(path):
    """The names of keep_copy's backups of `path` in its directory, oldest first (their names sort by time)."""
    directory, name = locate(path)
    with directory:
        try:
            names = os.listdir(directory.fd)
        except OSError:
            return []
    found = [entry for entry in names if entry.startswith(name) and BACKUP_SUFFIX.match(entry[len(name):])]
    return [directory.join(entry) for entry in sorted(found, key=lambda entry: entry.rsplit('.', 1)[-1])]


def config_file_status(path):
    """{path, exists, format, keystore, components, backups}: the keystore a component configuration (`path`) or an
    option file (`keyring_file_data`) names, the components a manifest loads, and keyops' backups beside it."""
    text = read_text(path)
    report = dict(path=path, exists=text is not None, format=None, keystore=None, components=None,
                  backups=backups_beside(path))
    if text is None:
        return report
    if text.lstrip().startswith('{'):
        members = parse_json_object(text, path)
        report.update(format='json', keystore=members.get('path'), components=members.get('components'))
    else:
        report.update(format='option_file', keystore=option_value(text, 'keyring_file_data'))
    return report
