# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hypothesis strategies and format tables shared by the keystore tests."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random

from hypothesis import strategies as st

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import KEYSTORE_TYPES
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.component_file import component_signature
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KEY_TYPES, MAX_KEY_LENGTH, Key

PASSWORD = 'correct horse battery staple'

# (label, keystore type, layout given to encode). Every layout the library writes.
FORMATS = [('keyring_file %s %s' % (version, arch), 'keyring_file', (version, arch))
           for version in ('2.0', '1.0') for arch in ('LE_64', 'LE_32', 'BE_64', 'BE_32')]
FORMATS += [('component_keyring_file', 'component_keyring_file', None),
            ('component_keyring_encrypted_file', 'component_keyring_encrypted_file', None)]
FORMAT_LABELS = [f[0] for f in FORMATS]
FORMATS_BY_LABEL = dict((f[0], f) for f in FORMATS)


def codec(keystore_type, path='/nonexistent/keystore'):
    """A keystore object used only for its codec (no file is touched)."""
    cls = KEYSTORE_TYPES[keystore_type]
    return cls(path, password=PASSWORD) if cls.needs_password else cls(path)


def random_bytes(seed, length):
    return random.Random(seed).getrandbits(8 * length).to_bytes(length, 'little') if length else b''


# Lengths MySQL uses (AES 16/24/32, RSA and DSA up to 512, SECRET up to the 16384 maximum), and small odd ones.
_KEY_LENGTHS = st.one_of(st.integers(0, 40), st.sampled_from([16, 24, 32, 128, 256, 384, 512, MAX_KEY_LENGTH]))
key_data = st.builds(random_bytes, st.integers(0, 2 ** 32), _KEY_LENGTHS)
# Any Unicode (non-ASCII, NUL, quotes, control characters), never empty key ids; user ids may be empty.
key_ids = st.text(min_size=1, max_size=40)
user_ids = st.one_of(st.just(''), st.just('root@localhost'), st.text(max_size=40))


def keys(types=KEY_TYPES):
    return st.builds(Key, key_ids, user_ids, st.sampled_from(types), key_data)


def plugin_signature(key):
    return key.key_id + key.user_id


def key_lists(types=KEY_TYPES, max_size=12):
    """Keys unique under every format's identity rule, so any one keystore can hold them all."""
    return st.lists(keys(types), max_size=max_size,
                    unique_by=(lambda k: k.identity, plugin_signature, component_signature))


def storable_in(label, key_list):
    """Whether every key fits the format (a version 1.0 keyring_file cannot hold SECRET keys)."""
    layout = FORMATS_BY_LABEL[label][2]
    return not (layout and layout[0] == '1.0' and any(k.key_type == 'SECRET' for k in key_list))
