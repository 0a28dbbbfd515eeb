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
          - These three are read and written by the collection itself. The others are MySQL Enterprise keyrings
            with no public format; the collection migrates them only through MySQL's own tools (see O(method)) -
            plugins V(keyring_encrypted_file), V(keyring_okv), V(keyring_aws), V(keyring_hashicorp),
            V(keyring_oci), and components V(component_keyring_kmip), V(component_keyring_aws),
            V(component_keyring_hashicorp) and V(component_keyring_oci).
        type: str
        required: true
        choices: [component_keyring_aws, component_keyring_encrypted_file, component_keyring_file,
                  component_keyring_hashicorp, component_keyring_kmip, component_keyring_oci, keyring_aws,
                  keyring_encrypted_file, keyring_file, keyring_hashicorp, keyring_oci, keyring_okv]
      path:
        description:
          - Absolute path of the keystore data file on the managed host. Relative paths are refused.
          - Required for the file keystores (V(keyring_file), V(keyring_encrypted_file),
            V(component_keyring_file), V(component_keyring_encrypted_file)); unused for the others.
          - Through MySQL's tools it becomes the plugin's C(<plugin>_data) option or the component's C(path).
        type: path
      password:
        description:
          - Password of a V(component_keyring_encrypted_file) or V(keyring_encrypted_file) keystore.
          - Through MySQL's tools it becomes C(keyring_encrypted_file_password) or the component's C(password),
            written to a private 0600 file, never on the command line.
        type: str
      options:
        description:
          - Only with MySQL's tools. The keyring's own options, not secret, for example
            C(keyring_okv_conf_dir) for a plugin, or the JSON configuration of a component
            (C(component_keyring_oci.cnf) keys).
          - For a plugin they go into the tool's option file as C(name=value); for a component they are the
            configuration file the tool reads for that side.
          - Names that look like secrets (password, secret, token, passphrase, credential) are refused here; put
            them in O(source.secret_options).
        type: dict
      secret_options:
        description:
          - Only with MySQL's tools. Like O(source.options), for secret values (for example
            C(keyring_hashicorp_secret_id)). They are written only to the tool's private 0600 files and never
            appear in the module's output.
        type: dict
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
      - To keep the pause short, both keystores are read, the plan made (a conflict fails the task without
        pausing) and the destination's new bytes rendered and checked before the pause. Paused, the module
        only checks that neither file changed meanwhile (otherwise it does the whole copy again, paused) and
        writes. When there is nothing to copy, the server is not paused at all.
      - With MySQL's tools, the tool pauses and resumes the server itself (C(--keyring-migration-socket) and
        friends, or C(--online-migration)) with the login options, passed in its private option file. The module
        leaves its pause marker first and, once the tool has ended or died, sets C(keyring_operations) ON again
        if the tool left it OFF. A server already paused by someone else is refused, since the tool would resume
        it.
    type: bool
    default: false
  method:
    description:
      - How to copy the keys.
      - V(auto) copies natively when the collection reads both formats (V(keyring_file),
        V(component_keyring_file), V(component_keyring_encrypted_file)), and runs MySQL's own tool otherwise.
      - V(native) always copies natively (fails for the Enterprise types).
      - V(mysql_tool) always runs MySQL's tool on the host - C(mysqld) in key migration mode for any pair
        involving a plugin, C(mysql_migrate_keyring) for component to component.
      - MySQL's tools are judged by their output, not their exit status (C(mysql_migrate_keyring) exits 0 when it
        refuses or skips keys). Where the collection reads the destination, every source key is checked in it
        afterwards. A file destination is snapshotted first and restored byte-identical when the run is judged
        a failure. Where the collection cannot read the keystores, a record of the last successful run on the
        host (O(tool.record_dir)) makes a re-run a no-op while the files are unchanged.
    type: str
    choices: [auto, native, mysql_tool]
    default: auto
  tool:
    description: Where MySQL's tools are on the host, and how to run them. Used only when a tool runs.
    type: dict
    default: {}
    suboptions:
      mysqld:
        description: Absolute path of C(mysqld), run as the migration server.
        type: path
        default: /usr/sbin/mysqld
      mysql_migrate_keyring:
        description: Absolute path of C(mysql_migrate_keyring).
        type: path
        default: /usr/bin/mysql_migrate_keyring
      plugin_dir:
        description: The directory holding the keyring plugins and components (C(--plugin-dir), C(--component-dir)).
        type: path
        default: /usr/lib/mysql/plugin
      user:
        description:
          - The server's OS user. The migration server gets C(--user); C(mysql_migrate_keyring) is started as this
            user. Keystores the tool creates are then owned by it.
        type: str
        default: mysql
      timeout:
        description: Seconds after which the tool is killed; the run then fails and the destination is restored.
        type: int
        default: 600
      record_dir:
        description: Where the module keeps the record of each successful tool run (fingerprints and key ids only).
        type: path
        default: /var/lib/keyops-mysql/tool-runs
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
  max_keys_listed:
    description:
      - List at most this many keys in each of RV(migrated), RV(already_present) and RV(conflicts), and in
        the diff. RV(migrated_count), RV(already_present_count) and RV(conflict_count) always give the totals.
      - Results are serialised and processed by Ansible, which takes seconds for a hundred thousand keys;
        the default keeps a large keystore's run fast. Use V(0) to list no keys.
    type: int
    default: 1000
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
  - With MySQL's tools, O(owner), O(group), O(mode), O(backup) and O(on_backup_file=follow_server) do not apply to
    what the tool writes; the tool writes as O(tool.user).
  - What MySQL 9.7 community binaries cannot show (they ship no keyring plugin and one keyring component) is listed
    in the collection's docs/migration-tool.md.
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
  description:
    - Keys copied into the destination (in check mode, keys that would be copied), the first
      O(max_keys_listed) of them; RV(migrated_count) counts them all.
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
migrated_count:
  description: How many keys were copied (in check mode, would be copied).
  returned: always
  type: int
  sample: 12
already_present:
  description:
    - Source keys the destination already held with the same type and bytes, the first O(max_keys_listed) of
      them. Same elements as RV(migrated).
  returned: always
  type: list
  elements: dict
already_present_count:
  description: How many source keys the destination already held.
  returned: always
  type: int
  sample: 0
conflict_count:
  description: How many source keys conflict with the destination. Non-zero only when the module fails.
  returned: always
  type: int
  sample: 0
keys_listed_truncated:
  description: Whether RV(migrated), RV(already_present) or RV(conflicts) lists fewer keys than there are.
  returned: always
  type: bool
  sample: false
conflicts:
  description:
    - Source keys that cannot be copied, with the reason, the first O(max_keys_listed) of them. Non-empty only
      when the module fails.
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
  description:
    - With O(online=true), the server's C(keyring_operations) before, during and after the copy.
    - RV(keyring_operations.during) equals RV(keyring_operations.before) when the server was not paused
      because there was nothing to copy (see RV(paused)).
  returned: O(online=true)
  type: dict
  sample: {before: true, during: false, after: true}
  contains:
    before:
      description: C(keyring_operations) when the module connected (ON if only an interrupted keyops run had paused it).
      type: bool
    during:
      description: C(keyring_operations) while the keys were copied.
      type: bool
    after:
      description: C(keyring_operations) when the module finished.
      type: bool
paused:
  description: Whether the module set C(keyring_operations) OFF for the copy (and back afterwards).
  returned: O(online=true)
  type: bool
  sample: true
method:
  description: How the keys were (or would be) copied - V(native), V(migration_server) or V(mysql_migrate_keyring).
  returned: always
  type: str
  sample: migration_server
tool_command:
  description:
    - The tool's command line, with its private work directory shown as C(<workdir>). It never holds a secret.
  returned: when a tool is used
  type: list
  elements: str
  sample: [/usr/sbin/mysqld, --defaults-file=<workdir>/tool.cnf, --user=mysql, '...']
tool_output:
  description:
    - What the tool printed (the last 8000 characters of each stream, secrets masked), its exit status, and the
      collection's verdict on it.
  returned: when a tool ran
  type: dict
tool_skipped:
  description: Why the tool was not run because there was nothing to do.
  returned: when a tool would have been used and every key is known to be there already
  type: str
tool_left_paused:
  description: True when the tool ended or died leaving C(keyring_operations) OFF and the module set it ON.
  returned: when that happened
  type: bool
destination_restored:
  description: True when a failed tool run had changed the destination file and the module put it back.
  returned: when a tool run failed
  type: bool
run_record:
  description: The record of this successful tool run on the host.
  returned: when a tool run succeeded
  type: str
previous_run:
  description: The record of the previous successful run, when the tool was not run again because of it.
  returned: when that happened
  type: dict
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
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import (
    key_summary,
    migrate,
    prepare_migration,
)
from ansible_collections.keyops.mysql.plugins.module_utils.module_base import KEYSTORE_OPTIONS, KeyopsModule, parse_mode
from ansible_collections.keyops.mysql.plugins.module_utils.mysql import MysqlError
from ansible_collections.keyops.mysql.plugins.module_utils import migration_tool

# Keystores as keyring_migrate takes them: the native formats plus the Enterprise ones only MySQL's tools read.
MIGRATE_KEYSTORE_OPTIONS = dict(
    KEYSTORE_OPTIONS,
    type=dict(type='str', required=True,
              choices=sorted(set(migration_tool.NATIVE_TYPES) | set(migration_tool.ALL_TYPES))),
    path=dict(type='path'),
    options=dict(type='dict'),
    secret_options=dict(type='dict', no_log=True),
)
TOOL_OPTIONS = dict(
    mysqld=dict(type='path', default=migration_tool.DEFAULT_TOOL_SETTINGS['mysqld']),
    mysql_migrate_keyring=dict(type='path', default=migration_tool.DEFAULT_TOOL_SETTINGS['mysql_migrate_keyring']),
    plugin_dir=dict(type='path', default=migration_tool.DEFAULT_TOOL_SETTINGS['plugin_dir']),
    user=dict(type='str', default=migration_tool.DEFAULT_TOOL_SETTINGS['user']),
    timeout=dict(type='int', default=migration_tool.DEFAULT_TOOL_SETTINGS['timeout']),
    record_dir=dict(type='path', default=migration_tool.DEFAULT_RECORD_DIR),
)

DEFAULT_NEW_FILE_MODE = 0o640


class KeyringMigration:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.result = module.result
        self.result.update(migrated=[], already_present=[], conflicts=[], migrated_count=0, already_present_count=0,
                           conflict_count=0, keys_listed_truncated=False, source_key_count=0,
                           destination_key_count=0, destination_created=False)

    def summary(self, plan):
        """plan.summary() with at most max_keys_listed keys of each kind, and the counts, into the result."""
        listed = max(self.params['max_keys_listed'], 0)
        summary = plan.summary(listed)
        self.result.update(
            migrated=summary['to_copy'], already_present=summary['already_present'],
            conflicts=summary['conflicts'], migrated_count=summary['to_copy_count'],
            already_present_count=summary['already_present_count'], conflict_count=summary['conflict_count'],
            keys_listed_truncated=max(summary['to_copy_count'], summary['already_present_count'],
                                      summary['conflict_count']) > listed,
            source_key_count=summary['source_key_count'])
        return summary

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
        method = migration_tool.choose_method(self.params['source']['type'], self.params['destination']['type'],
                                              self.params['method'])
        if method != migration_tool.METHOD_NATIVE:
            try:
                migration_tool.ToolMigration(self.params, method, self.module.check_mode, self.module._diff,
                                             self.module.mysql_session, self.result, self.module.warn).run()
            finally:
                # The tool path lists every key it knows of (a tool's keystores are small): count them too.
                for listed, count in (('migrated', 'migrated_count'), ('already_present', 'already_present_count'),
                                      ('conflicts', 'conflict_count')):
                    self.result[count] = len(self.result.get(listed) or [])
            return
        self.result['method'] = method
        for name in ('source', 'destination'):
            if not self.params[name].get('path'):
                raise KeystoreError('%s.path is required to copy keys natively' % name)
            if self.params[name].get('options') or self.params[name].get('secret_options'):
                self.module.warn('%s.options and %s.secret_options are for MySQL\'s tools and are not used by '
                                 'method native' % (name, name))
        source, destination = self.keystore('source'), self.keystore('destination')
        if not os.path.exists(source.path):
            # Never "migrate" an empty keystore from a mistyped path (the MySQL manual's warning).
            raise KeystoreError('the source keystore does not exist; check the path', path=source.path)
        try:
            self.check_before_copy(source, destination)
            prepared = self.prepare(source, destination)
            if self.params['online']:
                self.run_paused(source, destination, prepared)
            else:
                self.copy(source, destination, prepared)
        except BackupPresentError as exc:
            # Raised wherever a keystore is first read (the check, the preparation or the copy).
            if self.params['on_backup_file'] == 'fail':
                exc.hint = ('Or set on_backup_file: follow_server to take each keystore as the server would '
                            'recover it')
            raise

    def prepare(self, source, destination):
        """prepare_migration() where it applies (no .backup handling asked for): the plan and the new bytes,
        made before any pause. Conflicts fail here, before the server is touched."""
        if self.params['on_backup_file'] != 'fail':
            return None
        try:
            return prepare_migration(source, destination)
        except MigrationConflictError as exc:
            self.report_conflicts(exc)
            raise
        except KeystoreError:
            if not self.params['online']:
                raise
            # Unpaused, a server may be rewriting a keystore as it is read: the paused copy decides.
            return None

    def nothing_to_write(self, source, destination, prepared):
        if prepared is None or prepared.plan.to_copy or prepared.plan.destination_sha256 is None:
            return False
        owner, group, mode = self.file_attributes(source, destination)
        return destination._attributes_match(owner, group, mode)

    def run_paused(self, source, destination, prepared):
        session = self.module.mysql_session().connect()
        state = self.result['keyring_operations'] = dict(before=None, during=None, after=None)
        self.result['queries'] = session.queries
        self.result['paused'] = False
        try:
            state['before'] = state['during'] = state['after'] = session.get_keyring_operations()
            if not state['before'] and session.read_pause_marker():
                # OFF only because an interrupted keyops run paused it: what to restore is ON.
                self.result['resumed_interrupted_pause'] = session.read_pause_marker()
                state['before'] = True
                if not self.module.check_mode:
                    session.set_keyring_operations(False)     # rewrite the marker as this run's
            # A pause that nothing would happen in is skipped (unless it is an interrupted run's, to undo).
            needed = state['before'] and not (self.nothing_to_write(source, destination, prepared)
                                              and 'resumed_interrupted_pause' not in self.result)
            paused = needed and not self.module.check_mode
            if needed and self.module.check_mode:
                session.queries.extend(['SET GLOBAL keyring_operations = OFF', 'SET GLOBAL keyring_operations = ON'])
            if paused:
                session.set_keyring_operations(False)
                self.result['paused'] = True
                state['during'] = session.get_keyring_operations()
                checkpoint('after_pause')
            # Whatever happens to the copy, the server is resumed: a paused server cannot create or rotate keys.
            try:
                self.copy(source, destination, prepared)
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

    def report_conflicts(self, exc):
        summary = self.summary(exc.plan)
        self.result.update(migrated=[], migrated_count=0,
                           destination_key_count=summary['destination_key_count_before'])

    def copy(self, source, destination, prepared=None):
        owner, group, mode = self.file_attributes(source, destination)
        created = not os.path.exists(destination.path)

        def keep_previous(plan):
            if self.params['backup'] and not created:
                self.result['backup_file'] = self.module.backup_local(destination.path)

        try:
            plan, written = migrate(source, destination, owner=owner, group=group, mode=mode,
                                    check_mode=self.module.check_mode, on_backup=self.params['on_backup_file'],
                                    before_write=keep_previous, prepared=prepared)
        except MigrationConflictError as exc:
            self.report_conflicts(exc)
            raise
        summary = self.summary(plan)
        if not plan.source_keys:
            self.module.warn('the source keystore %s holds no keys: check that it is the keystore the server '
                             'uses' % source.path)
        self.result.update(
            destination_key_count=summary['destination_key_count_after'],
            destination_created=created and (written is not None or self.module.check_mode),
            changed=(written.changed if written is not None else
                     self.module.check_mode and (bool(plan.to_copy) or created)))
        if written is not None and written.backup_set_aside:
            self.result['backup_file_set_aside'] = written.backup_set_aside
        if self.module._diff:
            listed = max(self.params['max_keys_listed'], 0)
            before = [key_summary(k) for k in list(plan.destination_keys)[:listed]]
            after = before + summary['to_copy'][:listed - len(before)]
            self.result['diff'] = dict(before=dict(path=destination.path, keys=before,
                                                   key_count=len(plan.destination_keys)),
                                       after=dict(path=destination.path, keys=after,
                                                  key_count=summary['destination_key_count_after']))


def main():
    module = KeyopsModule(
        argument_spec=KeyopsModule.generate_argspec(
            connection=True,
            source=dict(type='dict', required=True, options=MIGRATE_KEYSTORE_OPTIONS),
            destination=dict(type='dict', required=True, options=MIGRATE_KEYSTORE_OPTIONS),
            method=dict(type='str', default='auto', choices=['auto', 'native', 'mysql_tool']),
            tool=dict(type='dict', default={}, options=TOOL_OPTIONS),
            online=dict(type='bool', default=False),
            owner=dict(type='str'),
            group=dict(type='str'),
            mode=dict(type='raw'),
            backup=dict(type='bool', default=False),
            allow_empty_source=dict(type='bool', default=False),
            on_backup_file=dict(type='str', default='fail', choices=['fail', 'follow_server']),
            max_keys_listed=dict(type='int', default=1000, no_log=False),   # a count, not a secret
        ),
        supports_check_mode=True,
    )
    module.run(KeyringMigration(module).run)


if __name__ == '__main__':
    main()
