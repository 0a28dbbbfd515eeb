# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""method native between keystore files: the collection reads both files and writes the destination itself.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import time

from ansible_collections.keyops.mysql.plugins.module_utils.component_switch import ComponentSwitch
from ansible_collections.keyops.mysql.plugins.module_utils.copy_checks import refuse_empty_source, require_source
from ansible_collections.keyops.mysql.plugins.module_utils.copy_strategy import CopyStrategy, destination_in_use
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
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import lstat_file
from ansible_collections.keyops.mysql.plugins.module_utils.module_base import parse_mode
from ansible_collections.keyops.mysql.plugins.module_utils.pause_guard import KeyringPause
from ansible_collections.keyops.mysql.plugins.module_utils.vault_spec import open_spec_keystore

DEFAULT_NEW_FILE_MODE = 0o640
# An unpaused read that finds a keystore's .backup looks again this many times, this far apart (Migration.settled): a
# server's write lives for milliseconds, but on a loaded host (CI: 2 cores, 6 servers) well over 0.4 s was seen.
SETTLE_ATTEMPTS = 20
SETTLE_WAIT = 0.1


class NativeCopy(CopyStrategy):
    """method native: the collection reads both keystores and writes the destination itself (keystore.plan)."""

    copied = ()

    def check(self):
        self.warn_tool_options('by method native')
        self.source, self.destination = self.keystore('source'), self.keystore('destination')
        require_source(self.source.path, self.source.follow)

    def run(self):
        source, destination = self.source, self.destination
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

    def warn_tool_options(self, unused):
        for name in ('source', 'destination'):
            if self.params[name].get('options') or self.params[name].get('secret_options'):
                self.warn('%s.options and %s.secret_options are for MySQL\'s tools and are not used %s'
                          % (name, name, unused))

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
        return open_spec_keystore(self.params[name], name)

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
            if not self.server_running:
                raise
            # Unpaused, a server may be rewriting a keystore as it is read: the copy decides (paused, or settled).
            return None

    def nothing_to_write(self, source, destination, prepared):
        if prepared is None or prepared.plan.to_copy or prepared.plan.destination_sha256 is None:
            return False
        owner, group, mode = self.file_attributes(source, destination)
        return destination._attributes_match(owner, group, mode)

    def run_paused(self, source, destination, prepared):
        if self.params.get('switch_config'):
            return self.run_switch(source, destination, prepared)
        with self.session_factory() as session:
            self.result['keyring_reloaded'] = False
            pause = KeyringPause(session, self.result, self.check_mode,
                                 skip_if=lambda: self.nothing_to_write(source, destination, prepared))
            pause.observe()
            # A server holds its keyring in memory and rewrites the whole file at its next key write: one whose
            # keyring is the destination must read the copied keys before then, or they are dropped from the file.
            in_use = destination_in_use(session, destination.path)
            with pause:
                self.copy(source, destination, prepared)
            if in_use and self.result['changed']:
                self.reload_keyring(session, destination.path, in_use, [(k[0], k[1]) for k in self.copied],
                                    pause.state['after'])

    def run_switch(self, source, destination, prepared):
        """online with switch_config: pause -> copy -> rewrite the component's configuration -> resume -> reload
        -> check (component_switch), the server paused only for the copy and the rewrite."""
        switch = ComponentSwitch(self.params, self.result, self.check_mode)
        on_backup = self.params['on_backup_file']
        with self.session_factory() as session:
            self.result['keyring_reloaded'] = False
            pause = KeyringPause(session, self.result, self.check_mode, skip_if=lambda: (
                self.nothing_to_write(source, destination, prepared) and switch.nothing_to_rewrite))
            before = pause.observe()
            switch.check_server(session, source.path, before, session.read_pause_marker() if not before else None)
            switch.keep_original()
            with pause:
                self.copy(source, destination, prepared)
                switch.rewrite()

            def recopy():
                with KeyringPause(session, {}, self.check_mode):
                    plan, _written = migrate(source, destination, on_backup=on_backup)
                return len(plan.to_copy)

            switch.reload_and_check(session, lambda: set((k[0], k[1]) for k in source.load(on_backup)),
                                    pause.state['after'], recopy)

    def check_before_copy(self, source, destination):
        """Checks that need no pause: done before an online run pauses the server, to keep the pause short.
        (The source's decode is kept by the Keystore object, so the copy re-reads it without re-parsing it when
        its bytes did not change meanwhile.)"""
        owner, group, _mode = self.file_attributes(source, destination)
        self.check_reachable(destination, owner, group)
        # Online, the server is not paused yet and may be writing its keystore through a .backup that lives for
        # milliseconds (a replicated master key rotation, say): wait that write out, as the check-mode copy does.
        keys = self.settled(lambda: source.load(self.params['on_backup_file']), self.server_running)
        refuse_empty_source(len(keys), self.params['allow_empty_source'], source.path)

    @staticmethod
    def settled(read, unpaused):
        """read(), and when the server is not paused (`unpaused`), again after a short wait while it raises
        BackupPresentError: a running server writes its keystore through a .backup that lives for milliseconds, so
        a backup seen then may be that write's. One still there after SETTLE_ATTEMPTS is an interrupted write, and
        is raised."""
        attempts = SETTLE_ATTEMPTS if unpaused else 1
        for attempt in range(attempts):
            try:
                return read()
            except BackupPresentError:
                if attempt + 1 == attempts:
                    raise
                time.sleep(SETTLE_WAIT)

    def report_conflicts(self, exc):
        summary = self.summary(exc.plan)
        self.result.update(migrated=[], migrated_count=0,
                           destination_key_count=summary['destination_key_count_before'])

    def copy(self, source, destination, prepared=None):
        owner, group, mode = self.file_attributes(source, destination)
        created = lstat_file(destination.path, follow=destination.follow) is None
        keep_previous = self.keep_previous(destination, created)
        # A running server's own write is waited out, as in check_before_copy: in check mode nothing is paused, and
        # a write the server began before the pause may still be finishing.
        try:
            plan, written = self.settled(lambda: migrate(
                source, destination, owner=owner, group=group, mode=mode, check_mode=self.check_mode,
                on_backup=self.params['on_backup_file'], before_write=keep_previous, prepared=prepared),
                self.server_running)
        except MigrationConflictError as exc:
            self.report_conflicts(exc)
            raise
        self.report_copy(plan, source, destination, created, written)
        if written is not None and written.backup_set_aside:
            self.result['backup_file_set_aside'] = written.backup_set_aside

    def keep_previous(self, destination, created):
        """The write's before_write: with O(backup), a copy of the destination as it was, beside it."""
        def keep(plan):
            if self.params['backup'] and not created:
                # Not AnsibleModule.backup_local: its copy follows links, at a name the server's user can guess.
                self.result['backup_file'] = keep_copy(destination.path, follow=destination.follow)
        return keep

    def report_copy(self, plan, source, destination, created, written):
        """The result of a copy (or its check-mode plan): the keys, the counts, changed, and the diff."""
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
        if self.diff:
            listed = max(self.params['max_keys_listed'], 0)
            before = [key_summary(k) for k in list(plan.destination_keys)[:listed]]
            after = before + summary['to_copy'][:listed - len(before)]
            self.result['diff'] = dict(before=dict(path=destination.path, keys=before,
                                                   key_count=len(plan.destination_keys)),
                                       after=dict(path=destination.path, keys=after,
                                                  key_count=summary['destination_key_count_after']))
