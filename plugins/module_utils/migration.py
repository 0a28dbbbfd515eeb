# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyring_migrate's work, shared with keyring_info's O(migration) report (which runs it in check mode).

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.keyops.mysql.plugins.module_utils.copy_checks import refuse_empty_source, require_source
from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.faults import checkpoint
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.atomic import (
    resolve_gid,
    resolve_uid,
    keep_copy,
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
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import lstat_file, real_path
from ansible_collections.keyops.mysql.plugins.module_utils.module_base import KEYSTORE_OPTIONS, parse_mode
from ansible_collections.keyops.mysql.plugins.module_utils.mysql import MysqlError
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool import catalog
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.migration import (
    DEFAULT_TOOL_SETTINGS,
    ToolMigration,
)
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.record import DEFAULT_RECORD_DIR

# Keystores as keyring_migrate takes them: the native formats plus the Enterprise ones only MySQL's tools read.
MIGRATE_KEYSTORE_OPTIONS = dict(
    KEYSTORE_OPTIONS,
    type=dict(type='str', required=True,
              choices=sorted(set(catalog.NATIVE_TYPES) | set(catalog.ALL_TYPES))),
    path=dict(type='path'),
    options=dict(type='dict'),
    secret_options=dict(type='dict', no_log=True),
)
# A keystore kept in a file names it.
PATH_REQUIRED = [('type', keystore_type, ('path',)) for keystore_type in catalog.FILE_TYPES]
TOOL_OPTIONS = dict(
    mysqld=dict(type='path', default=DEFAULT_TOOL_SETTINGS['mysqld']),
    mysql_migrate_keyring=dict(type='path', default=DEFAULT_TOOL_SETTINGS['mysql_migrate_keyring']),
    plugin_dir=dict(type='path', default=DEFAULT_TOOL_SETTINGS['plugin_dir']),
    user=dict(type='str', default=DEFAULT_TOOL_SETTINGS['user']),
    timeout=dict(type='int', default=DEFAULT_TOOL_SETTINGS['timeout']),
    record_dir=dict(type='path', default=DEFAULT_RECORD_DIR),
)
# keyring_migrate's options but online and backup: all keyring_info's O(migration) takes too.
MIGRATION_OPTIONS = dict(
    source=dict(type='dict', required=True, options=MIGRATE_KEYSTORE_OPTIONS, required_if=PATH_REQUIRED),
    destination=dict(type='dict', required=True, options=MIGRATE_KEYSTORE_OPTIONS, required_if=PATH_REQUIRED),
    method=dict(type='str', default='auto', choices=['auto', 'native', 'mysql_tool']),
    tool=dict(type='dict', default={}, options=TOOL_OPTIONS),
    owner=dict(type='str'),
    group=dict(type='str'),
    mode=dict(type='raw'),
    allow_empty_source=dict(type='bool', default=False),
    on_backup_file=dict(type='str', default='fail', choices=['fail', 'follow_server']),
    max_keys_listed=dict(type='int', default=1000, no_log=False),   # a count, not a secret
)

DEFAULT_NEW_FILE_MODE = 0o640
RELOAD_KEYRING = 'ALTER INSTANCE RELOAD KEYRING'


class KeyringMigration:
    """keyring_migrate's run: choose the copy path (the collection's own, or MySQL's tool), check, copy, report.

    It needs no module: the options, the result dict to fill, check and diff mode, a warning sink and a factory of
    (unconnected) MysqlSession objects, so keyring_info can run it in check mode for its report.
    """

    def __init__(self, params, result, check_mode=False, diff=False, warn=None, session_factory=None):
        self.params = params
        self.result = result
        self.check_mode = check_mode
        self.diff = diff
        self.warn = warn or (lambda message: None)
        self.session_factory = session_factory
        self.copied = []
        self.result.update(migrated=[], already_present=[], conflicts=[], migrated_count=0, already_present_count=0,
                           conflict_count=0, keys_listed_truncated=False, source_key_count=0,
                           destination_key_count=0, destination_created=False)

    @classmethod
    def for_module(cls, module):
        return cls(module.params, module.result, module.check_mode, module._diff, module.warn, module.mysql_session)

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
        return open_keystore(spec['type'], spec['path'], spec.get('password'), follow=spec.get('follow'))

    def file_attributes(self, source, destination):
        """owner, group, mode to pass to the write: explicit ones, plus the defaults for a new file."""
        owner, group, mode = self.params['owner'], self.params['group'], parse_mode(self.params['mode'])
        if lstat_file(destination.path, follow=destination.follow) is None:
            st = lstat_file(source.path, follow=source.follow)
            owner = st.st_uid if owner is None else owner
            group = st.st_gid if group is None else group
            mode = DEFAULT_NEW_FILE_MODE if mode is None else mode
        return owner, group, mode

    @staticmethod
    def check_reachable(destination, owner, group):
        """Refuse to write a keystore its owner (the server's OS user) could not reach."""
        st = lstat_file(destination.path, follow=destination.follow)
        if st is not None and owner is None:
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
        method = catalog.choose_method(self.params['source']['type'], self.params['destination']['type'],
                                       self.params['method'])
        if method != catalog.METHOD_NATIVE:
            destination_path = catalog.keystore_file(self.params['destination'])
            in_use = None
            if self.params['online']:
                self.result['keyring_reloaded'] = False
                if destination_path:
                    with self.session_factory() as session:
                        in_use = self.destination_in_use(session, destination_path)
            try:
                ToolMigration(self.params, method, self.check_mode, self.diff, self.session_factory, self.result,
                              self.warn).run()
                if in_use and self.result.get('changed'):
                    # After the tool's run and resume (all of the copied keys are listed here: capped below).
                    with self.session_factory() as session:
                        try:
                            self.reload_keyring(session, destination_path, in_use,
                                                [(k['key_id'], k['user_id']) for k in self.result.get('migrated') or []],
                                                session.get_keyring_operations())
                        finally:
                            self.result.setdefault('queries', []).extend(session.queries)
            finally:
                # The tool path lists every key it knows of: count them, then keep the first max_keys_listed.
                listed_at_most = max(self.params['max_keys_listed'], 0)
                for listed, count in (('migrated', 'migrated_count'), ('already_present', 'already_present_count'),
                                      ('conflicts', 'conflict_count')):
                    keys = self.result.get(listed) or []
                    self.result[count] = len(keys)
                    self.result[listed] = keys[:listed_at_most]
                    if len(keys) > listed_at_most:
                        self.result['keys_listed_truncated'] = True
                for side in (self.result.get('diff') or {}).values():
                    if isinstance(side.get('keys'), list):
                        side['key_count'] = len(side['keys'])
                        side['keys'] = side['keys'][:listed_at_most]
            return
        self.result['method'] = method
        for name in ('source', 'destination'):
            if self.params[name].get('options') or self.params[name].get('secret_options'):
                self.warn('%s.options and %s.secret_options are for MySQL\'s tools and are not used by '
                          'method native' % (name, name))
        source, destination = self.keystore('source'), self.keystore('destination')
        require_source(source.path, source.follow)
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
        session = self.session_factory().connect()
        state = self.result['keyring_operations'] = dict(before=None, during=None, after=None)
        self.result['queries'] = session.queries
        self.result['paused'] = False
        self.result['keyring_reloaded'] = False
        try:
            state['before'] = state['during'] = state['after'] = session.get_keyring_operations()
            # A server holds its keyring in memory and rewrites the whole file at its next key write: one whose
            # keyring is the destination must read the copied keys before then, or they are dropped from the file.
            in_use = self.destination_in_use(session, destination.path)
            if not state['before'] and session.read_pause_marker():
                # OFF only because an interrupted keyops run paused it: what to restore is ON.
                self.result['resumed_interrupted_pause'] = session.read_pause_marker()
                state['before'] = True
                if not self.check_mode:
                    session.set_keyring_operations(False)     # rewrite the marker as this run's
            # A pause that nothing would happen in is skipped (unless it is an interrupted run's, to undo).
            needed = state['before'] and not (self.nothing_to_write(source, destination, prepared)
                                              and 'resumed_interrupted_pause' not in self.result)
            paused = needed and not self.check_mode
            if needed and self.check_mode:
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
            if in_use and self.result['changed']:
                self.reload_keyring(session, destination.path, in_use, [(k[0], k[1]) for k in self.copied],
                                    state['after'])
        finally:
            session.close()

    @staticmethod
    def destination_in_use(session, destination_path):
        """The name of the server's active keyring whose data file is the destination, or None; refuses a plugin.

        A server holds its keyring in memory and rewrites the whole file at its next key write: one whose keyring
        is the destination must read the copied keys before then, or they are dropped from the file. A component
        can be told to (ALTER INSTANCE RELOAD KEYRING); a plugin cannot."""
        target = real_path(destination_path, follow=True)
        for name, data_file in session.active_keyrings():
            if data_file and real_path(data_file, follow=True) == target:
                if not name.startswith('component_'):
                    raise KeystoreError(
                        'the server uses the destination keystore through the %s plugin, which cannot reload it: '
                        'its next key write after the copy would rewrite the file from memory without the copied '
                        'keys. Copy with the server stopped; or pause it with keyops.mysql.keyring_operations, copy '
                        'with online: false, restart it and resume it (the role keyops.mysql.keyring_migration '
                        'does that)' % name, path=destination_path)
                return name
        return None

    def reload_keyring(self, session, destination_path, keyring, copied, operations_on):
        """Make a server whose keyring component uses the destination read the copied keys ((key_id, user_id)
        pairs), and check that it did. A reload needs keyring_operations ON, so it follows the resume; a key
        written in between rewrites the file from the server's memory, which the check finds."""
        if self.check_mode:
            session.queries.append(RELOAD_KEYRING)
            return
        if not operations_on:
            self.warn('%s uses the destination keystore and was paused by someone else, so it cannot reload '
                      'its keyring: restart it before keyring_operations is set ON again, or its next key '
                      'write drops the copied keys from %s' % (session.where, destination_path))
            return
        try:
            session.query(RELOAD_KEYRING)
        except MysqlError as exc:
            raise MysqlError('the keys were copied into %s, which the server uses, but it could not reload its '
                             'keyring (%s): restart it before it creates or rotates a key, or its next key write '
                             'drops the copied keys from the file' % (destination_path, exc), exc.code)
        self.result['keyring_reloaded'] = True
        listed = session.key_identities()
        missing = [identity for identity in copied if identity not in listed]
        data_file = dict(session.active_keyrings()).get(keyring)
        if missing or not data_file or real_path(data_file, follow=True) != real_path(destination_path, follow=True):
            raise MysqlError('%s reloaded its keyring, but it lists %d of the %d copied keys and uses %s: a key '
                             'written between the resume and the reload rewrote %s from memory, or the '
                             'component\'s configuration names another keystore. Re-run this task now (the source '
                             'still holds every key)'
                             % (session.where, len(copied) - len(missing), len(copied),
                                data_file or 'no keystore', destination_path))

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
        refuse_empty_source(len(source.load(self.params['on_backup_file'])), self.params['allow_empty_source'],
                            source.path)

    def report_conflicts(self, exc):
        summary = self.summary(exc.plan)
        self.result.update(migrated=[], migrated_count=0,
                           destination_key_count=summary['destination_key_count_before'])

    def copy(self, source, destination, prepared=None):
        owner, group, mode = self.file_attributes(source, destination)
        created = lstat_file(destination.path, follow=destination.follow) is None

        def keep_previous(plan):
            if self.params['backup'] and not created:
                # Not AnsibleModule.backup_local: its copy follows links, at a name the server's user can guess.
                self.result['backup_file'] = keep_copy(destination.path, follow=destination.follow)

        try:
            plan, written = migrate(source, destination, owner=owner, group=group, mode=mode,
                                    check_mode=self.check_mode, on_backup=self.params['on_backup_file'],
                                    before_write=keep_previous, prepared=prepared)
        except MigrationConflictError as exc:
            self.report_conflicts(exc)
            raise
        self.copied = plan.to_copy
        summary = self.summary(plan)
        if not plan.source_keys:
            self.warn('the source keystore %s holds no keys: check that it is the keystore the server '
                      'uses' % source.path)
        self.result.update(
            destination_key_count=summary['destination_key_count_after'],
            destination_created=created and (written is not None or self.check_mode),
            changed=(written.changed if written is not None else
                     self.check_mode and (bool(plan.to_copy) or created)))
        if written is not None and written.backup_set_aside:
            self.result['backup_file_set_aside'] = written.backup_set_aside
        if self.diff:
            listed = max(self.params['max_keys_listed'], 0)
            before = [key_summary(k) for k in list(plan.destination_keys)[:listed]]
            after = before + summary['to_copy'][:listed - len(before)]
            self.result['diff'] = dict(before=dict(path=destination.path, keys=before,
                                                   key_count=len(plan.destination_keys)),
                                       after=dict(path=destination.path, keys=after,
                                                  key_count=summary['destination_key_count_after']))


def check_mode_result(module, params):
    """keyring_migrate's check-mode result for `params` (its options but online and backup): what it would copy,
    and if it would fail, failed=true and the message it would fail with. Never fails `module`."""
    result = {}
    run = KeyringMigration(dict(params, online=False, backup=False), result, check_mode=True, warn=module.warn,
                           session_factory=module.mysql_session)
    try:
        run.run()
    except KeystoreError as exc:
        result.update(failed=True, msg=str(exc), error=type(exc).__name__)
    except MysqlError as exc:
        result.update(failed=True, msg=str(exc), mysql_error_code=exc.code)
    result.setdefault('changed', False)
    result.setdefault('failed', False)
    return result
