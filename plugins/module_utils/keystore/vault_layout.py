# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Percona's Vault layout: where a key lives in a KV mount and how it is encoded. Pure functions, no I/O.

The rules (docs/vault-keystores.md, section 3): a key's name is the base64 (standard alphabet, padded, one line) of its
signature `len(key_id) "_" key_id len(user_id) "_" user_id`; its value is {"type": <key type>, "value": <base64 of the
bytes>} (under "data" on KV v2). KV v1 paths are <secret_mount_point>/<name>; KV v2 paths are
<mount>/data[/<directory>]/<name>, listed under <mount>/metadata[/<directory>].
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import re

KV_AUTO = 'AUTO'
KV_V1 = 1
KV_V2 = 2

# InnoDB master keys carry the server UUID (INNODBKey-<server_uuid>-<n>): how a mount shared by servers shows.
_INNODB_MASTER_KEY = re.compile(r'^INNODBKey-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
                                r'[0-9a-fA-F]{12})-[0-9]+$')
_DIGITS = re.compile(br'[0-9]+')


def _raw(text):
    # Ids are whatever bytes the server was given; surrogateescape keeps non-UTF-8 bytes round-trippable
    # (the same convention as keyring_file.py).
    return text.encode('utf-8', 'surrogateescape')


def _text(raw):
    return raw.decode('utf-8', 'surrogateescape')


def key_signature(key_id, user_id):
    """The bytes Percona names a key by (Vault_key::create_key_signature, Keyring_vault_curl::create_key_signature)."""
    raw_id, raw_user = _raw(key_id), _raw(user_id)
    return b''.join((str(len(raw_id)).encode('ascii'), b'_', raw_id, str(len(raw_user)).encode('ascii'), b'_',
                     raw_user))


def key_name(key_id, user_id):
    """The key's name in the mount: its signature in base64, standard alphabet, padded, on one line (mysys/base64.cc
    with Vault_base64::Format::SINGLE_LINE)."""
    return base64.b64encode(key_signature(key_id, user_id)).decode('ascii')


def name_is_listable(name):
    """False when the name holds a '/': Vault stores the key under a sub-path, LIST on the mount shows a directory,
    and Percona never finds the key again."""
    return '/' not in name


def parse_key_name(name):
    """(key_id, user_id) of a listed name, or None if Percona's layout does not produce this name.

    Stricter than parse_key_signature (which skips what it cannot parse but accepts trailing bytes): the name must be
    exactly what key_name() gives for the identity it decodes to."""
    if not isinstance(name, str) or not name or name.endswith('/'):
        return None
    try:
        raw = base64.b64decode(name.encode('ascii'), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None
    parts = []
    position = 0
    for _field in range(2):
        digits = _DIGITS.match(raw, position)
        if digits is None or raw[digits.end():digits.end() + 1] != b'_':
            return None
        length = int(digits.group(0))
        start = digits.end() + 1
        if start + length > len(raw):
            return None
        parts.append(raw[start:start + length])
        position = start + length
    if position != len(raw) or not parts[0]:
        return None
    key_id, user_id = _text(parts[0]), _text(parts[1])
    if key_name(key_id, user_id) != name:
        return None
    return key_id, user_id


def encode_value(data):
    return base64.b64encode(data).decode('ascii')


def write_body(key_type, data, kv_version, create_only=False):
    """The JSON object to POST (compose_write_key_postdata). `create_only` (KV v2): check-and-set 0, written only if
    the key has no version yet; Vault keeps options out of the stored data."""
    secret = {'type': key_type, 'value': encode_value(data)}
    if kv_version == KV_V2:
        body = {'data': secret}
        if create_only:
            body['options'] = {'cas': 0}
        return body
    return secret


class EntryError(ValueError):
    """A stored entry that is not a key in Percona's layout; the message never holds the value."""


def parse_secret(answer, kv_version):
    """(key_type, bytes) from a read's JSON answer (parse_key_data). Raises EntryError."""
    if not isinstance(answer, dict) or not isinstance(answer.get('data'), dict):
        raise EntryError('the answer has no "data" object')
    secret = answer['data']
    if kv_version == KV_V2:
        secret = secret.get('data')
        if not isinstance(secret, dict):
            raise EntryError('the answer has no "data.data" object')
    key_type, value = secret.get('type'), secret.get('value')
    if not isinstance(key_type, str) or not isinstance(value, str):
        raise EntryError('the secret has no string "type" and "value" fields')
    try:
        data = base64.b64decode(value.encode('ascii'), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise EntryError('the "value" field is not base64')
    if not data:
        raise EntryError('the "value" field is empty (Percona refuses a key of no bytes)')
    return key_type, data


def is_soft_deleted(answer):
    """KV v2: the latest version was deleted (DELETE on the data path): data is null, metadata has a deletion_time."""
    if not isinstance(answer, dict) or not isinstance(answer.get('data'), dict):
        return False
    inner = answer['data']
    metadata = inner.get('metadata')
    return inner.get('data') is None and isinstance(metadata, dict) and bool(metadata.get('deletion_time'))


def parse_list(answer):
    """Names from a LIST answer (parse_keys): data.keys, strings only."""
    if not isinstance(answer, dict) or not isinstance(answer.get('data'), dict):
        raise EntryError('the list answer has no "data" object')
    names = answer['data'].get('keys')
    if not isinstance(names, list):
        raise EntryError('the list answer has no "data.keys" array')
    return [name for name in names if isinstance(name, str)]


def is_kv2_config(answer):
    """True for a <mount>/config answer of a KV v2 mount (parse_mount_point_config: unsigned max_versions, boolean
    cas_required)."""
    if not isinstance(answer, dict) or not isinstance(answer.get('data'), dict):
        return False
    data = answer['data']
    max_versions = data.get('max_versions')
    return (isinstance(max_versions, int) and not isinstance(max_versions, bool) and max_versions >= 0
            and isinstance(data.get('cas_required'), bool))


def mount_prefixes(secret_mount_point):
    """The paths Percona probes for a KV v2 mount, shortest first: every prefix ending before a '/', then the whole
    value (Vault_curl::init, Keyring_vault_curl::init)."""
    prefixes = [secret_mount_point[:i] for i, char in enumerate(secret_mount_point) if char == '/' and i > 0]
    prefixes.append(secret_mount_point)
    return prefixes


class Layout:
    """Where keys live once the KV version is resolved. Paths are relative to <vault_url>/v1/."""

    def __init__(self, secret_mount_point, kv_version, mount=None, directory=''):
        self.secret_mount_point = secret_mount_point
        self.kv_version = kv_version
        self.mount = mount if mount is not None else secret_mount_point
        self.directory = directory

    @classmethod
    def for_v2(cls, secret_mount_point, mount):
        directory = secret_mount_point[len(mount) + 1:] if len(secret_mount_point) > len(mount) else ''
        return cls(secret_mount_point, KV_V2, mount, directory)

    def _under(self, subpath):
        parts = [self.mount, subpath] + ([self.directory] if self.directory else [])
        return '/'.join(parts)

    def list_path(self):
        if self.kv_version == KV_V2:
            return self._under('metadata')
        return self.secret_mount_point

    def data_path(self, name):
        if self.kv_version == KV_V2:
            return self._under('data') + '/' + name
        return self.secret_mount_point + '/' + name

    def metadata_path(self, name):
        """KV v2 only: the path whose DELETE removes every version and the name itself."""
        return self._under('metadata') + '/' + name

    def describe(self):
        if self.kv_version == KV_V2:
            where = 'KV v2 mount %r' % (self.mount + '/')
            if self.directory:
                where += ', directory %r' % self.directory
            return where
        return 'KV v1 path %r' % self.secret_mount_point

    def __repr__(self):
        return 'Layout(%s)' % self.describe()


def server_uuids(keys):
    """Server UUIDs named by the InnoDB master keys among `keys` (lower case)."""
    found = set()
    for key in keys:
        match = _INNODB_MASTER_KEY.match(key.key_id)
        if match and not key.user_id:
            found.add(match.group(1).lower())
    return found
