#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: keyring_migrate
short_description: Copy MySQL keyring keys from one keystore file to another, idempotently
version_added: 0.1.0
description:
  - Copies every key of a source keystore into a destination keystore, as MySQL's key migration does, on the
    host that holds both files. Keys are copied, never moved; the source file is only ever opened read-only.
  - The destination ends with its old keys plus the source's. A key already in the destination with the same
    type and bytes is reported as already present, so a second run changes nothing. A key with the same
    identity but another type or other bytes is a conflict; then the module fails, names every conflicting
    key, and leaves the destination byte-identical to before.
  - The destination is replaced atomically (temp file in the same directory, fsync, read-back check, rename,
    directory fsync) under a lock; a missing destination file is created.
  - Key bytes and passwords never appear in the module's results, diffs or errors.
options:
  source:
    description: The keystore to copy keys from.
    type: dict
    required: true
    suboptions: &keystore
      type:
        description:
          - The keystore's format.
          - V(keyring_file) is the 5.7/8.0 C(keyring_file) plugin's file (version 1.0 or 2.0, any architecture).
          - V(component_keyring_file) is the C(component_keyring_file) JSON file (8.0.24 and later).
          - V(component_keyring_encrypted_file) is the Enterprise encrypted component's file; its format is not
            public and is known from one public vector only (see the collection's docs).
        type: str
        required: true
        choices: [keyring_file, component_keyring_file, component_keyring_encrypted_file]
      path:
        description:
          - Absolute path of the keystore data file on the managed host. Relative paths are refused.
        type: path
        required: true
      password:
        description:
          - Password of a V(component_keyring_encrypted_file) keystore.
        type: str
  destination:
    description:
      - The keystore to copy keys into. Same suboptions as O(source). It must not be the source.
    type: dict
    required: true
    suboptions: *keystore
  online:
    description:
      - Pause the running server given by the login options (C(keyring_operations=OFF)) for exactly the copy,
        and restore its previous state afterwards, also when the copy fails.
      - Use it when a running server uses the source or the destination.
    type: bool
    default: false
  owner:
    description:
      - Owner of the destination file. A new file defaults to the source file's owner; an existing file keeps
        its owner unless this is set.
    type: str
  group:
    description:
      - Group of the destination file. A new file defaults to the source file's group; an existing file keeps
        its group unless this is set.
    type: str
  mode:
    description:
      - Mode of the destination file, in octal. A new file defaults to V(0640); an existing file keeps its mode
        unless this is set.
    type: raw
  allow_empty_source:
    description:
      - Accept a source keystore that holds no keys. By default that is an error, because a mistyped or stale
        path is the usual cause (MySQL creates an empty keystore wherever it is pointed).
    type: bool
    default: false
  backup:
    description:
      - Keep a timestamped copy of the previous destination file (C(<path>.<pid>.<time>~)) when it changes.
    type: bool
    default: false
  on_backup_file:
    description:
      - What to do when a C(<path>.backup) file lies beside the source or the destination. MySQL writes one
        during every keystore write and uses it at its next start - the C(keyring_file) plugin rolls back to
        it, the components roll forward to it - so a leftover one means the file is not the state the server
        would use.
      - V(fail) stops and explains what the server would do with it.
      - V(follow_server) takes each keystore as the server would recover it; a destination backup is then moved
        aside to C(<path>.backup.keyops-<time>) (kept, not deleted) after the write, so the server does not undo
        it.
    type: str
    choices: [fail, follow_server]
    default: fail
extends_documentation_fragment:
  - keyops.mysql.mysql
  - keyops.mysql.attributes
  - keyops.mysql.attributes.action_group
  - keyops.mysql.attributes.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff lists key ids, users and types before and after; never key bytes.
  idempotent:
    support: full
  safe_file_operations:
    support: full
notes:
  - The login options are used only with O(online=true).
  - After an online migration, a server that keeps using the source needs no restart; a server that used the
    destination must be restarted; a server that switches to the destination must be reconfigured and
    restarted. The role C(keyops.mysql.keyring_migration) applies these rules.
  - Run the module as root or as the server's OS user so the destination ends up readable by the server.
seealso:
  - module: keyops.mysql.keyring_operations
  - module: keyops.mysql.keyring_files_owner
  - name: MySQL manual, Migrating Keys Between Keyring Keystores
    description: The procedure this collection automates, including the one for several running servers.
    link: https://dev.mysql.com/doc/refman/8.4/en/keyring-key-migration.html
author:
  - keyops.mysql developers (@keyops)
'''

EXAMPLES = r'''
- name: Move the 8.0 keyring_file plugin's keys into component_keyring_file before an 8.4 upgrade
  keyops.mysql.keyring_migrate:
    source:
      type: keyring_file
      path: /var/lib/mysql-keyring/keyring
    destination:
      type: component_keyring_file
      path: /var/lib/mysql-keyring/component_keyring_file
    owner: mysql
    group: mysql

- name: Copy a running server's component keystore into an encrypted keystore while the server is paused
  keyops.mysql.keyring_migrate:
    source:
      type: component_keyring_file
      path: /var/lib/mysql-keyring/component_keyring_file
    destination:
      type: component_keyring_encrypted_file
      path: /var/lib/mysql-keyring/component_keyring_encrypted_file
      password: "{{ vault_keyring_password }}"
    online: true
    login_unix_socket: /run/mysqld/mysqld.sock
    backup: true
'''

RETURN = r'''
migrated:
  description: Keys copied into the destination (in check mode, keys that would be copied).
  returned: always
  type: list
  elements: dict
  contains:
    key_id:
      description: The key's id.
      type: str
    user_id:
      description: The key's owner; empty for server keys such as InnoDB master keys.
      type: str
    key_type:
      description: AES, RSA, DSA or SECRET.
      type: str
  sample: [{key_id: INNODBKey-3c1f5f0e-1d2f-11ef-9a0c-0242ac120002-1, user_id: '', key_type: AES}]
already_present:
  description: Source keys the destination already held with the same type and bytes. Same elements as RV(migrated).
  returned: always
  type: list
  elements: dict
conflicts:
  description: Source keys that cannot be copied, with the reason. Non-empty only when the module fails.
  returned: always
  type: list
  elements: dict
  contains:
    key_id:
      description: The key's id.
      type: str
    user_id:
      description: The key's owner.
      type: str
    key_type:
      description: The source key's type.
      type: str
    reason:
      description: V(different_type), V(different_data), V(signature_collision) or V(not_storable).
      type: str
    message:
      description: What is wrong, in words.
      type: str
source_key_count:
  description: Number of keys in the source.
  returned: always
  type: int
  sample: 12
destination_key_count:
  description: Number of keys in the destination after the task (in check mode, after it would run).
  returned: always
  type: int
  sample: 12
destination_created:
  description: Whether the destination file did not exist before.
  returned: always
  type: bool
backup_file:
  description: The copy of the previous destination, when O(backup=true) and the destination changed.
  returned: changed and O(backup=true)
  type: str
  sample: /var/lib/mysql-keyring/component_keyring_file.12345.2026-11-23@10:00:00~
backup_file_set_aside:
  description: Where a destination C(.backup) file was moved with O(on_backup_file=follow_server).
  returned: when a backup file was moved
  type: str
resumed_interrupted_pause:
  description:
    - With O(online=true), when the server was OFF because an earlier keyops run paused it and was killed before
      resuming it, that run's marker; the server is resumed at the end of this task.
  returned: when such a marker was found
  type: dict
keyring_operations:
  description: With O(online=true), the server's C(keyring_operations) before and after the task.
  returned: O(online=true)
  type: dict
  sample: {before: true, during: false, after: true}
'''

import os
import stat

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.faults import checkpoint
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.atomic import (
    resolve_gid,
    resolve_uid,
    unreachable_directory,
)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import (
    BackupPresentError,
    KeystoreError,
    MigrationConflictError,
)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import key_summary, migrate
from ansible_collections.keyops.mysql.plugins.module_utils.module_base import KEYSTORE_OPTIONS, KeyopsModule, parse_mode
from ansible_collections.keyops.mysql.plugins.module_utils.mysql import MysqlError

DEFAULT_NEW_FILE_MODE = 0o640


class KeyringMigration:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.result = module.result
        self.result.update(migrated=[], already_present=[], conflicts=[], source_key_count=0,
                           destination_key_count=0, destination_created=False)

    def keystore(self, name):
        spec = self.params[name]
        return open_keystore(spec['type'], spec['path'], spec.get('password'))

    def file_attributes(self, source, destination):
        """owner, group, mode to pass to the write: explicit ones, plus the defaults for a new file."""
        owner, group, mode = self.params['owner'], self.params['group'], parse_mode(self.params['mode'])
        if not os.path.exists(destination.path):
            st = os.stat(source.path)
            owner = st.st_uid if owner is None else owner
            group = st.st_gid if group is None else group
            mode = DEFAULT_NEW_FILE_MODE if mode is None else mode
        return owner, group, mode

    @staticmethod
    def check_reachable(destination, owner, group):
        """Refuse to write a keystore its owner (the server's OS user) could not reach."""
        if os.path.exists(destination.path) and owner is None:
            st = os.stat(destination.path)
            uid, gid = st.st_uid, st.st_gid
        else:
            uid, gid = resolve_uid(owner), resolve_gid(group)
        if uid is None:
            return
        blocked = unreachable_directory(destination.path, uid, gid if gid is not None else -1)
        if blocked is not None:
            st = os.stat(blocked)
            raise KeystoreError('the keystore\'s owner (uid %d) cannot enter the directory %s (mode %04o, owner '
                                '%d:%d), so the server could not read the keystore; fix the directory with '
                                'keyops.mysql.keyring_files_owner or chmod first'
                                % (uid, blocked, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid),
                                path=destination.path)

    def run(self):
        source, destination = self.keystore('source'), self.keystore('destination')
        if not os.path.exists(source.path):
            # Never "migrate" an empty keystore from a mistyped path (the MySQL manual's warning).
            raise KeystoreError('the source keystore does not exist; check the path', path=source.path)
        self.check_before_copy(source, destination)
        if self.params['online']:
            self.run_paused(source, destination)
        else:
            self.copy(source, destination)

    def run_paused(self, source, destination):
        session = self.module.mysql_session().connect()
        state = self.result['keyring_operations'] = dict(before=None, during=None, after=None)
        self.result['queries'] = session.queries
        try:
            state['before'] = state['during'] = state['after'] = session.get_keyring_operations()
            if not state['before'] and session.read_pause_marker():
                # OFF only because an interrupted keyops run paused it: what to restore is ON.
                self.result['resumed_interrupted_pause'] = session.read_pause_marker()
                state['before'] = True
                if not self.module.check_mode:
                    session.set_keyring_operations(False)     # rewrite the marker as this run's
            paused = state['before'] and not self.module.check_mode
            if state['before'] and self.module.check_mode:
                session.queries.extend(['SET GLOBAL keyring_operations = OFF', 'SET GLOBAL keyring_operations = ON'])
            if paused:
                session.set_keyring_operations(False)
                state['during'] = session.get_keyring_operations()
                checkpoint('after_pause')
            # Whatever happens to the copy, the server is resumed: a paused server cannot create or rotate keys.
            try:
                self.copy(source, destination)
            except BaseException:
                if paused:
                    self.resume(session, state, raise_error=False)
                raise
            if paused:
                checkpoint('before_resume')
                self.resume(session, state, raise_error=True)
        finally:
            session.close()

    def resume(self, session, state, raise_error):
        try:
            session.set_keyring_operations(True)
            state['after'] = session.get_keyring_operations()
        except MysqlError as exc:
            state['after'] = False
            self.result['resume_error'] = ('keyring_operations is still OFF on %s and could not be set back ON '
                                           '(%s): run SET GLOBAL keyring_operations = ON there now'
                                           % (session.where, exc))
            if raise_error:
                raise MysqlError(self.result.pop('resume_error'), exc.code)

    def check_before_copy(self, source, destination):
        """Checks that need no pause: done before an online run pauses the server, to keep the pause short.
        (The source's decode is kept by the Keystore object, so the copy re-reads it without re-parsing it when
        its bytes did not change meanwhile.)"""
        owner, group, _mode = self.file_attributes(source, destination)
        self.check_reachable(destination, owner, group)
        if not self.params['allow_empty_source'] and len(source.load(self.params['on_backup_file'])) == 0:
            raise KeystoreError('the source keystore holds no keys: check that the path is the keystore the server '
                                'uses (or set allow_empty_source: true)', path=source.path)

    def copy(self, source, destination):
        owner, group, mode = self.file_attributes(source, destination)
        created = not os.path.exists(destination.path)

        def keep_previous(plan):
            if self.params['backup'] and not created:
                self.result['backup_file'] = self.module.backup_local(destination.path)

        try:
            plan, written = migrate(source, destination, owner=owner, group=group, mode=mode,
                                    check_mode=self.module.check_mode, on_backup=self.params['on_backup_file'],
                                    before_write=keep_previous)
        except MigrationConflictError as exc:
            summary = exc.plan.summary()
            self.result.update(conflicts=summary['conflicts'], already_present=summary['already_present'],
                               source_key_count=summary['source_key_count'],
                               destination_key_count=summary['destination_key_count_before'])
            raise
        except BackupPresentError as exc:
            exc.hint = ('Or set on_backup_file: follow_server to take each keystore as the server would '
                        'recover it')
            raise
        summary = plan.summary()
        if not plan.source_keys:
            self.module.warn('the source keystore %s holds no keys: check that it is the keystore the server '
                             'uses' % source.path)
        self.result.update(
            migrated=summary['to_copy'], already_present=summary['already_present'],
            source_key_count=summary['source_key_count'],
            destination_key_count=summary['destination_key_count_after'],
            destination_created=created and (written is not None or self.module.check_mode),
            changed=(written.changed if written is not None else
                     self.module.check_mode and (bool(plan.to_copy) or created)))
        if written is not None and written.backup_set_aside:
            self.result['backup_file_set_aside'] = written.backup_set_aside
        if self.module._diff:
            before = [key_summary(k) for k in plan.destination_keys]
            self.result['diff'] = dict(before=dict(path=destination.path, keys=before),
                                       after=dict(path=destination.path, keys=before + summary['to_copy']))


def main():
    module = KeyopsModule(
        argument_spec=KeyopsModule.generate_argspec(
            connection=True,
            source=dict(type='dict', required=True, options=KEYSTORE_OPTIONS),
            destination=dict(type='dict', required=True, options=KEYSTORE_OPTIONS),
            online=dict(type='bool', default=False),
            owner=dict(type='str'),
            group=dict(type='str'),
            mode=dict(type='raw'),
            backup=dict(type='bool', default=False),
            allow_empty_source=dict(type='bool', default=False),
            on_backup_file=dict(type='str', default='fail', choices=['fail', 'follow_server']),
        ),
        supports_check_mode=True,
    )
    module.run(KeyringMigration(module).run)


if __name__ == '__main__':
    main()
