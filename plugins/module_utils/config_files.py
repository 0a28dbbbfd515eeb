# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files a keystore switch rewrites: a keyring component's JSON configuration or manifest, and one option of a
MySQL option file. Edits are pure functions of the text (unit-tested); reading and writing go through safe_fs and
write_atomically, because the component configuration and the local manifest live in the data directory, which the
server's OS user can write.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.atomic import write_atomically
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import (
    KeystoreError,
    KeystoreNotFoundError,
)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import read_file

SECRET_MEMBER = 'password'
REDACTED = '********'


def read_text(path, follow=False):
    """The file's text, or None if it does not exist; a link, a hard-linked file, a fifo or a device is refused."""
    try:
        data = read_file(path, follow=follow, single_link=True)
    except KeystoreNotFoundError:
        return None
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        raise KeystoreError('is not UTF-8 text; check that this is the right file', path=path)


def parse_json_object(text, path):
    """The JSON object of a component configuration or manifest (an empty file counts as {})."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        # The position only: the text may hold a keystore password.
        raise KeystoreError('is not valid JSON (line %d, column %d); fix or remove it' % (exc.lineno, exc.colno),
                            path=path)
    if not isinstance(value, dict):
        raise KeystoreError('holds JSON that is not an object; a keyring configuration or manifest is one', path=path)
    return value


def render_json(members):
    return json.dumps(members) + '\n'


def redacted(members):
    """The members as they may be shown: the password replaced."""
    return dict((name, REDACTED if name == SECRET_MEMBER else value) for name, value in members.items())


OPTION_LINE = re.compile(r'^(\s*)((?:loose[-_])?[A-Za-z0-9_-]+)(\s*=\s*|\s*$)(.*)$')
SECTION_LINE = re.compile(r'^\s*\[([^\]]+)\]\s*(?:[#;].*)?$')


def option_name(text):
    """An option name as MySQL compares it: without `loose-`, dashes as underscores."""
    name = text.lower()
    if name.startswith('loose-') or name.startswith('loose_'):
        name = name[len('loose-'):]
    return name.replace('-', '_')


def option_values(text, sections, name):
    """The values `name` has in the given sections of an option file, in file order (any spelling: loose-, dashes),
    each as written after the `=`."""
    values, current = [], None
    for line in (text or '').splitlines():
        match = SECTION_LINE.match(line)
        if match:
            current = match.group(1).strip()
        elif current in sections:
            match = OPTION_LINE.match(line)
            if match and option_name(match.group(2)) == option_name(name):
                values.append(match.group(4).strip())
    return values


def set_option(text, section, name, value):
    """`text` with option `name` set to `value` in [section] only: an existing line (any spelling: loose-, dashes)
    keeps its spelling and gets the value; otherwise the line goes right after the section header, and a missing
    section is added at the end. Lines of other sections ([mysqld@other], [mysqld_multi] ...) are never touched."""
    lines = (text or '').splitlines(True)
    wanted = option_name(name)
    current = None
    header_at = None
    found = False
    for index, line in enumerate(lines):
        match = SECTION_LINE.match(line)
        if match:
            current = match.group(1).strip()
            if current == section and header_at is None:
                header_at = index
            continue
        if current != section:
            continue
        match = OPTION_LINE.match(line)
        if match and option_name(match.group(2)) == wanted:
            ending = '\n' if line.endswith('\n') else ''
            lines[index] = '%s%s = %s%s' % (match.group(1), match.group(2), value, ending)
            found = True
    if not found:
        new_line = '%s = %s\n' % (name, value)
        if header_at is not None:
            lines.insert(header_at + 1, new_line)
        else:
            if lines and not lines[-1].endswith('\n'):
                lines[-1] += '\n'
            lines.extend((['\n'] if lines else []) + ['[%s]\n' % section, new_line])
    return ''.join(lines)


def write_text(path, text, owner=None, group=None, mode=None, follow=False):
    """Replace the file atomically; an existing file keeps its owner, group, mode and SELinux context."""
    return write_atomically(path, text.encode('utf-8'), owner=owner, group=group, mode=mode, follow=follow)
