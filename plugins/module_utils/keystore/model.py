# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keys, key sets and the errors of the keystore library.

Pure Python (3.8+), no Ansible imports. Key bytes never appear in a repr, a message or an exception:
everything here that is shown to a user names keys by (key_id, user_id) only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from operator import itemgetter

# The key types MySQL's keyring services accept (plugin/keyring/common/keyring_key.cc; 8.0 adds SECRET).
KEY_TYPES = ('AES', 'RSA', 'DSA', 'SECRET')

# Longest key MySQL stores: SECRET keys go up to 16384 bytes and the component refuses anything longer
# (components/keyrings/common/data_file backend.h maximum_data_length()).
MAX_KEY_LENGTH = 16384


class Key(tuple):
    """One keyring key: (key_id, user_id, key_type, data). Immutable; equality compares identity, type and bytes.

    A tuple underneath: a keystore of 100,000 keys builds, compares and hashes hundreds of thousands of keys
    per migration, and tuple construction, equality and hashing run in C. Only the repr is overridden, so the
    bytes never show in one.
    """

    __slots__ = ()

    def __new__(cls, key_id, user_id, key_type, data):
        if not isinstance(key_id, str) or not isinstance(user_id, str) or not isinstance(key_type, str):
            raise TypeError('key_id, user_id and key_type must be str')
        if not isinstance(data, bytes):
            raise TypeError('key data must be bytes')
        return tuple.__new__(cls, (key_id, user_id, key_type, data))

    @classmethod
    def trusted(cls, key_id, user_id, key_type, data):
        """A Key from fields a decoder has already typed (str, str, str, bytes): no checks, for bulk loads."""
        return tuple.__new__(cls, (key_id, user_id, key_type, data))

    key_id = property(itemgetter(0))
    user_id = property(itemgetter(1))
    key_type = property(itemgetter(2))
    data = property(itemgetter(3))
    identity = property(itemgetter(0, 1), doc='(key_id, user_id): what every format tells keys apart by '
                                              '(the plugin adds a stricter rule).')

    def __getnewargs__(self):
        return tuple(self)

    def __repr__(self):
        # Never the bytes: a repr ends up in tracebacks and -vvvv output.
        return 'Key(key_id=%r, user_id=%r, key_type=%r, length=%d)' % (
            self[0], self[1], self[2], len(self[3]))

    __str__ = __repr__

    def describe(self):
        """How messages name a key: its id, and its owner when it has one."""
        return describe_identity(self[0], self[1])


def describe_identity(key_id, user_id):
    if user_id:
        return 'key %r (user %r)' % (key_id, user_id)
    return 'key %r (no user)' % (key_id,)


class KeySet:
    """An ordered set of keys, unique by (key_id, user_id). Order is kept: it is the file's record order."""

    def __init__(self, keys=()):
        self._keys = {}
        for key in keys:
            self.add(key)

    def add(self, key):
        if key.identity in self._keys:
            raise DuplicateKeyError('%s appears twice' % key.describe(), key_id=key.key_id)
        self._keys[key.identity] = key

    def get(self, key_id, user_id):
        return self._keys.get((key_id, user_id))

    def __iter__(self):
        return iter(self._keys.values())

    def __len__(self):
        return len(self._keys)

    def __contains__(self, key):
        return self._keys.get(key.identity) == key

    def __eq__(self, other):
        if not isinstance(other, KeySet):
            return NotImplemented
        return self._keys == other._keys

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None

    def identities(self):
        return list(self._keys)

    def copy(self):
        """A new KeySet with the same keys in the same order (keys are immutable and already unique)."""
        other = KeySet()
        other._keys = dict(self._keys)
        return other

    def __repr__(self):
        return 'KeySet(%d keys)' % len(self._keys)


# ---------------------------------------------------------------------------------------------------------
# Errors. One class per failure a user must tell apart; every one names the file and, where it has one, the
# byte offset or the key. Messages say what is wrong and what to do, never what a key's bytes are.
# ---------------------------------------------------------------------------------------------------------

class KeystoreError(Exception):
    """Base class of every error the keystore library raises."""

    hint = ''

    def __init__(self, message, path=None, offset=None, key_id=None):
        self.path = path
        self.offset = offset
        self.key_id = key_id
        self.detail = message
        super(KeystoreError, self).__init__(message)

    def with_path(self, path):
        """Attach the file name once the caller knows it (codecs work on bytes)."""
        if self.path is None:
            self.path = path
        return self

    def __str__(self):
        parts = []
        if self.path is not None:
            parts.append(str(self.path))
        if self.offset is not None:
            parts.append('offset %d' % self.offset)
        where = (', '.join(parts) + ': ') if parts else ''
        text = where + self.detail
        if self.hint:
            text += '. ' + self.hint
        return text


class CorruptKeystoreError(KeystoreError):
    """The file is not a well-formed keystore of the expected format."""

    hint = 'The file is damaged or is not of the stated keystore type; restore it from a backup or check the type'


class BadHeaderError(CorruptKeystoreError):
    """keyring_file: the version header is missing, unknown, or the file is too short for one."""


class MissingEofError(CorruptKeystoreError):
    """keyring_file: the 'EOF' tag is not where the version puts it (the file is truncated or has trailing bytes)."""


class DigestMismatchError(CorruptKeystoreError):
    """keyring_file 2.0: the SHA-256 digest after 'EOF' does not match the key records."""


class TruncatedRecordError(CorruptKeystoreError):
    """keyring_file: a key record runs past the end of the key area."""


class OverlongLengthError(CorruptKeystoreError):
    """keyring_file: a record's lengths do not fit in its declared size."""


class BadPaddingError(CorruptKeystoreError):
    """keyring_file record padding, or PKCS#7 padding of the encrypted component, is wrong."""


class BadJsonError(CorruptKeystoreError):
    """component keystores: the document is not JSON, or does not follow the component's schema."""


class BadHexError(CorruptKeystoreError):
    """component keystores: a hex string has an odd length or a character that is not a hex digit."""


class UnknownKeyTypeError(KeystoreError):
    """A key's type is not one MySQL's keyring services know (AES, RSA, DSA, SECRET)."""

    hint = 'Only AES, RSA, DSA and SECRET keys are supported; check that the file is a MySQL keystore'


class KeyTooLargeError(KeystoreError):
    """A key is longer than MySQL's 16384-byte limit."""

    hint = 'MySQL keystores hold keys of at most %d bytes' % MAX_KEY_LENGTH


class InvalidKeyError(KeystoreError):
    """A key this format cannot hold (empty key id, a type the format's version lacks, ...)."""


class DuplicateKeyError(KeystoreError):
    """Two keys with the same identity in one keystore; MySQL refuses to load such a file."""

    hint = 'MySQL refuses to load a keystore with duplicate keys; remove one of them by hand'


class WrongPasswordError(KeystoreError):
    """The encrypted component keystore does not decrypt with the given password."""

    hint = 'Check the keystore password (the same value as the component\'s "password" setting)'


class MissingDependencyError(KeystoreError):
    """A Python package the format needs is not installed on this host."""


class KeystoreNotFoundError(KeystoreError):
    """The keystore file does not exist."""

    hint = 'Check the path (it must be absolute) and that the keystore lives on this host'


class UnsafePathError(KeystoreError):
    """A path the collection will not act on: a symbolic link, a hard-linked file, a fifo, a socket or a device where
    a keystore, configuration file or directory should be (see safe_fs: directories the server's user can write
    are untrusted)."""


class BackupPresentError(KeystoreError):
    """A '<file>.backup' exists; the server would replace the main file with it at its next start."""


class ConcurrentWriterError(KeystoreError):
    """Another writer holds the keystore's lock, or changed the file while we were working."""

    hint = 'Another run (or a running server) is writing this keystore; pause it or wait, then run again'


class WriteVerificationError(KeystoreError):
    """What was written does not read back as what was meant; the destination was left unchanged."""


class MigrationConflictError(KeystoreError):
    """A migration plan has conflicts; nothing was written."""

    def __init__(self, message, conflicts, path=None):
        super(MigrationConflictError, self).__init__(message, path=path)
        self.conflicts = conflicts
        self.plan = None
