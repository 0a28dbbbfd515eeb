# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""method native with a Vault side: file -> Vault, Vault -> file, Vault -> Vault (keystore.vault).

The plan is made before any pause (conflicts and a shared mount fail there, with nothing written). Into Vault the
keys are written one by one, and on a failure the keys this run wrote are removed again (VaultKeystore.apply); out of
Vault the file is written atomically, as between files.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.keyops.mysql.plugins.module_utils.copy_checks import refuse_empty_source, require_source
from ansible_collections.keyops.mysql.plugins.module_utils.copy_strategy import destination_in_use
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError, MigrationConflictError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import lstat_file
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault import (
    KeySnapshot,
    VaultKeystore,
    migrate_keys,
    plan_from_vault,
    plan_to_vault,
)
from ansible_collections.keyops.mysql.plugins.module_utils.module_base import parse_mode
from ansible_collections.keyops.mysql.plugins.module_utils.native_copy import DEFAULT_NEW_FILE_MODE, NativeCopy
from ansible_collections.keyops.mysql.plugins.module_utils.pause_guard import KeyringPause


def identities(keys):
    return [dict(key_id=key_id, user_id=user_id) for key_id, user_id in keys]


class VaultCopy(NativeCopy):
    """NativeCopy's checks, pause and report, with a Vault mount on one side or both."""

    def check(self):
        if self.params.get('switch_config'):
            raise KeystoreError('switch_config rewrites a component_keyring_file configuration; it cannot switch a '
                                'server to or from a Vault keystore: edit the server\'s keyring configuration and '
                                'restart it', path=self.params['switch_config'])
        self.warn_tool_options('with a Vault keystore')
        self.source, self.destination = self.keystore('source'), self.keystore('destination')
        if not isinstance(self.source, VaultKeystore):
            require_source(self.source.path, self.source.follow)

    def run(self):
        source, destination = self.source, self.destination
        # Reach every Vault server first (seal status, token, KV version): a failure here changes nothing.
        for keystore in (source, destination):
            if isinstance(keystore, VaultKeystore):
                keystore.resolve()
        on_backup = self.params['on_backup_file']
        if not isinstance(destination, VaultKeystore):
            owner, group, _mode = self.file_attributes(source, destination)
            self.check_reachable(destination, owner, group)
        # The source is read once (a mount: one GET per key), and the plan made from that snapshot.
        snapshot = self.settled(lambda: KeySnapshot(source, on_backup), self.server_running)
        try:
            plan = self.plan(snapshot, destination, on_backup)
        except MigrationConflictError as exc:
            self.report_conflicts(exc)
            raise
        refuse_empty_source(len(plan.source_keys), self.params['allow_empty_source'], source.path)
        if self.params['online']:
            self.run_paused(snapshot, destination, plan)
        else:
            self.copy(snapshot, destination, plan)

    def run_paused(self, source, destination, prepared):
        """The server is paused only while keys are read from, or written to, a file, never during Vault's requests
        (milliseconds each, a key at a time, seconds per thousand keys). `source` is run()'s KeySnapshot; under the
        pause it is taken again (a file read; a mount's listing, and its keys again only if one came or went):
        - into Vault, the keys are then written into the mount after the resume (with the plan made before the
          pause, unless the source changed meanwhile): the mount ends with the keys as of the pause, as a copy paused
          throughout would;
        - into a file, the file is written under the pause, and a server whose keyring component is that file then
          reloads it (NativeCopy.run_paused says why). A Percona server whose keyring is a destination mount is not
          told to reload: it reads the copied keys at its next start (no Percona server here to verify a reload)."""
        into_vault = isinstance(destination, VaultKeystore)
        with self.session_factory() as session:
            self.result['keyring_reloaded'] = False
            pause = KeyringPause(session, self.result, self.check_mode,
                                 skip_if=lambda: self.nothing_to_write(source, destination, prepared))
            pause.observe()
            in_use = None if into_vault else destination_in_use(session, destination.path)
            with pause:
                changed = self.settled(source.refresh, self.server_running)
                if not into_vault:
                    self.copy(source, destination)
            if into_vault:
                self.copy(source, destination, None if changed else prepared)
            elif in_use and self.result['changed']:
                self.reload_keyring(session, destination.path, in_use, [(k[0], k[1]) for k in self.copied],
                                    pause.state['after'])

    def plan(self, source, destination, on_backup):
        if isinstance(destination, VaultKeystore):
            return plan_to_vault(source, destination, self.params['allow_shared_mount'], on_backup)
        return plan_from_vault(source, destination, on_backup)

    def nothing_to_write(self, source, destination, prepared):
        """Whether the copy would write nothing (`prepared`: the plan made before the pause)."""
        plan = prepared
        if plan.to_copy:
            return False
        if isinstance(destination, VaultKeystore):
            return True
        if plan.destination_sha256 is None:
            return False
        owner, group, mode = self.file_attributes(source, destination)
        return destination._attributes_match(owner, group, mode)

    def file_attributes(self, source, destination):
        """A file destination's owner, group, mode. A new file copied out of Vault has no source file to take them
        from: it gets its directory's owner and group (a keystore directory is the server's), mode 0640."""
        source = getattr(source, 'keystore', source)     # a KeySnapshot's keystore
        if not isinstance(source, VaultKeystore):
            return NativeCopy.file_attributes(self, source, destination)
        owner, group, mode = self.params['owner'], self.params['group'], parse_mode(self.params['mode'])
        if lstat_file(destination.path, follow=destination.follow) is None:
            directory = lstat_file(os.path.dirname(destination.path), follow=True)
            if directory is None:
                raise KeystoreError('the directory of the new keystore file does not exist; create it, owned by the '
                                    'server\'s OS user', path=destination.path)
            owner = directory.st_uid if owner is None else owner
            group = directory.st_gid if group is None else group
            mode = DEFAULT_NEW_FILE_MODE if mode is None else mode
        return owner, group, mode

    def copy(self, source, destination, prepared=None):
        """`prepared`: into Vault, a plan still valid for `source` (not made again); a file is always planned again
        under its lock."""
        into_vault = isinstance(destination, VaultKeystore)
        owner = group = mode = None
        created = False
        if not into_vault:
            owner, group, mode = self.file_attributes(source, destination)
            created = lstat_file(destination.path, follow=destination.follow) is None
        try:
            plan, written = self.settled(lambda: migrate_keys(
                source, destination, check_mode=self.check_mode, allow_shared_mount=self.params['allow_shared_mount'],
                owner=owner, group=group, mode=mode, on_backup=self.params['on_backup_file'],
                before_write=self.keep_previous(destination, created), plan=prepared if into_vault else None),
                self.server_running)
        except MigrationConflictError as exc:
            self.report_conflicts(exc)
            raise
        except KeystoreError as exc:
            self.report_roll_back(exc)
            raise
        self.report_copy(plan, source, destination, created, written)
        if getattr(written, 'backup_set_aside', None):
            self.result['backup_file_set_aside'] = written.backup_set_aside

    def report_roll_back(self, exc):
        """After a failed write into Vault: which of this run's keys were removed again, and which remain."""
        if getattr(exc, 'rolled_back', None) is None:
            return
        self.result.update(rolled_back=identities(exc.rolled_back), left_behind=identities(exc.left_behind),
                           unanswered=identities(exc.unanswered))
