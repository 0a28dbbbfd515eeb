# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile and oversized keystores: each gets its own clear error, or (100k keys) simply works."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import struct
import time

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import model, open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import migrate

from ..unit.keystore.strategies import codec

HEADER = b'Keyring file version:2.0'


def _plugin(body):
    return HEADER + body + b'EOF' + hashlib.sha256(body).digest()


def _record(pod, lengths, payload=b''):
    return struct.pack('<5Q', pod, *lengths) + payload


HOSTILE = [
    ('pod size of 4 GiB', _plugin(_record(2 ** 32, (1, 3, 0, 4), b'kAES1234')), model.TruncatedRecordError,
     'declares 4294967296 bytes'),
    ('key length of 4 GiB', _plugin(_record(56, (1, 3, 0, 2 ** 32), b'kAES1234' + b'\0' * 8)),
     model.OverlongLengthError, 'add up to 4294967340 bytes'),
    ('id length of 2**64-1', _plugin(_record(56, (2 ** 64 - 1, 3, 0, 4), b'kAES1234' + b'\0' * 8)),
     model.OverlongLengthError, 'more than its declared size of 56'),
    ('lengths pointing past the end', _plugin(_record(48, (1, 3, 0, 20), b'kAES1234')), model.OverlongLengthError,
     'more than its declared size of 48'),
    ('a record header cut short', _plugin(struct.pack('<3Q', 48, 1, 3)), model.TruncatedRecordError,
     'only 24 bytes remain'),
]


@pytest.mark.parametrize('label,data,error,text', HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_lengths(tmp_path, label, data, error, text):
    path = str(tmp_path / 'hostile')
    with open(path, 'wb') as f:
        f.write(data)
    with pytest.raises(error) as caught:
        open_keystore('keyring_file', path).load()
    assert text in str(caught.value) and str(caught.value).startswith(path + ', offset 24')


def test_deeply_nested_json(tmp_path):
    path = str(tmp_path / 'nested')
    for depth in (40, 100000):
        with open(path, 'wb') as f:
            f.write(b'{"version":"1.0","elements":[],"x":' + b'[' * depth + b']' * depth + b'}')
        with pytest.raises(model.BadJsonError, match='nested'):
            open_keystore('component_keyring_file', path).load()


def test_100k_keys_through_every_format(tmp_path):
    keys = [Key('INNODBKey-%06d' % i, 'user%d@%%' % (i % 50) if i % 3 else '', 'AES', os.urandom(32))
            for i in range(100000)]
    source = open_keystore('component_keyring_file', str(tmp_path / 'source'))
    started = time.monotonic()
    source.write(keys)
    timings = {'component_keyring_file write': time.monotonic() - started}
    for keystore_type in ('keyring_file', 'component_keyring_encrypted_file'):
        destination = open_keystore(keystore_type, str(tmp_path / keystore_type), 'pw')
        begin = time.monotonic()
        plan, result = migrate(open_keystore('component_keyring_file', source.path), destination)
        timings[keystore_type] = time.monotonic() - begin
        assert result.key_count == 100000 and len(plan.to_copy) == 100000
        assert list(open_keystore(keystore_type, destination.path, 'pw').load()) == keys
    # Not a timed test (benchmarks live in bench/); the numbers are only reported.
    print('100k keys, seconds: %s' % dict((k, round(v, 1)) for k, v in timings.items()))


def test_every_format_rejects_the_others(tmp_path):
    key = [Key('k', '', 'AES', b'\1' * 32)]
    for written in ('keyring_file', 'component_keyring_file', 'component_keyring_encrypted_file'):
        path = str(tmp_path / written)
        with open(path, 'wb') as f:
            f.write(codec(written).encode(key, None))
        for reader in ('keyring_file', 'component_keyring_file', 'component_keyring_encrypted_file'):
            if reader == written:
                continue
            with pytest.raises(model.KeystoreError) as caught:
                open_keystore(reader, path, 'wrong-or-none').load()
            assert path in str(caught.value)


def test_a_wrong_password_is_not_mistaken_for_damage(tmp_path):
    path = str(tmp_path / 'enc')
    open_keystore('component_keyring_encrypted_file', path, 'right').write([Key('k', '', 'AES', b'\1' * 32)])
    failures = {}
    for attempt in range(200):
        try:
            open_keystore('component_keyring_encrypted_file', path, 'wrong-%d' % attempt).load()
        except model.KeystoreError as exc:
            failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
    assert failures == {'WrongPasswordError': 200}


def test_missing_and_relative_paths(tmp_path):
    with pytest.raises(model.KeystoreNotFoundError):
        migrate(open_keystore('keyring_file', str(tmp_path / 'nope')), open_keystore('keyring_file', str(tmp_path / 'd')))
    with pytest.raises(model.KeystoreError, match='absolute'):
        open_keystore('keyring_file', os.path.join('relative', 'keyring'))
    assert os.listdir(str(tmp_path)) == []
