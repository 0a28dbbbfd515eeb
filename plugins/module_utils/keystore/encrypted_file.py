# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""component_keyring_encrypted_file's data file (MySQL Enterprise; the format: docs/keystore-formats.md).

    file = UPPERCASE-HEX( IV (16 bytes) || AES-256-CBC(key = SHA-256(password), PKCS#7)(component JSON) )

The format is not public. It is known from ONE public vector only (Oracle's mysql-operator e2e test, password
"sakila"), which this scheme decrypts exactly; how other server versions write it is not confirmed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import hashlib
import os
import re

try:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    HAS_CRYPTOGRAPHY = True
except ImportError:  # the import sanity test and hosts without it: fail when the format is used, clearly
    HAS_CRYPTOGRAPHY = False

from .base import Decoded
from .component_file import FORMAT_VERSION, ComponentKeyringFile, parse_document, render_document
from .model import BadHexError, BadPaddingError, CorruptKeystoreError, MissingDependencyError, WrongPasswordError

BLOCK = 16
# Every plaintext this component writes is its compact JSON document, which starts with '{"'; its first block
# is printable ASCII. A wrong password yields 16 random bytes, printable with odds of about 1 in 10**7.
_PRINTABLE_BLOCK = re.compile(br'\A[\x20-\x7e]{16}\Z')


def _cipher(password, iv):
    if not HAS_CRYPTOGRAPHY:
        raise MissingDependencyError('the Python package "cryptography" is needed for '
                                     'component_keyring_encrypted_file keystores; install it on this host')
    key = hashlib.sha256(password.encode('utf-8')).digest()
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def encrypt_document(plaintext, password, iv=None):
    """JSON bytes -> the file's bytes (uppercase hex). A fresh random IV unless one is given (tests)."""
    iv = os.urandom(BLOCK) if iv is None else iv
    pad = BLOCK - len(plaintext) % BLOCK
    encryptor = _cipher(password, iv).encryptor()
    ciphertext = encryptor.update(plaintext + bytes([pad]) * pad) + encryptor.finalize()
    return binascii.hexlify(iv + ciphertext).upper()


def decrypt_document(data, password):
    """The file's bytes -> JSON bytes, strictly."""
    if len(data) % 2:
        raise BadHexError('the file has an odd number of hex digits (%d)' % len(data))
    try:
        raw = binascii.unhexlify(data)      # accepts hex digits only (no whitespace, no sign): the file's grammar
    except binascii.Error:
        raise BadHexError('the file is not hex text')
    if len(raw) < 2 * BLOCK or len(raw) % BLOCK:
        raise CorruptKeystoreError('%d bytes is not an IV followed by whole AES blocks' % len(raw))
    decryptor = _cipher(password, raw[:BLOCK]).decryptor()
    plaintext = decryptor.update(raw[BLOCK:]) + decryptor.finalize()
    if not _PRINTABLE_BLOCK.match(plaintext[:BLOCK]):
        raise WrongPasswordError('the keystore does not decrypt with the given password')
    pad = plaintext[-1]
    if not 1 <= pad <= BLOCK or plaintext[-pad:] != bytes([pad]) * pad:
        # The password is right (the first block is text) but the end is not: the file is damaged.
        raise BadPaddingError('the decrypted data does not end in valid PKCS#7 padding', offset=len(data) - 2 * BLOCK)
    return plaintext[:-pad]


class ComponentKeyringEncryptedFile(ComponentKeyringFile):
    """component_keyring_encrypted_file's data file; needs the keystore password. Inside the encryption it is
    component_keyring_file's document, with its rules for which keys it can hold."""

    type_name = 'component_keyring_encrypted_file'
    needs_password = True

    def decode(self, data):
        if not data:
            return Decoded(*parse_document(b''))
        keys, layout = parse_document(decrypt_document(data, self.password))
        return Decoded(keys, layout)

    def encode(self, keys, layout):
        return encrypt_document(render_document(keys, layout), self.password)

    def describe_layout(self, layout):
        return {'version': FORMAT_VERSION, 'cipher': 'AES-256-CBC'}
