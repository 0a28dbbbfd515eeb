# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keyring_file plugin's binary format (MySQL 5.7 and 8.0; the format: docs/keystore-formats.md).

    "Keyring file version:1.0" | "...:2.0"   24 bytes
    records                                  each: 5 size_t (pod_size, id, type, user, data lengths),
                                             id, type, user, XOR-obfuscated data, zero padding to size_t
    "EOF"                                    3 bytes
    SHA-256 of the records                   32 bytes, version 2.0 only

size_t is 8 or 4 bytes, little- or big-endian (LE_64, LE_32, BE_64, BE_32): the architecture is detected the
way MySQL 8.0's Checker::detect_architecture does, and a file is written back in its own version and layout.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import struct

from .base import BACKUP_ROLL_BACK, Decoded, Keystore
from .model import (
    KEY_TYPES,
    MAX_KEY_LENGTH,
    BadHeaderError,
    BadPaddingError,
    CorruptKeystoreError,
    DigestMismatchError,
    DuplicateKeyError,
    InvalidKeyError,
    Key,
    KeySet,
    KeyTooLargeError,
    MissingEofError,
    OverlongLengthError,
    TruncatedRecordError,
    UnknownKeyTypeError,
    describe_identity,
)

VERSION_1_0 = b'Keyring file version:1.0'
VERSION_2_0 = b'Keyring file version:2.0'
VERSIONS = {VERSION_1_0: '1.0', VERSION_2_0: '2.0'}
HEADER_SIZE = 24
EOF_TAG = b'EOF'
DIGEST_SIZE = 32

# MySQL's detection order (Checker::detect_architecture): the first layout that fits wins.
ARCHITECTURES = (
    ('LE_64', '<5Q', 8),
    ('LE_32', '<5I', 4),
    ('BE_64', '>5Q', 8),
    ('BE_32', '>5I', 4),
)
ARCH_FORMATS = dict((name, (fmt, width)) for name, fmt, width in ARCHITECTURES)

DEFAULT_LAYOUT = ('2.0', 'LE_64')   # what 8.0 on x86_64 writes; the layout of every new file

# Key::xor_data(): key bytes are XORed with this string, repeated (plugin/keyring/common/keyring_key.cc).
OBFUSCATION = b'*305=Ljt0*!@$Hnm(*-9-w;:'
_MASK = OBFUSCATION * (MAX_KEY_LENGTH // len(OBFUSCATION) + 2)


def xor_obfuscate(data):
    """The plugin's obfuscation; its own inverse."""
    n = len(data)
    if n == 0:
        return b''
    mask = _MASK[:n] if n <= len(_MASK) else (OBFUSCATION * (n // len(OBFUSCATION) + 1))[:n]
    return (int.from_bytes(data, 'little') ^ int.from_bytes(mask, 'little')).to_bytes(n, 'little')


def _align(size, width):
    return (size + width - 1) // width * width


def _encode_text(text, what, key):
    try:
        return text.encode('utf-8', 'surrogateescape')
    except UnicodeEncodeError:
        raise InvalidKeyError('%s of %s cannot be encoded' % (what, key.describe()), key_id=key.key_id)


def _decode_text(raw):
    # Ids are whatever bytes the server was given; surrogateescape keeps non-UTF-8 bytes round-trippable.
    return raw.decode('utf-8', 'surrogateescape')


class _Record:
    __slots__ = ('offset', 'key_id', 'key_type', 'user_id', 'raw_data')

    def __init__(self, offset, key_id, key_type, user_id, raw_data):
        self.offset = offset
        self.key_id = key_id
        self.key_type = key_type
        self.user_id = user_id
        self.raw_data = raw_data


def serialize_records(records, arch):
    """Body bytes for (id, type, user, obfuscated data) byte tuples in the given architecture."""
    fmt, width = ARCH_FORMATS[arch]
    header_size = 5 * width
    parts = []
    for key_id, key_type, user_id, raw in records:
        total = header_size + len(key_id) + len(key_type) + len(user_id) + len(raw)
        pod = _align(total, width)
        parts.append(struct.pack(fmt, pod, len(key_id), len(key_type), len(user_id), len(raw)))
        parts.extend((key_id, key_type, user_id, raw, b'\0' * (pod - total)))
    return b''.join(parts)


def detect_architecture(body):
    """MySQL 8.0's loose check: walk records by pod_size with total <= pod <= total + width; first fit wins."""
    if not body:
        return DEFAULT_LAYOUT[1]
    for name, fmt, width in ARCHITECTURES:
        header_size = 5 * width
        loc = 0
        while loc + header_size <= len(body):
            pod, l_id, l_type, l_user, l_data = struct.unpack_from(fmt, body, loc)
            total = header_size + l_id + l_type + l_user + l_data
            if pod % width or not total <= pod <= total + width:
                break
            loc += pod
        if loc == len(body):
            return name
    return None


def parse_records(body, arch, body_offset):
    """Strictly parse the records of `body` in `arch`. Return (records, bytes parsed before any error, error)."""
    fmt, width = ARCH_FORMATS[arch]
    header_size = 5 * width
    records = []
    loc = 0
    while loc < len(body):
        at = body_offset + loc
        left = len(body) - loc
        if left < header_size:
            return records, loc, TruncatedRecordError(
                'a key record starts here but only %d bytes remain before the EOF tag (a record header alone '
                'is %d bytes in %s layout)' % (left, header_size, arch), offset=at)
        pod, l_id, l_type, l_user, l_data = struct.unpack_from(fmt, body, loc)
        total = header_size + l_id + l_type + l_user + l_data
        if total > pod:
            return records, loc, OverlongLengthError(
                'the key record\'s lengths add up to %d bytes, more than its declared size of %d bytes'
                % (total, pod), offset=at)
        if pod > left:
            return records, loc, TruncatedRecordError(
                'the key record declares %d bytes but only %d remain before the EOF tag' % (pod, left), offset=at)
        if pod != _align(total, width):
            return records, loc, BadPaddingError(
                'the key record is %d bytes long; with %d bytes of content MySQL writes %d (padding to %d)'
                % (pod, total, _align(total, width), width), offset=at)
        pos = loc + header_size
        raw_id = body[pos:pos + l_id]
        pos += l_id
        raw_type = body[pos:pos + l_type]
        pos += l_type
        raw_user = body[pos:pos + l_user]
        pos += l_user
        raw_data = body[pos:pos + l_data]
        pos += l_data
        if body[pos:loc + pod].strip(b'\0'):
            return records, loc, BadPaddingError('the key record\'s padding bytes are not zero', offset=at)
        records.append(_Record(at, raw_id, raw_type, raw_user, raw_data))
        loc += pod
    return records, loc, None


_KEY_TYPE_NAMES = dict((name.encode('ascii'), name) for name in KEY_TYPES)
# The obfuscation mask of the commonest key lengths (AES-128/192/256) as integers, and a record's padding.
_MASK_INTS = dict((length, int.from_bytes(_MASK[:length], 'little')) for length in (16, 24, 32))
_ZEROS = bytes(8)


def _keys_of_native_file(body):
    """The KeySet of a body in the layout every x86_64 server writes (LE_64), in one pass; None for anything
    else: another layout, or any record the strict path would refuse (it then raises the precise error).

    When every record parses strictly as LE_64, detect_architecture() picks LE_64 too (it tries LE_64 first,
    and a strict fit is a loose fit), so the result is the strict path's. The digest is checked by the caller.
    """
    unpack_from = struct.Struct(ARCH_FORMATS['LE_64'][0]).unpack_from
    type_names = _KEY_TYPE_NAMES
    masks = _MASK_INTS.copy()
    new_key = tuple.__new__
    from_bytes = int.from_bytes
    keys = KeySet()
    table = keys._keys
    signatures = set()
    end = len(body)
    loc = 0
    while loc < end:
        if end - loc < 40:
            return None
        pod, l_id, l_type, l_user, l_data = unpack_from(body, loc)
        id_at = loc + 40
        type_at = id_at + l_id
        user_at = type_at + l_type
        data_at = user_at + l_user
        data_end = data_at + l_data
        next_loc = loc + pod
        # pod must be the content padded to 8 (the lengths are unsigned, so this also bounds each of them)
        if next_loc > end or pod != (data_end - loc + 7) & ~7 or l_data > MAX_KEY_LENGTH:
            return None
        if data_end != next_loc and body[data_end:next_loc] != _ZEROS[:next_loc - data_end]:
            return None
        key_type = type_names.get(body[type_at:user_at])
        if key_type is None:
            return None
        raw_id = body[id_at:type_at]
        raw_user = body[user_at:data_at]
        signature = raw_id + raw_user
        if signature in signatures:
            return None
        signatures.add(signature)
        key_id = raw_id.decode('utf-8', 'surrogateescape')
        user_id = raw_user.decode('utf-8', 'surrogateescape')
        mask = masks.get(l_data)
        if mask is None:
            mask = masks[l_data] = from_bytes(_MASK[:l_data], 'little')
        data = (from_bytes(body[data_at:data_end], 'little') ^ mask).to_bytes(l_data, 'little')
        table[(key_id, user_id)] = new_key(Key, (key_id, user_id, key_type, data))
        loc = next_loc
    # Two records with distinct signatures can still share (key_id, user_id) only if their bytes are equal,
    # which the signature set already refused; so the table holds one key per record.
    return keys


class KeyringFile(Keystore):
    """The keyring_file plugin's data file (keyring_file_data)."""

    type_name = 'keyring_file'
    backup_action_when_valid = BACKUP_ROLL_BACK

    def decode(self, data):
        if not data:
            # MySQL treats a 0-byte file as an empty keyring (and deletes it when it opens it).
            return Decoded(KeySet(), DEFAULT_LAYOUT)
        header = data[:HEADER_SIZE]
        version = VERSIONS.get(header)
        if version is None:
            raise BadHeaderError('not a keyring_file data file: %s' % _describe_start(data), offset=0)
        eof_size = len(EOF_TAG) + (DIGEST_SIZE if version == '2.0' else 0)
        if len(data) < HEADER_SIZE + eof_size or data[len(data) - eof_size:len(data) - eof_size + 3] != EOF_TAG:
            raise MissingEofError(
                'no "EOF" tag %s; the file is truncated or has bytes appended'
                % ('32 bytes before the end (version 2.0 ends with EOF and a SHA-256 digest)' if version == '2.0'
                   else 'at the end (version 1.0)'), offset=max(len(data) - eof_size, HEADER_SIZE))
        body = data[HEADER_SIZE:len(data) - eof_size]

        if version == '1.0' or data[-DIGEST_SIZE:] == hashlib.sha256(body).digest():
            keys = _keys_of_native_file(body)
            if keys is not None:
                return Decoded(keys, (version, DEFAULT_LAYOUT[1]))

        arch = detect_architecture(body)
        if arch is None:
            # No layout fits: report the strict parser's error from the layout that got furthest.
            best = None
            for name, _fmt, _width in ARCHITECTURES:
                _records, parsed, error = parse_records(body, name, HEADER_SIZE)
                if error is None:
                    error = CorruptKeystoreError('the key records fit no known architecture', offset=HEADER_SIZE)
                if best is None or parsed > best[0]:
                    best = (parsed, error)
            raise best[1]
        records, _parsed, error = parse_records(body, arch, HEADER_SIZE)
        if error is not None:
            raise error

        if version == '2.0':
            stored = data[-DIGEST_SIZE:]
            if stored != hashlib.sha256(body).digest() and not self._digest_of_other_layout(records, arch, stored):
                raise DigestMismatchError('the SHA-256 digest after the EOF tag does not match the key records; '
                                          'the file was changed or damaged after MySQL wrote it',
                                          offset=len(data) - DIGEST_SIZE)
        return Decoded(self._keys_from_records(records), (version, arch))

    @staticmethod
    def _digest_of_other_layout(records, arch, stored):
        # 8.0 digests its native buffer before converting it to the file's layout, so a foreign-layout file
        # written by an x86_64 server carries the digest of the LE_64 serialisation.
        raw = [(r.key_id, r.key_type, r.user_id, r.raw_data) for r in records]
        return any(hashlib.sha256(serialize_records(raw, name)).digest() == stored
                   for name, _fmt, _width in ARCHITECTURES if name != arch)

    def _keys_from_records(self, records):
        keys = KeySet()
        signatures = {}
        for record in records:
            key_id = _decode_text(record.key_id)
            user_id = _decode_text(record.user_id)
            try:
                key_type = record.key_type.decode('ascii')
            except UnicodeDecodeError:
                key_type = None
            if key_type not in KEY_TYPES:
                raise UnknownKeyTypeError('%s has an unknown key type %s'
                                          % (describe_identity(key_id, user_id), _show_type(record.key_type)),
                                          offset=record.offset, key_id=key_id)
            if len(record.raw_data) > MAX_KEY_LENGTH:
                raise KeyTooLargeError('%s is %d bytes long' % (describe_identity(key_id, user_id),
                                                                len(record.raw_data)),
                                       offset=record.offset, key_id=key_id)
            signature = record.key_id + record.user_id
            if signature in signatures:
                raise DuplicateKeyError('%s has the same signature (key id followed by user id) as the key '
                                        'record at offset %d' % (describe_identity(key_id, user_id),
                                                                 signatures[signature]),
                                        offset=record.offset, key_id=key_id)
            signatures[signature] = record.offset
            keys.add(Key(key_id, user_id, key_type, xor_obfuscate(record.raw_data)))
        return keys

    def encode(self, keys, layout):
        version, arch = layout or DEFAULT_LAYOUT
        records = []
        for key in keys:
            records.append((_encode_text(key.key_id, 'the key id', key), key.key_type.encode('ascii'),
                            _encode_text(key.user_id, 'the user id', key), xor_obfuscate(key.data)))
        body = serialize_records(records, arch)
        header = VERSION_2_0 if version == '2.0' else VERSION_1_0
        digest = hashlib.sha256(body).digest() if version == '2.0' else b''
        return header + body + EOF_TAG + digest

    def signature(self, key):
        # keyring_file hashes key_id || user_id with no separator: ("ab", "c") and ("a", "bc") collide.
        return (key.key_id + key.user_id).encode('utf-8', 'surrogateescape')

    def check_storable(self, key, layout):
        version = (layout or DEFAULT_LAYOUT)[0]
        if not key.key_id:
            raise InvalidKeyError('%s has an empty key id, which keyring_file refuses to store' % key.describe(),
                                  key_id=key.key_id)
        if key.key_type not in KEY_TYPES:
            raise UnknownKeyTypeError('%s has an unknown key type %r' % (key.describe(), key.key_type),
                                      key_id=key.key_id)
        if key.key_type == 'SECRET' and version == '1.0':
            raise InvalidKeyError('%s is a SECRET key; a version 1.0 keyring_file (MySQL 5.7) cannot hold '
                                  'SECRET keys' % key.describe(), key_id=key.key_id)
        if len(key.data) > MAX_KEY_LENGTH:
            raise KeyTooLargeError('%s is %d bytes long' % (key.describe(), len(key.data)), key_id=key.key_id)
        for text, what in ((key.key_id, 'the key id'), (key.user_id, 'the user id')):
            _encode_text(text, what, key)

    def describe_layout(self, layout):
        version, arch = layout
        return {'version': version, 'architecture': arch}


def _show_type(raw):
    # A damaged type field may hold anything; show it only if it looks like a type name.
    if len(raw) <= 16 and raw.isalnum() and raw.isascii():
        return repr(raw.decode('ascii'))
    return '(%d bytes, not a type name)' % len(raw)


def _describe_start(data):
    """Name what the file looks like instead, without echoing bytes that could be key material."""
    start = data[:HEADER_SIZE]
    stripped = start.lstrip()
    if stripped.startswith(b'{'):
        return 'it starts like JSON; a component_keyring_file keystore?'
    if start.strip(b'0123456789ABCDEFabcdef\n') == b'':
        return 'it is hex text; a component_keyring_encrypted_file keystore?'
    if start.startswith(b'Keyring file version:'):
        return 'its header names an unknown keyring_file version'
    if len(data) < HEADER_SIZE:
        return 'it is %d bytes long, shorter than the 24-byte version header' % len(data)
    return 'the first 24 bytes are not a "Keyring file version:1.0" or "...:2.0" header'
