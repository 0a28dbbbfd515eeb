# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one interface every keystore format implements: load keys, report state, write a key set atomically.

A format subclass supplies only the codec (`decode` bytes -> keys, `encode` keys -> bytes), its identity rule
(`signature`), what it can store (`check_storable`) and what MySQL does with its `.backup` file. Everything
that touches the file system lives here, once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gc
import hashlib
import os
import time

from .atomic import (
    TEMP_SUFFIX,
    DirectoryLock,
    read_bytes,
    resolve_gid,
    resolve_uid,
    write_atomically,
)
from .model import (
    BackupPresentError,
    ConcurrentWriterError,
    DuplicateKeyError,
    KeySet,
    KeystoreError,
    KeystoreNotFoundError,
    WriteVerificationError,
)
from .safe_fs import locate, lstat_file, real_path

# What the server does at its next start with a '<file>.backup' it finds (reported, never acted on here).
BACKUP_NONE = 'none'
BACKUP_ROLL_BACK = 'roll_back'          # keyring_file plugin: the backup is the OLD state and replaces the file
BACKUP_ROLL_FORWARD = 'roll_forward'    # components: the backup is the NEW state and replaces the file
BACKUP_DISCARD = 'discard'              # the server deletes the backup and keeps the file


# load(on_backup=...): what to do when a '<file>.backup' exists.
ON_BACKUP_FAIL = 'fail'
ON_BACKUP_FOLLOW_SERVER = 'follow_server'
ON_BACKUP_IGNORE = 'ignore'
RECOVERED_FROM_BACKUP = (BACKUP_ROLL_BACK, BACKUP_ROLL_FORWARD)

# write(expected_sha256=...) default: check against the last load, if any. None means "expect no file".
LAST_LOADED = object()


def without_gc(function, *args):
    """function(*args) with Python's cyclic garbage collector paused.

    Parsing or rendering a large keystore allocates millions of objects and no reference cycles; the
    collector's repeated passes over them roughly double the time. Nothing else changes: the collector is
    switched back on (if it was on) however the call ends.
    """
    if not gc.isenabled():
        return function(*args)
    gc.disable()
    try:
        return function(*args)
    finally:
        gc.enable()


class Decoded:
    """What a codec read from bytes: the keys, and the layout needed to write the file back in kind."""

    def __init__(self, keys, layout):
        self.keys = keys
        self.layout = layout


class BackupState:
    """A '<file>.backup' beside the keystore, and what the server would do with it."""

    def __init__(self, path, present, size=None, valid=None, key_count=None, server_action=BACKUP_NONE,
                 description='no backup file'):
        self.path = path
        self.present = present
        self.size = size
        self.valid = valid
        self.key_count = key_count
        self.server_action = server_action
        self.description = description

    def as_dict(self):
        return dict(path=self.path, present=self.present, size=self.size, valid=self.valid,
                    key_count=self.key_count, server_action=self.server_action, description=self.description)


class KeystoreState:
    """A secret-free report of a keystore: existence, size, checksum, format details, key count, backup."""

    def __init__(self, path, keystore_type, exists, size=None, sha256=None, key_count=None, details=None,
                 backup=None):
        self.path = path
        self.keystore_type = keystore_type
        self.exists = exists
        self.size = size
        self.sha256 = sha256
        self.key_count = key_count
        self.details = details or {}
        self.backup = backup

    def as_dict(self):
        return dict(path=self.path, type=self.keystore_type, exists=self.exists, size=self.size,
                    sha256=self.sha256, key_count=self.key_count, details=dict(self.details),
                    backup=self.backup.as_dict() if self.backup else None)


class Rendered:
    """A keystore's next bytes, encoded and checked ahead of the write (Keystore.render): `keys` encoded against
    the file whose SHA-256 is `base_sha256` (None: no file), and `decoded`, what those bytes decode to."""

    def __init__(self, keys, data, decoded, base_sha256):
        self.keys = keys
        self.data = data
        self.decoded = decoded
        self.base_sha256 = base_sha256


class WriteResult:
    def __init__(self, path, changed, created, key_count, uid, gid, mode, sha256):
        self.path = path
        self.changed = changed
        self.created = created
        self.key_count = key_count
        self.backup_set_aside = None
        self.uid = uid
        self.gid = gid
        self.mode = mode
        self.sha256 = sha256


class Keystore:
    """A keystore file of one format. Subclasses set `type_name` and implement the codec methods."""

    type_name = None
    backup_action_when_valid = None   # BACKUP_ROLL_BACK or BACKUP_ROLL_FORWARD
    needs_password = False

    def __init__(self, path, password=None, follow=False):
        if not path or not os.path.isabs(path):
            # A relative path resolves against whatever the working directory is: the classic way to
            # "migrate" an empty keystore.
            raise KeystoreError('the keystore path must be absolute, got %r' % (path,))
        self.path = path
        self.password = password
        # A symbolic link at the keystore's own path is refused unless the caller opted in, and then only a link
        # owned by root is followed (safe_fs.locate). The .backup, temp and lock names are never followed.
        self.follow = follow
        self.backup_path = path + '.backup'
        self.layout = None
        self._loaded = None          # (KeySet, sha256 of the bytes) of the last load
        self._decoded_bytes = None   # (bytes, password, Decoded) of the last successful decode (_decode_file)
        self._lock = None
        self._lock_depth = 0
        self.lock_timeout = 10.0     # seconds to wait for another writer before giving up

    # ---- codec: implemented by each format -------------------------------------------------------------

    def decode(self, data):
        """Parse bytes strictly; return a Decoded. Raise a KeystoreError subclass (without path) on any fault."""
        raise NotImplementedError

    def encode(self, keys, layout):
        """Serialize keys (an iterable of Key, in order) in the given layout (None: the format's default)."""
        raise NotImplementedError

    def signature(self, key):
        """What the server keys its hash on; two keys with one signature cannot live in one keystore."""
        return key.identity

    def check_storable(self, key, layout):
        """Raise InvalidKeyError (or a subclass of KeystoreError) for a key this file cannot take."""

    def describe_layout(self, layout):
        """Secret-free facts about the layout for reports (version, architecture, ...)."""
        return {}

    def identity_rules_suffice(self, keys):
        """True when a plan over `keys` needs no per-key check: each passes check_storable (in the current
        layout), and on them signature() is one-to-one with (key_id, user_id). False means "check key by key",
        never that a key is bad. Formats that can tell cheaply override it."""
        return False

    # ---- reading ---------------------------------------------------------------------------------------

    def _decode_file(self, data, path, remember=True):
        # decode() is a pure function of the bytes (and this object's password): the same bytes decoded again
        # (a source loaded by the caller and again by migrate(), a destination loaded and then re-read under
        # the lock by write()) reuse the last result, with a KeySet of their own. Only successes are kept.
        cached = self._decoded_bytes
        if cached is not None and cached[0] == data and cached[1] == self.password:
            return Decoded(cached[2].keys.copy(), cached[2].layout)
        try:
            decoded = without_gc(self.decode, data)
        except KeystoreError as exc:
            raise exc.with_path(path)
        if remember:
            self._decoded_bytes = (data, self.password, Decoded(decoded.keys.copy(), decoded.layout))
        return decoded

    def load(self, on_backup=ON_BACKUP_FAIL):
        """Read and strictly parse the keystore; return its KeySet. Files are only opened read-only.

        A '<file>.backup' beside it means the server would replace this file at its next start, so the keys
        in the file are not necessarily the keys the server will use. `on_backup` says what to do then:
        ON_BACKUP_FAIL (default) raises BackupPresentError explaining what the server would do;
        ON_BACKUP_FOLLOW_SERVER returns the keys the server would use after its own recovery;
        ON_BACKUP_IGNORE returns the file's own keys (for callers that report the backup themselves).
        """
        backup = self.inspect_backup()
        if backup.present and on_backup == ON_BACKUP_FAIL:
            raise BackupPresentError(
                'a backup file %s exists: %s. Decide which state is right, then move the backup away '
                '(do not delete it blindly)' % (self.backup_path, backup.description), path=self.path)
        try:
            data = read_bytes(self.path, follow=self.follow)
        except KeystoreNotFoundError:
            if not (on_backup == ON_BACKUP_FOLLOW_SERVER and backup.server_action in RECOVERED_FROM_BACKUP):
                raise
            data = None
        decoded = self._decode_file(data, self.path) if data is not None else None
        if on_backup == ON_BACKUP_FOLLOW_SERVER and backup.server_action in RECOVERED_FROM_BACKUP:
            if not backup.valid:
                raise BackupPresentError('a backup file %s exists: %s; there is no state to follow'
                                         % (self.backup_path, backup.description), path=self.path)
            effective = self._decode_file(read_bytes(self.backup_path), self.backup_path)
            if decoded is None:
                decoded = effective
            else:
                decoded = Decoded(effective.keys, decoded.layout)   # write back in the main file's layout
        self.layout = decoded.layout
        self._loaded = (decoded.keys, hashlib.sha256(data).hexdigest() if data is not None else None)
        return decoded.keys

    @property
    def loaded_sha256(self):
        """SHA-256 of the bytes the last load() (or write()) saw; None before either."""
        return self._loaded[1] if self._loaded is not None else None

    def inspect_backup(self):
        try:
            data = read_bytes(self.backup_path)
        except KeystoreNotFoundError:
            return BackupState(self.backup_path, present=False)
        try:
            keys = self.decode(data).keys
        except KeystoreError as exc:
            return self._describe_backup(data, None, exc)
        return self._describe_backup(data, keys, None)

    def _describe_backup(self, data, keys, error):
        """What the server does with this backup at start-up; formats with other rules override it."""
        size = len(data)
        if self.backup_action_when_valid == BACKUP_ROLL_BACK:
            # keyring_file (buffered_file_io.cc recreate_keyring_from_backup_if_backup_exists)
            if error is not None:
                return BackupState(self.backup_path, True, size, False, None, BACKUP_DISCARD,
                                   'the backup is malformed (%s); the server would delete it and keep the '
                                   'keystore' % error.detail)
            if len(keys) == 0:
                return BackupState(self.backup_path, True, size, True, 0, BACKUP_DISCARD,
                                   'the backup holds no keys; MySQL 8.0 would delete it and keep the keystore '
                                   '(5.7 has no such check and would restore the empty set)')
            return BackupState(self.backup_path, True, size, True, len(keys), BACKUP_ROLL_BACK,
                               'the backup holds the state before an interrupted write (%d keys); the server '
                               'would roll the keystore back to it at its next start' % len(keys))
        # components (data_file/reader.cc): a non-empty backup is the newest state and is copied over the file
        if size == 0:
            return BackupState(self.backup_path, True, 0, True, 0, BACKUP_DISCARD,
                               'the backup is empty; the server would delete it and keep the keystore')
        if error is not None:
            return BackupState(self.backup_path, True, size, False, None, BACKUP_ROLL_FORWARD,
                               'the backup is malformed (%s); the server would still copy it over the '
                               'keystore and then fail to start' % error.detail)
        return BackupState(self.backup_path, True, size, True, len(keys), BACKUP_ROLL_FORWARD,
                           'the backup holds the newest state of an interrupted write (%d keys); the server '
                           'would roll forward to it, copying it over the keystore at its next start (or refuse '
                           'to start if the component is read_only)' % len(keys))

    def inspect(self):
        """A KeystoreState. Parse errors propagate: a report on a corrupt keystore must say it is corrupt."""
        backup = self.inspect_backup()
        try:
            data = read_bytes(self.path, follow=self.follow)
        except KeystoreNotFoundError:
            return KeystoreState(self.path, self.type_name, exists=False, backup=backup)
        decoded = self._decode_file(data, self.path)
        return KeystoreState(self.path, self.type_name, exists=True, size=len(data),
                             sha256=hashlib.sha256(data).hexdigest(), key_count=len(decoded.keys),
                             details=self.describe_layout(decoded.layout), backup=backup)

    # ---- writing ---------------------------------------------------------------------------------------

    def lock(self):
        """Context manager: hold the keystore's exclusive lock (re-entrant within this object)."""
        return _ReentrantLock(self, self.lock_timeout)

    def remove_stale_temp_files(self):
        # Under the lock no other writer is alive, so any temp file of ours here was left by a killed run.
        # unlink relative to the directory's descriptor removes the name itself, whatever it is.
        directory, name = locate(real_path(self.path, follow=self.follow))
        with directory:
            prefix = '.%s.' % name
            for stale in directory.listdir():
                if stale.startswith(prefix) and stale.endswith(TEMP_SUFFIX):
                    try:
                        directory.unlink(stale)
                    except OSError:
                        pass

    def check_unique(self, keys):
        """Raise DuplicateKeyError if two keys share this format's signature."""
        seen = {}
        for key in keys:
            sig = self.signature(key)
            other = seen.get(sig)
            if other is not None:
                raise DuplicateKeyError('%s and %s would be the same key in a %s keystore'
                                        % (other.describe(), key.describe(), self.type_name),
                                        path=self.path, key_id=key.key_id)
            seen[sig] = key

    def render(self, keys):
        """Encode exactly `keys` (ordered) in the layout of the last load, and check that the bytes decode back to
        them, without taking the lock or touching the file: work a write() given this Rendered then skips, so
        that an online migration does it before the server is paused. The keys must be storable (as a plan's
        merged keys are)."""
        keys = list(keys)
        data = without_gc(self.encode, keys, self.layout)
        decoded = self._decode_file(data, self.path, remember=False)
        if list(decoded.keys) != keys:
            raise WriteVerificationError('the new keystore did not decode to the intended keys; nothing was '
                                         'changed', path=self.path)
        return Rendered(keys, data, decoded, self.loaded_sha256)

    def write(self, keys, owner=None, group=None, mode=None, expected_sha256=LAST_LOADED, set_aside_backup=False,
              planned=False, rendered=None):
        """Atomically replace the keystore with exactly `keys` (ordered); return a WriteResult.

        `expected_sha256` is the checksum of the bytes the caller planned against, None if it planned
        against no file (default: the last load, if any): if the file changed since, nothing is written. Keys not in the loaded file must pass
        check_storable. Writing the same keys again changes nothing.

        A '<file>.backup' makes the write fail (the server would undo it at its next start), unless
        `set_aside_backup`: then, after the new file is in place, the backup is renamed to
        '<file>.backup.keyops-<UTC time>' (kept, never deleted) so the server finds nothing to recover.

        `planned`: the keys are a plan_migration() result against the bytes `expected_sha256` names (the
        destination's keys, then keys it checked storable and signature-unique), so those checks are not
        repeated. Only honoured together with an `expected_sha256` that the file still has.

        `rendered`: render()'s result for these keys. Used only if it was rendered against the bytes the file
        has now; then the write is just the atomic replace, checked by comparing the bytes read back.
        """
        keys = list(keys)
        with self.lock():
            self.remove_stale_temp_files()
            backup = self.inspect_backup()
            if backup.present and not set_aside_backup:
                raise BackupPresentError('a backup file %s exists: %s; the server would undo this write, so '
                                         'nothing was written' % (self.backup_path, backup.description),
                                         path=self.path)
            if expected_sha256 is LAST_LOADED and self._loaded is not None:
                expected_sha256 = self._loaded[1]
            current, current_sha256 = self._current_bytes(expected_sha256)
            if (rendered is not None and rendered.base_sha256 == current_sha256 and not backup.present
                    and (rendered.keys is keys or rendered.keys == keys)):
                uid, gid, final_mode = write_atomically(self.path, rendered.data, mode=mode, owner=owner,
                                                        group=group, follow=self.follow)
                return self._written(rendered.decoded, rendered.data, current, uid, gid, final_mode, backup)
            existing = self._decode_file(current, self.path) if current is not None else None
            if not (planned and expected_sha256 is not LAST_LOADED):
                self._check_new_keys(keys, existing)
            data = without_gc(self.encode, keys, existing.layout if existing is not None else None)

            if (existing is not None and not backup.present and list(existing.keys) == keys
                    and self._attributes_match(owner, group, mode)):
                st = lstat_file(self.path, follow=self.follow)
                return WriteResult(self.path, False, False, len(keys), st.st_uid, st.st_gid, st.st_mode & 0o7777,
                                   current_sha256)

            verified = []

            def verify(new_bytes):
                decoded = self._decode_file(new_bytes, self.path, remember=False)
                if list(decoded.keys) != keys:
                    raise WriteVerificationError('the new keystore did not decode to the intended keys; '
                                                 'nothing was changed', path=self.path)
                verified.append(decoded)

            uid, gid, final_mode = write_atomically(self.path, data, mode=mode, owner=owner, group=group,
                                                    verify=verify, follow=self.follow)
            # The file holds exactly `data` (write_atomically read it back): its decoding is the one to keep.
            decoded = verified[0] if verified else self._decode_file(data, self.path)
            return self._written(decoded, data, current, uid, gid, final_mode, backup)

    def _current_bytes(self, expected_sha256):
        """(bytes or None, their SHA-256 or None) of the file now; ConcurrentWriterError if they are not the bytes
        the caller planned against (`expected_sha256`, see write)."""
        try:
            current = read_bytes(self.path, follow=self.follow)
        except KeystoreNotFoundError:
            current = None
        current_sha256 = hashlib.sha256(current).hexdigest() if current is not None else None
        if expected_sha256 is not LAST_LOADED and current_sha256 != expected_sha256:
            raise ConcurrentWriterError('the keystore changed since it was read; nothing was written', path=self.path)
        return current, current_sha256

    def _check_new_keys(self, keys, existing):
        """Keys the file does not hold yet must be storable in its layout, and no two keys may share a signature."""
        known = existing.keys if existing is not None else KeySet()
        layout = existing.layout if existing is not None else None
        for key in keys:
            if key not in known:
                try:
                    self.check_storable(key, layout)
                except KeystoreError as exc:
                    raise exc.with_path(self.path)
        self.check_unique(keys)

    def _written(self, decoded, data, previous, uid, gid, final_mode, backup):
        self.layout = decoded.layout
        digest = hashlib.sha256(data).hexdigest()
        self._loaded = (decoded.keys, digest)
        result = WriteResult(self.path, True, previous is None, len(decoded.keys), uid, gid, final_mode, digest)
        if backup.present:
            result.backup_set_aside = self._set_aside_backup()
        return result

    def _set_aside_backup(self):
        aside = '%s.keyops-%s' % (self.backup_path, time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()))
        try:
            directory, name = locate(self.backup_path)
            with directory:
                directory.rename(name, os.path.basename(aside))     # renames the name itself, whatever it is
                directory.fsync()
        except OSError as exc:
            raise KeystoreError('the keystore was written, but its backup %s could not be moved to %s (%s): move '
                                'it away by hand before the server restarts, or the server will undo the write'
                                % (self.backup_path, aside, exc.strerror), path=self.path)
        return aside

    def _attributes_match(self, owner, group, mode):
        st = lstat_file(self.path, follow=self.follow)
        uid, gid = resolve_uid(owner), resolve_gid(group)
        return ((uid is None or uid == st.st_uid) and (gid is None or gid == st.st_gid)
                and (mode is None or mode == st.st_mode & 0o7777))


class _ReentrantLock:
    def __init__(self, keystore, timeout):
        self.keystore = keystore
        self.timeout = timeout

    def __enter__(self):
        ks = self.keystore
        if ks._lock_depth == 0:
            ks._lock = DirectoryLock(real_path(ks.path, follow=ks.follow), self.timeout).__enter__()
        ks._lock_depth += 1
        return ks

    def __exit__(self, *exc_info):
        ks = self.keystore
        ks._lock_depth -= 1
        if ks._lock_depth == 0:
            ks._lock.__exit__(*exc_info)
            ks._lock = None
        return False
