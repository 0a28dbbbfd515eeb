# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every real keystore file in ../shared/vectors decodes to exactly the keys its manifest lists."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import hashlib
import os

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.encrypted_file import encrypt_document
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.keyring_file import xor_obfuscate

from ...conftest import vector_manifest

VECTOR_PASSWORD = 'sakila'   # the password Oracle's mysql-operator test uses for its encrypted keystore
ENCRYPTED = 'component_keyring_encrypted_file/mysql_operator_component_keyring_encrypted_file.hex'
PLAIN_JSON = 'component_keyring_file/mysql_operator_component_keyring_file.json'


MANIFEST = vector_manifest()
KEYRING_FILE_VECTORS = sorted(name for name in MANIFEST if name.startswith('keyring_file/'))
if not MANIFEST:
    # Parametrised over nothing, pytest would report nothing; one visible skip says why instead.
    KEYRING_FILE_VECTORS = ['(no vectors: ../shared is absent)']


def _read(vectors_dir, name):
    with open(os.path.join(vectors_dir, name), 'rb') as f:
        return f.read()


def _load(vectors_dir, name, keystore_type, password=None):
    keystore = open_keystore(keystore_type, os.path.join(vectors_dir, name), password)
    return keystore, keystore.load()


def test_manifest_covers_every_vector_file(vectors_dir):
    on_disk = set()
    for folder in ('keyring_file', 'component_keyring_file', 'component_keyring_encrypted_file'):
        on_disk.update('%s/%s' % (folder, n) for n in os.listdir(os.path.join(vectors_dir, folder)))
    assert on_disk == set(MANIFEST)


@pytest.mark.parametrize('name', KEYRING_FILE_VECTORS)
def test_keyring_file_vector_decodes_to_manifest_keys(vectors_dir, name):
    entry = MANIFEST[name]
    data = _read(vectors_dir, name)
    assert hashlib.sha256(data).hexdigest() == entry['sha256_of_file']
    keystore, keys = _load(vectors_dir, name, 'keyring_file')
    assert keystore.layout == (entry['header'][-3:], entry['arch'])
    assert [(k.key_id, k.user_id, k.key_type, binascii.hexlify(k.data).decode()) for k in keys] == [
        (k['key_id'], k['user_id'], k['key_type'], k['key_data_plain_hex']) for k in entry['keys']]
    # The obfuscated bytes on disk are the plain bytes XORed with the plugin's string.
    assert [binascii.hexlify(xor_obfuscate(k.data)).decode() for k in keys] == [
        k['key_data_on_disk_hex'] for k in entry['keys']]


@pytest.mark.parametrize('name', KEYRING_FILE_VECTORS)
def test_keyring_file_vector_reencodes_byte_for_byte(vectors_dir, name):
    data = _read(vectors_dir, name)
    keystore, keys = _load(vectors_dir, name, 'keyring_file')
    encoded = keystore.encode(keys, keystore.layout)
    assert encoded == data
    if MANIFEST[name]['header'].endswith('2.0'):
        assert encoded[-32:] == binascii.unhexlify(MANIFEST[name]['stored_digest_hex'])


def test_known_plaintexts_of_plugin_vector(vectors_dir):
    # The upstream test result (component_keyring_file/r/migration.result) shows these values.
    _keystore, keys = _load(vectors_dir, 'keyring_file/plugin_keyring_file_data.v2', 'keyring_file')
    assert dict((k.key_id, k.data) for k in keys) == {
        'key1': b'abcdefgh', 'key2': b'12345678', 'key3': b'abcdefgh12345678'}


def test_component_json_vector(vectors_dir):
    entry = MANIFEST[PLAIN_JSON]
    keystore, keys = _load(vectors_dir, PLAIN_JSON, 'component_keyring_file')
    assert [(k.key_id, k.user_id, k.key_type, binascii.hexlify(k.data).decode().upper()) for k in keys] == [
        (e['data_id'], e['user'], e['data_type'], e['data']) for e in entry['elements']]
    assert keys.get('test-key-name', 'root@localhost').data == b'Secret string'
    # MySQL writes the document compactly with no trailing newline; the vector came through YAML with one.
    assert keystore.encode(keys, keystore.layout) + b'\n' == _read(vectors_dir, PLAIN_JSON)


def test_encrypted_vector_decrypts_to_the_plain_vector(vectors_dir):
    entry = MANIFEST[ENCRYPTED]
    _plain_store, plain_keys = _load(vectors_dir, PLAIN_JSON, 'component_keyring_file')
    keystore, keys = _load(vectors_dir, ENCRYPTED, 'component_keyring_encrypted_file', VECTOR_PASSWORD)
    assert keys == plain_keys
    assert keystore.encode(keys, keystore.layout) != _read(vectors_dir, ENCRYPTED)   # a fresh IV each write
    plaintext = _read(vectors_dir, PLAIN_JSON).rstrip(b'\n')
    assert plaintext == entry['plaintext'].encode()
    # Re-encrypting that JSON with the vector's own IV reproduces the file exactly.
    iv = binascii.unhexlify(entry['iv_hex'])
    assert encrypt_document(plaintext, VECTOR_PASSWORD, iv) == _read(vectors_dir, ENCRYPTED)
