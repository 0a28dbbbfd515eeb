# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each class of corrupt input raises its own error, names the file, leaks no key bytes, and writes nothing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import hashlib
import os
import struct

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import model, open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.encrypted_file import encrypt_document
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.keyring_file import serialize_records, \
    xor_obfuscate
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import migrate

from .strategies import PASSWORD, codec, random_bytes

KEYS = [Key('key3', 'root@localhost', 'AES', random_bytes(11, 16)),
        Key('key2', 'root@localhost', 'AES', random_bytes(12, 32)),
        Key('key1', '', 'SECRET', random_bytes(13, 7))]


def plugin_file(records, version='2.0', digest=None):
    """A keyring_file built from raw (id, type, user, plain data) records; digest None = the correct one."""
    body = serialize_records([(i, t, u, xor_obfuscate(d)) for i, t, u, d in records], 'LE_64')
    header = b'Keyring file version:%s' % version.encode()
    if version == '1.0':
        return header + body + b'EOF'
    return header + body + b'EOF' + (hashlib.sha256(body).digest() if digest is None else digest)


RAW = [(k.key_id.encode(), k.key_type.encode(), k.user_id.encode(), k.data) for k in KEYS]
GOOD_PLUGIN = plugin_file(RAW)
FIRST_POD = struct.unpack_from('<Q', GOOD_PLUGIN, 24)[0]
LAST_RECORD = 24 + FIRST_POD + struct.unpack_from('<Q', GOOD_PLUGIN, 24 + FIRST_POD)[0]


def _with_new_digest(data):
    body = data[24:-35]
    return data[:-32] + hashlib.sha256(body).digest()


def _patch(data, offset, new):
    return data[:offset] + new + data[offset + len(new):]


def json_doc(elements, version='1.0'):
    parts = ['{"user":"%s","data_id":"%s","data_type":"%s","data":"%s","extension":[]}' % e for e in elements]
    return ('{"version":"%s","elements":[%s]}' % (version, ','.join(parts))).encode()


AES_HEX = binascii.hexlify(random_bytes(14, 32)).decode().upper()

# (case id, keystore type, file bytes, expected error class, expected offset or None, expected key id or None)
CASES = [
    # keyring_file
    ('plugin-bad-version', 'keyring_file', GOOD_PLUGIN.replace(b'version:2.0', b'version:3.0'),
     model.BadHeaderError, 0, None),
    ('plugin-not-a-keyring', 'keyring_file', b'this is not a keyring file at all', model.BadHeaderError, 0, None),
    ('plugin-given-json', 'keyring_file', json_doc([('u', 'k', 'AES', AES_HEX)]), model.BadHeaderError, 0, None),
    ('plugin-shorter-than-header', 'keyring_file', b'Keyring file', model.BadHeaderError, 0, None),
    ('plugin-missing-eof', 'keyring_file', GOOD_PLUGIN[:-35], model.MissingEofError, None, None),
    ('plugin-trailing-bytes', 'keyring_file', GOOD_PLUGIN + b'\n', model.MissingEofError, None, None),
    ('plugin-v1-missing-eof', 'keyring_file', plugin_file(RAW, '1.0')[:-3], model.MissingEofError, None, None),
    ('plugin-digest-mismatch', 'keyring_file', _patch(GOOD_PLUGIN, 24 + 40 + 4 + 3 + 14, b'\xff'),
     model.DigestMismatchError, len(GOOD_PLUGIN) - 32, None),
    ('plugin-truncated-record', 'keyring_file', _with_new_digest(GOOD_PLUGIN[:-35 - 8] + GOOD_PLUGIN[-35:]),
     model.TruncatedRecordError, LAST_RECORD, None),
    ('plugin-truncated-header', 'keyring_file',
     _with_new_digest(GOOD_PLUGIN[:-35] + struct.pack('<2Q', 80, 4) + GOOD_PLUGIN[-35:]),
     model.TruncatedRecordError, len(GOOD_PLUGIN) - 35, None),
    ('plugin-overlong-length', 'keyring_file', _with_new_digest(_patch(GOOD_PLUGIN, 24 + 32, struct.pack('<Q', 2 ** 40))),
     model.OverlongLengthError, 24, None),
    ('plugin-nonzero-padding', 'keyring_file', _with_new_digest(_patch(GOOD_PLUGIN, 24 + FIRST_POD - 1, b'\x01')),
     model.BadPaddingError, 24, None),
    ('plugin-excess-padding', 'keyring_file',
     _with_new_digest(GOOD_PLUGIN[:24] + struct.pack('<Q', FIRST_POD + 8) + GOOD_PLUGIN[32:24 + FIRST_POD]
                      + b'\0' * 8 + GOOD_PLUGIN[24 + FIRST_POD:]),
     model.BadPaddingError, 24, None),
    ('plugin-unknown-key-type', 'keyring_file', plugin_file([(b'k', b'DES', b'', b'12345678')]),
     model.UnknownKeyTypeError, 24, 'k'),
    ('plugin-key-too-large', 'keyring_file', plugin_file([(b'big', b'SECRET', b'', b'\1' * 16385)]),
     model.KeyTooLargeError, 24, 'big'),
    ('plugin-duplicate-key', 'keyring_file', plugin_file(RAW + RAW[:1]), model.DuplicateKeyError, None, 'key3'),
    ('plugin-signature-collision', 'keyring_file', plugin_file([(b'ab', b'AES', b'c', b'1' * 16),
                                                                (b'a', b'AES', b'bc', b'2' * 16)]),
     model.DuplicateKeyError, None, 'a'),
    # component_keyring_file
    ('json-truncated', 'component_keyring_file', json_doc([('u', 'k', 'AES', AES_HEX)])[:-5],
     model.BadJsonError, None, None),
    ('json-not-utf8', 'component_keyring_file', b'{"version":"1.0","elements":[\xff]}', model.BadJsonError, None, None),
    ('json-not-an-object', 'component_keyring_file', b'[]', model.BadJsonError, None, None),
    ('json-no-elements', 'component_keyring_file', b'{"version":"1.0"}', model.BadJsonError, None, None),
    ('json-unknown-version', 'component_keyring_file', json_doc([], version='2.0'), model.BadJsonError, None, None),
    ('json-missing-member', 'component_keyring_file',
     b'{"version":"1.0","elements":[{"user":"","data_id":"k","data_type":"AES","data":"00"}]}',
     model.BadJsonError, None, None),
    ('json-duplicate-member', 'component_keyring_file',
     b'{"version":"1.0","version":"1.0","elements":[]}', model.BadJsonError, None, None),
    ('json-nan', 'component_keyring_file', b'{"version":"1.0","elements":[],"x":NaN}', model.BadJsonError, None, None),
    ('json-bad-hex', 'component_keyring_file', json_doc([('u', 'k', 'AES', 'ZZ' + AES_HEX[2:])]),
     model.BadHexError, None, 'k'),
    ('json-odd-hex', 'component_keyring_file', json_doc([('u', 'k', 'AES', AES_HEX[1:])]), model.BadHexError, None, 'k'),
    ('json-unknown-key-type', 'component_keyring_file', json_doc([('u', 'k', 'DES', AES_HEX)]),
     model.UnknownKeyTypeError, None, 'k'),
    ('json-key-too-large', 'component_keyring_file', json_doc([('u', 'k', 'SECRET', '41' * 16385)]),
     model.KeyTooLargeError, None, 'k'),
    ('json-duplicate-key', 'component_keyring_file', json_doc([('u', 'k', 'AES', AES_HEX)] * 2),
     model.DuplicateKeyError, None, 'k'),
    ('json-nul-collision', 'component_keyring_file',
     json_doc([('', 'a\\u0000b', 'AES', AES_HEX), ('b', 'a', 'AES', AES_HEX)]), model.DuplicateKeyError, None, 'a'),
    # component_keyring_encrypted_file
    ('encrypted-wrong-password', 'component_keyring_encrypted_file',
     encrypt_document(json_doc([('u', 'k', 'AES', AES_HEX)]), 'not the password'), model.WrongPasswordError,
     None, None),
    ('encrypted-bad-padding', 'component_keyring_encrypted_file', None, model.BadPaddingError, None, None),
    ('encrypted-not-hex', 'component_keyring_encrypted_file', b'this is not hex', model.BadHexError, None, None),
    ('encrypted-odd-hex', 'component_keyring_encrypted_file',
     encrypt_document(json_doc([]), PASSWORD)[:-1], model.BadHexError, None, None),
    ('encrypted-partial-block', 'component_keyring_encrypted_file',
     encrypt_document(json_doc([]), PASSWORD)[:-2], model.CorruptKeystoreError, None, None),
    ('encrypted-bad-json', 'component_keyring_encrypted_file', encrypt_document(b'{"version": oops}', PASSWORD),
     model.BadJsonError, None, None),
]


def _bad_padding_ciphertext():
    # Encrypt with the right key but end the plaintext in an invalid PKCS#7 pad.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    plaintext = json_doc([]) + b' ' * (32 - len(json_doc([])) % 16 - 1) + b'\x07'
    iv = b'\1' * 16
    enc = Cipher(algorithms.AES(hashlib.sha256(PASSWORD.encode()).digest()), modes.CBC(iv)).encryptor()
    return binascii.hexlify(iv + enc.update(plaintext[:len(plaintext) // 16 * 16]) + enc.finalize()).upper()


def _case_bytes(case):
    return _bad_padding_ciphertext() if case[2] is None else case[2]


def _store(keystore_type, path):
    return open_keystore(keystore_type, path, PASSWORD if 'encrypted' in keystore_type else None)


def _snapshot(directory):
    result = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), 'rb') as f:
            result[name] = f.read()
    return result


def _assert_secret_free(error):
    text = str(error)
    for key in KEYS:
        for form in (key.data, binascii.hexlify(key.data), binascii.hexlify(key.data).upper()):
            assert form.decode('latin-1') not in text
    assert PASSWORD not in text


@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
def test_corrupt_input_raises_its_own_error(tmp_path, case):
    _cid, keystore_type, _data, error_class, offset, key_id = case
    path = str(tmp_path / 'corrupt')
    with open(path, 'wb') as f:
        f.write(_case_bytes(case))
    with pytest.raises(error_class) as caught:
        _store(keystore_type, path).load()
    error = caught.value
    assert error.path == path and str(error).startswith(path)
    if offset is not None:
        assert error.offset == offset and ('offset %d' % offset) in str(error)
    if key_id is not None:
        assert error.key_id == key_id and repr(key_id) in str(error)
    _assert_secret_free(error)
    with pytest.raises(error_class):    # inspect() reports a corrupt keystore as corrupt, not as empty
        _store(keystore_type, path).inspect()


@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
def test_corrupt_source_or_destination_writes_nothing(tmp_path, case):
    _cid, keystore_type, _data, error_class, _offset, _key_id = case
    good = str(tmp_path / 'good')
    corrupt = str(tmp_path / 'corrupt')
    with open(good, 'wb') as f:
        f.write(codec('component_keyring_file').encode(KEYS[:2], None))
    with open(corrupt, 'wb') as f:
        f.write(_case_bytes(case))
    before = _snapshot(str(tmp_path))
    with pytest.raises(error_class):
        migrate(_store(keystore_type, corrupt), _store('component_keyring_file', good))
    with pytest.raises(error_class):
        migrate(_store('component_keyring_file', good), _store(keystore_type, corrupt))
    assert _snapshot(str(tmp_path)) == before    # byte-identical, and no temp file left beside them


def test_every_error_names_the_file_and_says_what_to_do(tmp_path):
    path = str(tmp_path / 'missing')
    with pytest.raises(model.KeystoreNotFoundError) as caught:
        open_keystore('keyring_file', path).load()
    assert path in str(caught.value) and 'absolute' in str(caught.value)
    with pytest.raises(model.KeystoreError) as caught:
        open_keystore('keyring_file', 'relative/keyring')
    assert 'absolute' in str(caught.value)
    with pytest.raises(model.KeystoreError) as caught:
        open_keystore('keyring_vault', '/x')
    assert 'keyring_file' in str(caught.value)
    with pytest.raises(model.KeystoreError) as caught:
        open_keystore('component_keyring_encrypted_file', '/x')
    assert 'password' in str(caught.value)
