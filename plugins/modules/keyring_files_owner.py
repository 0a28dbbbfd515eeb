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
      - Each is changed itself, never through a symbolic link. A link at a listed path or at its C(.backup) is
        refused with an error naming it, unless it is a listed path, O(follow=true) and root owns the link.
        Directories on the way are opened one by one; a link among them is followed only if root owns it.
      - A regular file with more than one hard link is refused (another name could be a file the server's user
        wants to take over). Nothing is changed when anything is refused.
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
    description:
      - Also apply to everything inside the listed directories.
      - Recursion never leaves the named tree and never crosses or changes a symbolic link; links, fifos, sockets
        and device nodes inside are skipped with a warning (and listed in RV(skipped)).
    type: bool
    default: false
  missing:
    description:
      - What to do about a listed path that does not exist. V(fail) stops; V(ignore) reports and skips it.
    type: str
    choices: [fail, ignore]
    default: fail
  follow:
    description:
      - Follow a symbolic link at a listed path when root owns the link, and change the file it points to. Links
        owned by anyone else are always refused, and so is a link at a C(.backup) sibling.
      - Set it only for links an administrator created on purpose.
    type: bool
    default: false
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
    support: full
    details:
      - It changes ownership and mode in place, through a descriptor opened without following links (fchown,
        fchmod), after every target was checked; file contents are never touched.
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
skipped:
  description: What O(recurse) left alone (symbolic links, fifos, sockets, devices), with why.
  returned: always
  type: list
  elements: dict
  sample:
    - {path: /var/lib/mysql-keyring/old, kind: a symbolic link, reason: recursion never follows a link nor changes one}
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
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError, UnsafePathError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import (
    check_regular,
    kind_of,
    locate,
    set_owner_and_mode,
)
from ansible_collections.keyops.mysql.plugins.module_utils.module_base import KeyopsModule, parse_mode


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def describe(st):
    return dict(owner=_name(pwd.getpwuid, st.st_uid), group=_name(grp.getgrgid, st.st_gid),
                mode='%04o' % stat.S_IMODE(st.st_mode))


class Target:
    """One file or directory to fix, held open: the change goes through this descriptor, so renaming or replacing
    the name after it was checked changes nothing we touch."""

    def __init__(self, path, fd, st):
        self.path = path
        self.fd = fd
        self.st = st

    @property
    def is_dir(self):
        return stat.S_ISDIR(self.st.st_mode)


class OwnershipFixer:
    """Every target is opened and checked before anything changes (a refused one fails the task with nothing
    changed), then fixed through its descriptor (fchown, fchmod).

    Keystore directories belong to the server's OS user, who may plant anything there: a symbolic link named in
    `path` (or at a .backup sibling) is refused unless `follow` and owned by root; recursion never crosses a link
    and skips, with a warning, links, fifos, sockets and devices; a regular file with more than one hard link is
    refused."""

    def __init__(self, module):
        self.module = module
        p = module.params
        self.uid = resolve_uid(p['owner'])
        self.gid = resolve_gid(p['group'])
        self.file_mode = parse_mode(p['mode'], 'mode')
        self.directory_mode = parse_mode(p['directory_mode'], 'directory_mode')
        self.targets = []
        self.seen = set()
        module.result.update(files=[], missing=[], skipped=[])

    def add(self, target):
        key = (target.st.st_dev, target.st.st_ino)
        if key in self.seen:
            os.close(target.fd)
            return
        self.seen.add(key)
        self.targets.append(target)

    def skip(self, path, st, why):
        self.module.result['skipped'].append(dict(path=path, kind=kind_of(st.st_mode), reason=why))
        self.module.warn('%s: skipped, it is %s (%s)' % (path, kind_of(st.st_mode), why))

    def open_listed(self, listed):
        directory, name = locate(listed, follow=self.module.params['follow'])
        with directory:
            st = directory.lstat(name)
            if st is None:
                if self.module.params['missing'] == 'fail':
                    raise KeystoreError('no such file or directory; check the path, or set missing: ignore',
                                        path=listed)
                self.module.result['missing'].append(listed)
                return
            if stat.S_ISDIR(st.st_mode):
                sub = directory.subdirectory(name)
                self.add(Target(listed, sub.fd, os.fstat(sub.fd)))
                if self.module.params['recurse']:
                    self.open_tree(sub)
                return
            self.add(self.open_file(directory, name, listed, st))
            backup = directory.lstat(name + '.backup')
            if backup is not None:
                self.add(self.open_file(directory, name + '.backup', listed + '.backup', backup))

    def open_file(self, directory, name, path, st):
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePathError('is a symbolic link owned by %s; nothing was changed: remove it, or name the file '
                                  'it points to (or set follow: true if root created it on purpose)'
                                  % _name(pwd.getpwuid, st.st_uid), path=path)
        check_regular(path, st, single_link=True)
        fd = directory.open_file(name, single_link=True, st=st)
        return Target(path, fd, os.fstat(fd))

    def open_tree(self, top):
        """Everything below the open directory `top`, depth first in name order, never through a link."""
        stack = [top]
        while stack:
            directory = stack.pop()
            subdirectories = []
            for name in sorted(directory.listdir()):
                st = directory.lstat(name)
                path = directory.join(name)
                if st is None:
                    continue                         # removed meanwhile
                if stat.S_ISDIR(st.st_mode):
                    sub = directory.subdirectory(name)
                    self.add(Target(path, sub.fd, os.fstat(sub.fd)))
                    subdirectories.append(sub)
                elif stat.S_ISREG(st.st_mode):
                    self.add(self.open_file(directory, name, path, st))
                elif stat.S_ISLNK(st.st_mode):
                    self.skip(path, st, 'recursion never follows a link nor changes one')
                else:
                    self.skip(path, st, 'only regular files and directories are changed')
            stack.extend(reversed(subdirectories))

    def fix(self, target):
        st = target.st
        want_mode = self.directory_mode if target.is_dir else self.file_mode
        before = describe(st)
        changed = (st.st_uid != self.uid or st.st_gid != self.gid or stat.S_IMODE(st.st_mode) != want_mode)
        if changed and not self.module.check_mode:
            try:
                set_owner_and_mode(target.fd, st, self.uid, self.gid, want_mode)
            except OSError as exc:
                raise KeystoreError('cannot change owner or mode: %s (run the task as root, with become)'
                                    % exc.strerror, path=target.path)
        after = dict(owner=_name(pwd.getpwuid, self.uid), group=_name(grp.getgrgid, self.gid),
                     mode='%04o' % want_mode) if changed else before
        self.module.result['files'].append(dict(path=target.path, state='directory' if target.is_dir else 'file',
                                                changed=changed, before=before, after=after))
        if changed:
            self.module.result['changed'] = True

    def run(self):
        try:
            for listed in self.module.params['path']:
                self.open_listed(listed)
            for target in self.targets:
                self.fix(target)
        finally:
            for target in self.targets:
                os.close(target.fd)
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
            follow=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    module.run(lambda: OwnershipFixer(module).run())


if __name__ == '__main__':
    main()
