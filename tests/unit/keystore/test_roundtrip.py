# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Arbitrary key sets survive every pair of formats, in memory and through real files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools
import os
import struct
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.keyring_file import (
    HEADER_SIZE,
    detect_architecture,
    parse_records,
)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import MAX_KEY_LENGTH, Key, KeySet
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import migrate

from .strategies import FORMAT_LABELS, FORMATS_BY_LABEL, PASSWORD, codec, key_lists, random_bytes, storable_in

SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.data_too_large])


def _through(label, key_list):
    _label, keystore_type, layout = FORMATS_BY_LABEL[label]
    store = codec(keystore_type)
    data = store.encode(key_list, layout)
    decoded = store.decode(data)
    if layout is not None:
        # The detected version and architecture are the ones written (a file without records is read as
        # the native LE_64, as MySQL does).
        assert decoded.layout == (layout if key_list else (layout[0], 'LE_64'))
    return list(decoded.keys)


@pytest.mark.parametrize('first,second', list(itertools.product(FORMAT_LABELS, repeat=2)))
@SLOW
@given(key_list=key_lists())
def test_any_key_set_survives_any_pair_of_formats(first, second, key_list):
    if not (storable_in(first, key_list) and storable_in(second, key_list)):
        key_list = [k for k in key_list if k.key_type != 'SECRET']
    assert _through(second, _through(first, key_list)) == key_list


EDGE_KEYS = [
    Key('INNODBKey-2bdc27b3-ff17-11e8-891e-0010e08dbff8-1', '', 'AES', random_bytes(1, 32)),
    Key('clé-ünïcødé-鍵-🔑', 'ütilisateur@localhost', 'AES', random_bytes(2, 16)),
    Key('rsa-max', 'app@%', 'RSA', random_bytes(3, 512)),
    Key('dsa', 'app@%', 'DSA', random_bytes(4, 384)),
    Key('quote"back\\slash\nnewline\x01ctl', '', 'AES', random_bytes(5, 24)),
    Key('nul\0inside', 'u\0ser', 'AES', random_bytes(6, 32)),
    Key('empty-data', 'root@localhost', 'AES', b''),
]
SEED = Key('seed-key', '', 'AES', random_bytes(8, 32))
SECRET_MAX = Key('secret-max', 'root@localhost', 'SECRET', random_bytes(7, MAX_KEY_LENGTH))


@pytest.mark.parametrize('first,second', list(itertools.product(FORMAT_LABELS, repeat=2)))
def test_edge_keys_survive_any_pair_of_formats_through_files(tmp_path, first, second):
    key_list = EDGE_KEYS + ([SECRET_MAX] if storable_in(first, [SECRET_MAX]) and storable_in(second, [SECRET_MAX])
                            else [])
    paths = []
    for i, label in enumerate((first, second)):
        _label, keystore_type, layout = FORMATS_BY_LABEL[label]
        path = str(tmp_path / ('store%d' % i))
        store = open_keystore(keystore_type, path, PASSWORD if 'encrypted' in keystore_type else None)
        if layout is not None:
            # A keystore in the wanted version and layout (one key: without records, no layout shows).
            with open(path, 'wb') as f:
                f.write(store.encode([SEED], layout))
        paths.append((store, keystore_type, layout))
    (src, _t, _l), (dst, dst_type, dst_layout) = paths
    src.write(key_list)
    before = list(dst.load()) if dst_layout is not None else []
    plan, result = migrate(open_keystore(src.type_name, src.path, src.password), dst)
    assert result is not None and result.changed
    assert len(plan.to_copy) == len(key_list)
    reread = open_keystore(dst_type, dst.path, dst.password)
    assert list(reread.load()) == before + key_list
    if dst_layout is not None:
        assert reread.layout == dst_layout


@SLOW
@given(key_list=key_lists(types=('AES', 'RSA', 'DSA')), arch=st.sampled_from(['LE_64', 'LE_32', 'BE_64', 'BE_32']))
def test_foreign_architecture_file_is_rewritten_in_its_own_layout(key_list, arch):
    store = codec('keyring_file')
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'keyring')
        with open(path, 'wb') as f:
            f.write(store.encode(key_list[:-1], ('2.0', arch)))
        ks = open_keystore('keyring_file', path)
        ks.load()
        if key_list:
            ks.write(key_list)
        again = open_keystore('keyring_file', path)
        assert list(again.load()) == key_list
        assert again.layout == ('2.0', arch) if key_list[:-1] else again.layout[0] == '2.0'


def test_four_layouts_match_oracles_converter_test():
    # unittest/gunit/keyring/converter-t.cc builds these records by hand (5 words in the arch's byte order,
    # the strings, zero padding to the word size; no XOR at this level). Rebuild them independently.
    records = [(b'Key1', b'AES', b'Module1', b'Key1DataString'),
               (b'Key2', b'RSA', b'Module2', b'Key2DataStringLonger'),
               (b'Key3', b'DSA', b'Module3', b'Key3DataStringLongest')]
    for arch, fmt, width in (('LE_64', '<5Q', 8), ('LE_32', '<5I', 4), ('BE_64', '>5Q', 8), ('BE_32', '>5I', 4)):
        body = b''
        for rid, rtype, ruser, rdata in records:
            total = 5 * width + len(rid) + len(rtype) + len(ruser) + len(rdata)
            pod = -(-total // width) * width
            body += struct.pack(fmt, pod, len(rid), len(rtype), len(ruser), len(rdata)) + rid + rtype + ruser \
                + rdata + b'\0' * (pod - total)
        assert detect_architecture(body) == arch
        parsed, consumed, error = parse_records(body, arch, HEADER_SIZE)
        assert error is None and consumed == len(body)
        assert [(r.key_id, r.key_type, r.user_id, r.raw_data) for r in parsed] == records


def test_new_files_are_version_2_le_64(tmp_path):
    path = str(tmp_path / 'keyring')
    store = open_keystore('keyring_file', path)
    store.write([Key('k', 'u', 'AES', b'x' * 32)])
    with open(path, 'rb') as f:
        data = f.read()
    assert data.startswith(b'Keyring file version:2.0') and data[24:32] == struct.pack('<Q', 80)  # 40 + 1 + 3 + 1 + 32 = 77, padded to 80


def test_empty_keystores_round_trip(tmp_path):
    for label in FORMAT_LABELS:
        _label, keystore_type, layout = FORMATS_BY_LABEL[label]
        store = codec(keystore_type)
        assert list(store.decode(store.encode([], layout)).keys) == []
        assert list(store.decode(b'').keys) == []      # a 0-byte file is an empty keystore in MySQL
    assert KeySet() == KeySet([])


def test_foreign_members_are_kept_as_read():
    # MySQL keeps the parsed document; so do we: empty objects stay objects, empty arrays arrays, order stays.
    document = (b'{"version":"1.0","elements":[{"user":"","data_id":"k","data_type":"AES","data":"00",'
                b'"extension":[]}],"x":{},"y":[],"z":{"a":{},"b":[1,2.5,true,null,"s"]}}')
    store = codec('component_keyring_file')
    decoded = store.decode(document)
    assert store.encode(list(decoded.keys), decoded.layout) == document
