# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Migration plans: source keys x destination keys -> keys to copy, keys already there, conflicts.

MySQL's rule is that a migration copies every source key into the destination and that a key which already
exists is an error. Here "already exists with the same type and bytes" is not an error but the idempotent
re-run; anything else with the same identity is a conflict, and a plan with conflicts writes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

from .atomic import read_bytes
from .safe_fs import lstat_file, real_path
from .base import ON_BACKUP_FAIL, ON_BACKUP_FOLLOW_SERVER, without_gc
from .faults import checkpoint
from .model import KeySet, KeystoreError, KeystoreNotFoundError, MigrationConflictError

DIFFERENT_TYPE = 'different_type'
DIFFERENT_DATA = 'different_data'
SIGNATURE_COLLISION = 'signature_collision'
NOT_STORABLE = 'not_storable'


class Conflict:
    """Why one source key cannot be copied. Secret-free: names keys, never their bytes."""

    def __init__(self, key, reason, message):
        self.key = key
        self.reason = reason
        self.message = message

    def as_dict(self):
        return dict(key_id=self.key.key_id, user_id=self.key.user_id, key_type=self.key.key_type,
                    reason=self.reason, message=self.message)

    def __repr__(self):
        return 'Conflict(%r, %r)' % (self.key, self.reason)


def key_summary(key):
    """How a key appears in reports and return values: identity and type, never bytes."""
    return dict(key_id=key.key_id, user_id=key.user_id, key_type=key.key_type)


class MigrationPlan:
    def __init__(self, source_keys, destination_keys, destination_sha256, to_copy, already_present, conflicts):
        self.source_keys = source_keys
        self.destination_keys = destination_keys
        self.destination_sha256 = destination_sha256   # None: the destination file does not exist yet
        self.to_copy = to_copy
        self.already_present = already_present
        self.conflicts = conflicts

    @property
    def destination_exists(self):
        return self.destination_sha256 is not None

    def merged_keys(self):
        """The destination after the migration: its old keys in their order, then the copied ones."""
        return list(self.destination_keys) + list(self.to_copy)

    def summary(self, listed=None):
        """Counts, and the keys of each kind as secret-free dicts: the first `listed` of each (all if None)."""
        return dict(
            source_key_count=len(self.source_keys),
            destination_key_count_before=len(self.destination_keys),
            destination_key_count_after=len(self.destination_keys) + (0 if self.conflicts else len(self.to_copy)),
            to_copy_count=len(self.to_copy),
            already_present_count=len(self.already_present),
            conflict_count=len(self.conflicts),
            to_copy=[key_summary(k) for k in self.to_copy[:listed]],
            already_present=[key_summary(k) for k in self.already_present[:listed]],
            conflicts=[c.as_dict() for c in self.conflicts[:listed]],
        )


def plan_migration(source_keys, destination_keys, destination, destination_sha256=None):
    """Compare key sets under the destination format's rules. Pure: reads and writes nothing."""
    if destination.identity_rules_suffice(source_keys) and destination.identity_rules_suffice(destination_keys):
        return _plan_by_identity(source_keys, destination_keys, destination_sha256)
    return _plan_key_by_key(source_keys, destination_keys, destination, destination_sha256)


def _plan_by_identity(source_keys, destination_keys, destination_sha256):
    """_plan_key_by_key's result when every source key is storable in the destination and the destination's
    signatures are one-to-one on identities: then only a key's identity decides, and a dict look-up per key
    is the whole plan (or none at all, for a new destination)."""
    existing_keys = destination_keys._keys      # {(key_id, user_id): Key}
    if not existing_keys:
        return MigrationPlan(source_keys, destination_keys, destination_sha256, list(source_keys), [], [])
    to_copy, present, conflicts = [], [], []
    lookup = existing_keys.get
    for key in source_keys:
        existing = lookup(key[:2])
        if existing is None:
            to_copy.append(key)
        elif existing == key:
            present.append(key)
        else:
            conflicts.append(_existing_key_conflict(key, existing))
    return MigrationPlan(source_keys, destination_keys, destination_sha256, to_copy, present, conflicts)


def _existing_key_conflict(key, existing):
    if existing.key_type != key.key_type:
        return Conflict(key, DIFFERENT_TYPE, '%s exists in the destination as a %s key, the source has a %s key'
                        % (key.describe(), existing.key_type, key.key_type))
    return Conflict(key, DIFFERENT_DATA, '%s exists in the destination with different key material'
                    % key.describe())


def _plan_key_by_key(source_keys, destination_keys, destination, destination_sha256):
    to_copy, present, conflicts = [], [], []
    signatures = dict((destination.signature(k), k) for k in destination_keys)
    for key in source_keys:
        existing = destination_keys.get(key.key_id, key.user_id)
        if existing is not None:
            if existing == key:
                present.append(key)
            else:
                conflicts.append(_existing_key_conflict(key, existing))
            continue
        try:
            destination.check_storable(key, destination.layout)
        except KeystoreError as exc:
            conflicts.append(Conflict(key, NOT_STORABLE, exc.detail))
            continue
        signature = destination.signature(key)
        other = signatures.get(signature)
        if other is not None:
            conflicts.append(Conflict(key, SIGNATURE_COLLISION, '%s and %s are the same key to a %s keystore'
                                      % (key.describe(), other.describe(), destination.type_name)))
            continue
        signatures[signature] = key
        to_copy.append(key)
    return MigrationPlan(source_keys, destination_keys, destination_sha256, to_copy, present, conflicts)


def load_destination(destination, on_backup=ON_BACKUP_FAIL):
    """(keys, sha256) of a destination; a missing file is an empty keystore still to be created."""
    try:
        keys = destination.load(on_backup)
    except KeystoreNotFoundError:
        return KeySet(), None
    return keys, destination.loaded_sha256


def refuse_same_file(source_path, destination_path):
    """Refuse a copy of a keystore onto itself: the same path once resolved, or another name of the same file."""
    # A comparison only (stat, readlink): following links here reads no file and changes nothing.
    same = real_path(source_path, follow=True) == real_path(destination_path, follow=True)
    if not same:
        try:
            same = os.path.samefile(source_path, destination_path)    # hard links
        except OSError:
            same = False
    if same:
        raise KeystoreError('source and destination are the same file (%s)' % destination_path, path=source_path)


class PreparedMigration:
    """prepare_migration()'s result: the plan, the checksum of the source bytes it was made from, and the
    destination's next bytes already rendered (None when there is nothing to write)."""

    def __init__(self, plan, source_sha256, rendered):
        self.plan = plan
        self.source_sha256 = source_sha256
        self.rendered = rendered

    def still_holds(self, source, destination):
        """True when neither file (nor a backup beside either) changed since the preparation."""
        if lstat_file(source.backup_path) is not None or lstat_file(destination.backup_path) is not None:
            return False
        try:
            source_sha256 = hashlib.sha256(read_bytes(source.path, follow=source.follow)).hexdigest()
        except KeystoreNotFoundError:
            return False
        try:
            destination_sha256 = hashlib.sha256(read_bytes(destination.path, follow=destination.follow)).hexdigest()
        except KeystoreNotFoundError:
            destination_sha256 = None
        return source_sha256 == self.source_sha256 and destination_sha256 == self.plan.destination_sha256


def prepare_migration(source, destination):
    """Everything migrate() does that needs neither the lock nor a paused server: load both keystores, plan
    (raising MigrationConflictError), and render and check the destination's next bytes. A later
    migrate(..., prepared=) that finds both files unchanged only writes those bytes. Backups beside either
    file are refused here, as migrate() refuses them by default."""
    refuse_same_file(source.path, destination.path)
    return without_gc(_prepare, source, destination)


def _prepare(source, destination):
    plan = _load_and_plan(source, destination, ON_BACKUP_FAIL)
    if plan.conflicts:
        raise conflict_error(plan, destination)
    rendered = destination.render(plan.merged_keys()) if plan.to_copy else None
    return PreparedMigration(plan, source.loaded_sha256, rendered)


def _load_and_plan(source, destination, on_backup):
    source_keys = source.load(on_backup)
    destination_keys, digest = load_destination(destination, on_backup)
    return plan_migration(source_keys, destination_keys, destination, digest)


def conflict_error(plan, destination, listed=20):
    """MigrationConflictError naming the first `listed` conflicts (all of them are in error.conflicts)."""
    shown = '; '.join(c.message for c in plan.conflicts[:listed])
    if len(plan.conflicts) > listed:
        shown += '; and %d more (see the conflicts list)' % (len(plan.conflicts) - listed)
    error = MigrationConflictError('%d of %d source keys conflict with the destination; nothing was written: %s'
                                   % (len(plan.conflicts), len(plan.source_keys), shown),
                                   plan.conflicts, path=destination.path)
    error.plan = plan
    return error


def migrate(source, destination, owner=None, group=None, mode=None, check_mode=False, on_backup=ON_BACKUP_FAIL,
            before_write=None, prepared=None):
    """Copy source keys into destination in one atomic write, under the destination's lock.

    Returns (plan, WriteResult or None). Conflicts raise MigrationConflictError and write nothing; any other
    error leaves the destination byte-identical. The source is only read. `on_backup` is load()'s: with
    ON_BACKUP_FOLLOW_SERVER both sides are taken as the server would recover them, and a destination backup
    is set aside after the write. `before_write(plan)` runs under the lock just before the destination is
    replaced (to copy it aside, for example). `prepared`: prepare_migration()'s result for these keystores;
    if both files are still as it saw them, its plan and rendered bytes are used as they are.
    """
    refuse_same_file(source.path, destination.path)
    # Loading, planning and writing allocate objects by the hundred thousand and no reference cycles.
    return without_gc(_migrate, source, destination, owner, group, mode, check_mode, on_backup, before_write,
                      prepared)


def _migrate(source, destination, owner, group, mode, check_mode, on_backup, before_write, prepared):
    with destination.lock():
        destination.remove_stale_temp_files()
        rendered = None
        checkpoint('mid_copy')
        if prepared is not None and on_backup == ON_BACKUP_FAIL and prepared.still_holds(source, destination):
            plan, rendered = prepared.plan, prepared.rendered
        else:
            plan = _load_and_plan(source, destination, on_backup)
        if plan.conflicts:
            raise conflict_error(plan, destination)
        if check_mode or (not plan.to_copy and plan.destination_exists and
                          owner is None and group is None and mode is None):
            return plan, None
        if before_write is not None:
            before_write(plan)
        keys = rendered.keys if rendered is not None else plan.merged_keys()
        result = destination.write(keys, owner=owner, group=group, mode=mode, expected_sha256=plan.destination_sha256,
                                   set_aside_backup=on_backup == ON_BACKUP_FOLLOW_SERVER, planned=True,
                                   rendered=rendered)
        return plan, result
