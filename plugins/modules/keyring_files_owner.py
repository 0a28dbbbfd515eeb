#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: keyring_files_owner
short_description: Give MySQL keyring files and directories to the server's OS user
version_added: 0.1.0
description:
  - Sets the owner, group and mode of keyring data files, their C(.backup) siblings and keyring directories,
    so that the MySQL server's OS user can read and write them.
  - A keystore created by another user (root, through C(become), or a C(mysqld) started as root) makes every
    later key write fail with C(ERROR 3185 Can't find master key from keyring); this module is the fix.
options:
  path:
    description:
      - Keyring data files and/or directories. For every file, a C(<file>.backup) beside it is included too.
      - Symbolic links are followed; the results report the real path.
    type: list
    elements: path
    required: true
  owner:
    description: User that must own the files and directories (name or uid).
    type: str
    default: mysql
  group:
    description: Group of the files and directories (name or gid).
    type: str
    default: mysql
  mode:
    description: Mode of files, in octal.
    type: raw
    default: '0640'
  directory_mode:
    description: Mode of directories, in octal.
    type: raw
    default: '0750'
  recurse:
    description: Also apply to everything inside the listed directories.
    type: bool
    default: false
  missing:
    description:
      - What to do about a listed path that does not exist. V(fail) stops; V(ignore) reports and skips it.
    type: str
    choices: [fail, ignore]
    default: fail
extends_documentation_fragment:
  - keyops.mysql.attributes
  - keyops.mysql.attributes.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
  safe_file_operations:
    support: none
    details: It changes ownership and mode in place; file contents are never touched.
author:
  - keyops.mysql developers (@keyops)
'''

EXAMPLES = r'''
- name: Give the keystore and its directory back to mysql
  keyops.mysql.keyring_files_owner:
    path:
      - /var/lib/mysql-keyring
      - /var/lib/mysql-keyring/component_keyring_file
    owner: mysql
    group: mysql
'''

RETURN = r'''
files:
  description: Every file and directory looked at, with its owner, group and mode before and after.
  returned: always
  type: list
  elements: dict
  sample:
    - path: /var/lib/mysql-keyring/component_keyring_file
      state: file
      changed: true
      before: {owner: root, group: root, mode: '0600'}
      after: {owner: mysql, group: mysql, mode: '0640'}
missing:
  description: Listed paths that did not exist (with O(missing=ignore)).
  returned: always
  type: list
  elements: str
'''

import grp
import os
import pwd
import stat

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.atomic import resolve_gid, resolve_uid
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.module_base import KeyopsModule, parse_mode


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def describe(st):
    return dict(owner=_name(pwd.getpwuid, st.st_uid), group=_name(grp.getgrgid, st.st_gid),
                mode='%04o' % stat.S_IMODE(st.st_mode))


class OwnershipFixer:
    def __init__(self, module):
        self.module = module
        p = module.params
        self.uid = resolve_uid(p['owner'])
        self.gid = resolve_gid(p['group'])
        self.file_mode = parse_mode(p['mode'], 'mode')
        self.directory_mode = parse_mode(p['directory_mode'], 'directory_mode')
        self.seen = set()
        module.result.update(files=[], missing=[])

    def targets(self):
        """Real paths to fix, in a stable order: each listed path, its .backup sibling, and with recurse, the
        contents of listed directories."""
        for listed in self.module.params['path']:
            if not os.path.exists(listed):
                if self.module.params['missing'] == 'fail':
                    raise KeystoreError('no such file or directory; check the path, or set missing: ignore',
                                        path=listed)
                self.module.result['missing'].append(listed)
                continue
            yield listed
            if os.path.isdir(listed):
                if self.module.params['recurse']:
                    for root, dirs, files in os.walk(listed):
                        dirs.sort()
                        for name in sorted(dirs) + sorted(files):
                            yield os.path.join(root, name)
            elif os.path.exists(listed + '.backup'):
                yield listed + '.backup'

    def fix(self, path):
        real = os.path.realpath(path)
        if real in self.seen:
            return
        self.seen.add(real)
        st = os.stat(real)
        is_dir = stat.S_ISDIR(st.st_mode)
        want_mode = self.directory_mode if is_dir else self.file_mode
        before = describe(st)
        changed = (st.st_uid != self.uid or st.st_gid != self.gid or stat.S_IMODE(st.st_mode) != want_mode)
        if changed and not self.module.check_mode:
            try:
                os.chown(real, self.uid, self.gid)
                os.chmod(real, want_mode)
            except OSError as exc:
                raise KeystoreError('cannot change owner or mode: %s (run the task as root, with become)'
                                    % exc.strerror, path=real)
        after = dict(owner=_name(pwd.getpwuid, self.uid), group=_name(grp.getgrgid, self.gid),
                     mode='%04o' % want_mode) if changed else before
        self.module.result['files'].append(dict(path=real, state='directory' if is_dir else 'file',
                                                changed=changed, before=before, after=after))
        if changed:
            self.module.result['changed'] = True

    def run(self):
        for path in list(self.targets()):
            self.fix(path)
        if self.module._diff:
            changed = [f for f in self.module.result['files'] if f['changed']]
            self.module.result['diff'] = dict(before=dict((f['path'], f['before']) for f in changed),
                                              after=dict((f['path'], f['after']) for f in changed))


def main():
    module = KeyopsModule(
        argument_spec=KeyopsModule.generate_argspec(
            path=dict(type='list', elements='path', required=True),
            owner=dict(type='str', default='mysql'),
            group=dict(type='str', default='mysql'),
            mode=dict(type='raw', default='0640'),
            directory_mode=dict(type='raw', default='0750'),
            recurse=dict(type='bool', default=False),
            missing=dict(type='str', default='fail', choices=['fail', 'ignore']),
        ),
        supports_check_mode=True,
    )
    module.run(lambda: OwnershipFixer(module).run())


if __name__ == '__main__':
    main()
