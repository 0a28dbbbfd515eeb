# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vault keystores in Percona's layout (keyring_vault plugin, component_keyring_vault): load, inspect, migrate.

A Vault mount has no atomic multi-key write. A migration into one therefore plans first (conflicts write nothing),
writes the keys one by one (KV v2: check-and-set "create only"), and on any failure removes exactly the keys this run
wrote, if it still can; see docs/vault-keystores.md, "Writes, and what 'left as it was' means on Vault".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from .base import ON_BACKUP_FAIL, ON_BACKUP_FOLLOW_SERVER
from .faults import checkpoint
from .model import (
    KEY_TYPES,
    MAX_KEY_LENGTH,
    ConcurrentWriterError,
    CorruptKeystoreError,
    InvalidKeyError,
    Key,
    KeySet,
    KeystoreError,
    KeyTooLargeError,
    UnknownKeyTypeError,
    WriteVerificationError,
)
from .plan import conflict_error, load_destination, plan_migration
from .vault_client import VaultAuthError, VaultClient, VaultError, VaultSealedError, VaultVersionError
from .vault_config import VaultSettings
from .vault_layout import (
    KV_AUTO,
    KV_V1,
    KV_V2,
    EntryError,
    Layout,
    is_kv2_config,
    is_soft_deleted,
    key_name,
    key_signature,
    mount_prefixes,
    name_is_listable,
    parse_key_name,
    parse_list,
    parse_secret,
    server_uuids,
    write_body,
)

VAULT_TYPES = ('keyring_vault', 'component_keyring_vault')


class SharedMountError(KeystoreError):
    """The destination mount holds InnoDB master keys of another server: Percona wants one mount per server."""

    hint = ('Give this server its own secret_mount_point (Percona requires one mount per server); if the keys are this '
            'server\'s own from before a server_uuid change, allow a shared mount explicitly')


class VaultEntryError(CorruptKeystoreError):
    """A name in the mount is a key in Percona's layout, but its stored secret is not."""

    hint = 'Percona would fail to read this key too; repair or remove the entry by hand (bao kv get/metadata delete)'


class VaultWriteResult:
    """What apply() did: the keys written (secret-free summaries) and the mount's key count afterwards."""

    def __init__(self, written, key_count):
        self.written = written
        self.changed = bool(written)
        self.key_count = key_count


class VaultKeystore:
    """A Vault mount holding one server's keys in Percona's layout. Nothing is contacted before resolve()."""

    backup_path = None
    follow = False

    def __init__(self, settings, keystore_type='component_keyring_vault', client=None):
        if not isinstance(settings, VaultSettings):
            raise TypeError('settings must be VaultSettings')
        if keystore_type not in VAULT_TYPES:
            raise KeystoreError('unknown Vault keystore type %r' % keystore_type)
        self.settings = settings
        self.type_name = keystore_type
        self.path = settings.where()        # what messages and plans name the keystore by
        self.client = client or VaultClient(settings.url, settings.token, ca_file=settings.ca,
                                            timeout=settings.timeout, namespace=settings.namespace,
                                            where=self.path)
        self.layout = None
        self.token_info = None
        self.entries = None         # the last load's listing: see load()
        self._loaded_sha256 = None
        self._unanswered = set()
        self.before_key = None      # test hook: called as before_key(index, key) before each key is written

    def __repr__(self):
        return 'VaultKeystore(%s, %s)' % (self.type_name, self.path)

    def same_place(self, other):
        """Whether `other` names the same secrets: server, namespace and mount point."""
        mine, theirs = self.settings, other.settings
        return ((mine.url, mine.namespace or '', mine.secret_mount_point.strip('/')) ==
                (theirs.url, theirs.namespace or '', theirs.secret_mount_point.strip('/')))

    # ---- connecting ------------------------------------------------------------------------------------

    def resolve(self):
        """Check the server and the token, and find where keys live, as Percona does (docs, 3.1). Returns the
        Layout. Raises VaultSealedError, VaultAuthError, VaultMountError, VaultVersionError, connection errors."""
        client = self.client
        status = client.seal_status()
        if status.get('sealed') is True:
            raise VaultSealedError('the server is sealed', path=self.path)
        self.token_info = client.lookup_self()
        smp = self.settings.secret_mount_point
        wanted = self.settings.kv_version
        layout = None
        denied = []         # prefixes whose <prefix>/config the token may not read
        if wanted != KV_V1:
            for prefix in mount_prefixes(smp):
                response = client.request('GET', prefix + '/config', what='probing %s/config' % prefix)
                if response.status == 403:
                    denied.append(prefix)
                if response.ok and is_kv2_config(response.document):
                    layout = Layout.for_v2(smp, prefix)
                    break
            if layout is None and wanted == KV_V2:
                raise VaultVersionError('secret_mount_point_version is 2 but no KV v2 mount was found at %r or a '
                                        'prefix of it' % smp, path=self.path)
        if layout is None:
            layout = Layout(smp, KV_V1)
        # The mount must exist, and a v1 view must not be of a v2 mount (a token that cannot read <mount>/config).
        response = client.request('GET', layout.list_path(), list_keys=True, what='listing the keys')
        try:
            client.check(response, 'listing the keys of %s' % layout.describe(), missing_ok=True)
        except VaultAuthError:
            if not denied or layout.kv_version != KV_V1:
                raise
            raise VaultVersionError('the KV version could not be detected: the token may not read %s, and listing the '
                                    'path as KV v1 was denied; if the mount is KV v2, Percona cannot detect it with '
                                    'this token either (grant read on <mount>/config)'
                                    % ', '.join(p + '/config' for p in denied), path=self.path)
        except VaultVersionError:
            raise VaultVersionError('the mount is KV v2 but was resolved as KV v1 (secret_mount_point_version %s): '
                                    'the token cannot read <mount>/config, so Percona would not detect v2 either'
                                    % wanted, path=self.path)
        self.layout = layout
        return layout

    # ---- reading ---------------------------------------------------------------------------------------

    def _list(self):
        response = self.client.request('GET', self.layout.list_path(), list_keys=True, what='listing the keys')
        self.client.check(response, 'listing the keys of %s' % self.layout.describe(), missing_ok=True)
        if response.status == 404:
            return []
        try:
            return parse_list(response.document)
        except EntryError as exc:
            raise VaultEntryError(str(exc), path=self.path)

    def _read(self, name):
        """(key_type, data), or None when the name has no readable current version (KV v2 soft delete, or gone)."""
        response = self.client.request('GET', self.layout.data_path(name), what='reading a key')
        if response.status == 404 and (is_soft_deleted(response.document) or not response.errors):
            return None
        self.client.check(response, 'reading a key')
        try:
            return parse_secret(response.document, self.layout.kv_version)
        except EntryError as exc:
            identity = parse_key_name(name)
            raise VaultEntryError('the entry %r (%s) is not a key in Percona\'s layout: %s'
                                  % (name, _describe(identity), exc), path=self.path)

    def load(self, on_backup=ON_BACKUP_FAIL):
        """The mount's keys as a KeySet (listing order). Entries that are not keys in Percona's layout are kept in
        self.entries: 'directories' (names ending in '/'), 'foreign' (names Percona cannot parse),
        'soft_deleted' (KV v2 names without a current version). `on_backup` is accepted for the Keystore interface;
        a mount has no backup file."""
        if self.layout is None:
            self.resolve()
        names = self._list()
        entries = {'directories': [], 'foreign': [], 'soft_deleted': []}
        keys = KeySet()
        digest = hashlib.sha256()
        for name in names:
            if name.endswith('/'):
                entries['directories'].append(name)
                continue
            identity = parse_key_name(name)
            if identity is None:
                entries['foreign'].append(name)
                continue
            secret = self._read(name)
            if secret is None:
                entries['soft_deleted'].append(name)
                continue
            key_type, data = secret
            key_id, user_id = identity
            if key_type not in KEY_TYPES:
                raise UnknownKeyTypeError('%s has type %r' % (_describe(identity), key_type[:20]), path=self.path,
                                          key_id=key_id)
            if len(data) > MAX_KEY_LENGTH:
                raise KeyTooLargeError('%s is %d bytes long' % (_describe(identity), len(data)), path=self.path,
                                       key_id=key_id)
            keys.add(Key(key_id, user_id, key_type, data))
            digest.update(key_signature(key_id, user_id) + b'\0' + key_type.encode('ascii') + b'\0' +
                          hashlib.sha256(data).digest())
        self.entries = entries
        self._loaded_sha256 = digest.hexdigest()
        return keys

    @property
    def loaded_sha256(self):
        """A digest of the last load's keys (identities, types, digests of the bytes); None before a load."""
        return self._loaded_sha256

    def inspect(self):
        """A secret-free report: where, KV version, key identities and types, odd entries, server UUIDs seen."""
        keys = self.load()
        return dict(type=self.type_name, url=self.settings.url, secret_mount_point=self.settings.secret_mount_point,
                    kv_version=self.layout.kv_version, mount=self.layout.mount, directory=self.layout.directory,
                    exists=True, key_count=len(keys),
                    keys=[dict(key_id=k.key_id, user_id=k.user_id, key_type=k.key_type) for k in keys],
                    directories=list(self.entries['directories']), foreign=list(self.entries['foreign']),
                    soft_deleted=list(self.entries['soft_deleted']), server_uuids=sorted(server_uuids(keys)))

    # ---- what the planner asks a destination -----------------------------------------------------------

    def signature(self, key):
        return key_signature(key.key_id, key.user_id)

    def check_storable(self, key, layout=None):
        if not key.key_id:
            raise InvalidKeyError('%s has an empty key id, which Percona cannot name' % key.describe(),
                                  key_id=key.key_id)
        if key.key_type not in KEY_TYPES:
            raise UnknownKeyTypeError('%s has type %r' % (key.describe(), key.key_type), key_id=key.key_id)
        if not key.data:
            raise InvalidKeyError('%s has no bytes' % key.describe(), key_id=key.key_id)
        if len(key.data) > MAX_KEY_LENGTH:
            raise KeyTooLargeError('%s is %d bytes long' % (key.describe(), len(key.data)), key_id=key.key_id)
        if not name_is_listable(key_name(key.key_id, key.user_id)):
            raise InvalidKeyError('%s would be stored under a name containing "/", which Percona cannot list (it would '
                                  'lose the key at its next start)' % key.describe(), key_id=key.key_id)

    def identity_rules_suffice(self, keys):
        """True when every key is storable: signatures are one-to-one on identities (length-prefixed)."""
        for key in keys:
            try:
                self.check_storable(key)
            except KeystoreError:
                return False
        return True

    # ---- writing ---------------------------------------------------------------------------------------

    def apply(self, plan):
        """Write plan.to_copy one key at a time; verify; on any failure remove what this run wrote (see module
        docstring). Returns a VaultWriteResult."""
        attempted = []      # keys whose write was sent (maybe applied): the only keys a roll-back may remove
        self._unanswered = set()    # identities of writes sent that got no answer (they may land later)
        try:
            for index, key in enumerate(plan.to_copy):
                checkpoint('vault_before_key')
                if self.before_key is not None:
                    self.before_key(index, key)
                self._write_new(key, attempted)
            self._verify(plan)
        except BaseException as exc:
            self._roll_back(attempted, exc)
            raise
        return VaultWriteResult([dict(key_id=k.key_id, user_id=k.user_id, key_type=k.key_type) for k in attempted],
                                len(plan.destination_keys) + len(attempted))

    def _write_new(self, key, attempted):
        name = key_name(key.key_id, key.user_id)
        path = self.layout.data_path(name)
        what = 'writing %s' % key.describe()
        if self.layout.kv_version == KV_V1:
            if self._read(name) is not None:
                raise ConcurrentWriterError('%s appeared in the mount after the plan was made; it was not '
                                            'overwritten' % key.describe(), path=self.path, key_id=key.key_id)
            body = write_body(key.key_type, key.data, KV_V1)
        else:
            body = write_body(key.key_type, key.data, KV_V2, create_only=True)
        attempted.append(key)       # from here the write may land even if no answer comes
        self._unanswered.add(key.identity)
        try:
            response = self.client.request('POST', path, body, what=what)
        except VaultError as exc:
            if not getattr(exc, 'request_sent', True):
                attempted.pop()     # it never reached the server: nothing can have landed
                self._unanswered.discard(key.identity)
            raise
        self._unanswered.discard(key.identity)
        if not response.ok:
            attempted.pop()         # an answer that is not a success: nothing was stored
            if response.status == 400 and any('check-and-set' in e for e in response.errors):
                raise ConcurrentWriterError('%s appeared in the mount after the plan was made; it was not '
                                            'overwritten' % key.describe(), path=self.path, key_id=key.key_id)
        self.client.check(response, what)

    def _verify(self, plan):
        expected = plan.merged_keys()
        keys = self.load()
        missing = [k for k in expected if k not in keys]
        if missing:
            raise WriteVerificationError('%d keys do not read back as written (first: %s)'
                                         % (len(missing), missing[0].describe()), path=self.path)

    def _roll_back(self, attempted, exc):
        """Remove the keys in `attempted` that still hold exactly what this run wrote; note the outcome on `exc`."""
        if not attempted:
            return
        removed, left, absent = [], [], []
        for key in reversed(attempted):
            try:
                if self._remove_own(key):
                    removed.append(key)
                elif key.identity in self._unanswered:
                    absent.append(key)
            except Exception:   # the roll-back must not hide the error that caused it
                left.append(key)
        for key in list(absent):    # a write that got no answer may have landed meanwhile: look once more
            try:
                if self._remove_own(key):
                    absent.remove(key)
                    removed.append(key)
            except Exception:
                absent.remove(key)
                left.append(key)
        if isinstance(exc, KeystoreError):
            notes = []
            if left:
                notes.append('%d of the %d keys this run wrote could not be removed again, so the mount is NOT as '
                             'it was (%s); they are exact copies of source keys: run again to complete the migration '
                             '(they will count as already present)'
                             % (len(left), len(attempted), ', '.join(k.describe() for k in left[:5])))
            elif removed:
                notes.append('the %d keys this run wrote were removed again; the mount is as it was' % len(removed))
            else:
                notes.append('this run wrote no key that remained; the mount is as it was')
            if absent:
                notes.append('the write of %s got no answer and was not in the mount when checked, but may still '
                             'land: list the mount, or run again (a copy of a source key counts as already present)'
                             % ', '.join(k.describe() for k in absent[:5]))
            note = '; '.join(notes)
            exc.hint = (exc.hint + '. ' if exc.hint else '') + note[0].upper() + note[1:]
            exc.rolled_back = [k.identity for k in removed]
            exc.left_behind = [k.identity for k in left]
            exc.unanswered = [k.identity for k in absent]

    def _remove_own(self, key):
        """Delete `key` if the mount holds exactly it (and, on KV v2, one version only). True if deleted."""
        name = key_name(key.key_id, key.user_id)
        current = self._read(name)
        if current is None:
            return False        # the write never landed
        if current != (key.key_type, key.data):
            return False        # someone else's now: never touched
        if self.layout.kv_version == KV_V2:
            response = self.client.request('GET', self.layout.metadata_path(name), what='reading a key\'s versions')
            self.client.check(response, 'reading the versions of %s' % key.describe())
            data = response.document.get('data') if isinstance(response.document, dict) else None
            versions = data.get('versions') if isinstance(data, dict) else None
            if not isinstance(versions, dict) or len(versions) != 1:
                return False    # a version this run did not write: leave the key
            response = self.client.request('DELETE', self.layout.metadata_path(name),
                                           what='removing %s' % key.describe())
        else:
            response = self.client.request('DELETE', self.layout.data_path(name), what='removing %s' % key.describe())
        self.client.check(response, 'removing %s' % key.describe())
        return True


class KeySnapshot:
    """A keystore's keys as read once: what a copy plans with and writes from, so that a Vault mount (one GET per
    key) is read once per run, and a server is paused only while its keystore is read again (refresh), not for a
    mount's key-by-key writes (seconds per thousand keys)."""

    backup_path = None
    follow = False

    def __init__(self, keystore, on_backup=ON_BACKUP_FAIL):
        self.keystore = keystore
        self.on_backup = on_backup
        self.path = keystore.path
        self.type_name = keystore.type_name
        self._keys = keystore.load(on_backup)
        self.loaded_sha256 = keystore.loaded_sha256
        self._names = self._listing()

    def _listing(self):
        if isinstance(self.keystore, VaultKeystore):
            return sorted(name for name in self.keystore._list() if not name.endswith('/'))
        return None

    def refresh(self):
        """Take the keystore as it is now; True if its keys changed since the snapshot. A file is read again
        (milliseconds); a Vault mount is listed (one request) and read again only if a key came or went."""
        if self._names is not None:
            if self._listing() == self._names:
                return False
            self._keys = self.keystore.load()
            self._names = self._listing()
        else:
            self._keys = self.keystore.load(self.on_backup)
        changed = self.keystore.loaded_sha256 != self.loaded_sha256
        self.loaded_sha256 = self.keystore.loaded_sha256
        return changed

    def load(self, on_backup=ON_BACKUP_FAIL):
        return self._keys

    def same_place(self, other):
        return isinstance(self.keystore, VaultKeystore) and self.keystore.same_place(other)


def _describe(identity):
    if identity is None:
        return 'an unparseable name'
    key_id, user_id = identity
    return Key(key_id, user_id, 'AES', b'').describe()


def open_vault_keystore(keystore_type, settings):
    return VaultKeystore(settings, keystore_type)


def check_one_server(source_keys, destination_keys, destination):
    """SharedMountError when the destination holds InnoDB master keys of a server the source has none of."""
    source_uuids = server_uuids(source_keys)
    foreign = server_uuids(destination_keys) - source_uuids
    if foreign and source_uuids:
        raise SharedMountError('the mount holds InnoDB master keys of server_uuid %s, and the source\'s keys are of %s'
                               % (', '.join(sorted(foreign)), ', '.join(sorted(source_uuids))),
                               path=destination.path)


def plan_to_vault(source, destination, allow_shared_mount=False, on_backup=ON_BACKUP_FAIL):
    """The plan of a copy into the VaultKeystore `destination`, made from both sides as they are now. Conflicts
    raise MigrationConflictError, and a mount holding another server's keys SharedMountError: nothing is written."""
    if isinstance(source, (VaultKeystore, KeySnapshot)) and source.same_place(destination):
        raise KeystoreError('source and destination are the same mount', path=destination.path)
    source_keys = source.load(on_backup)
    if destination.layout is None:
        destination.resolve()
    destination_keys = destination.load()
    if not allow_shared_mount:
        check_one_server(source_keys, destination_keys, destination)
    plan = plan_migration(source_keys, destination_keys, destination, destination.loaded_sha256)
    if plan.conflicts:
        raise conflict_error(plan, destination)
    return plan


def plan_from_vault(source, destination, on_backup=ON_BACKUP_FAIL):
    """The plan of a copy from the VaultKeystore `source` into the file keystore `destination` (no lock taken)."""
    source_keys = source.load()
    destination_keys, digest = load_destination(destination, on_backup)
    plan = plan_migration(source_keys, destination_keys, destination, digest)
    if plan.conflicts:
        raise conflict_error(plan, destination)
    return plan


def migrate_keys(source, destination, check_mode=False, allow_shared_mount=False, owner=None, group=None, mode=None,
                 on_backup=ON_BACKUP_FAIL, before_write=None, plan=None):
    """Copy the source's keys into the destination when either is a VaultKeystore. Returns (plan, result or None).

    Vault destination: plan against the mount (unless `plan`, plan_to_vault()'s for this source as it still is, is
    given: apply() finds a key that appeared meanwhile, and checks the mount at the end), then apply() (keys one by
    one, rolled back on failure).
    File destination: plan under the file's lock, then its atomic write (with owner, group, mode; `before_write(plan)`
    just before it), as plan.migrate does."""
    if isinstance(destination, VaultKeystore):
        if plan is None:
            plan = plan_to_vault(source, destination, allow_shared_mount, on_backup)
        if check_mode or not plan.to_copy:
            return plan, None
        return plan, destination.apply(plan)
    with destination.lock():
        destination.remove_stale_temp_files()
        plan = plan_from_vault(source, destination, on_backup)
        if check_mode or (not plan.to_copy and plan.destination_exists and
                          owner is None and group is None and mode is None):
            return plan, None
        if before_write is not None:
            before_write(plan)
        return plan, destination.write(plan.merged_keys(), owner=owner, group=group, mode=mode,
                                       expected_sha256=plan.destination_sha256, planned=True,
                                       set_aside_backup=on_backup == ON_BACKUP_FOLLOW_SERVER)


__all__ = ['VaultKeystore', 'VaultSettings', 'KeySnapshot', 'SharedMountError', 'VaultEntryError', 'migrate_keys', 'plan_to_vault',
           'plan_from_vault', 'open_vault_keystore', 'KV_AUTO', 'KV_V1', 'KV_V2']
