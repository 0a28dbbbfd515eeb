# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Percona's Vault naming and encoding (docs/vault-keystores.md, section 3), against values built by hand.

The expected names were made with coreutils `base64 -w0` from signatures written out by hand from
Vault_key::create_key_signature's rule (len(key_id) "_" key_id len(user_id) "_" user_id): an implementation
independent of the one under test.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault_layout import (
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

INNODB = 'INNODBKey-2bdc27b3-ff17-11e8-891e-0010e08dbff8-1'

BY_HAND = [
    ((INNODB, ''), b'48_' + INNODB.encode() + b'0_',
     'NDhfSU5OT0RCS2V5LTJiZGMyN2IzLWZmMTctMTFlOC04OTFlLTAwMTBlMDhkYmZmOC0xMF8='),
    (('key1', 'root@localhost'), b'4_key114_root@localhost', 'NF9rZXkxMTRfcm9vdEBsb2NhbGhvc3Q='),
    (('ab?', ''), b'3_ab?0_', 'M19hYj8wXw=='),
    # Lengths count bytes, not characters: 'clés' is 5 bytes in UTF-8.
    (('clés', ''), b'5_cl\xc3\xa9s0_', 'NV9jbMOpczBf'),
]


@pytest.mark.parametrize('identity,signature,name', BY_HAND)
def test_signature_and_name_match_values_made_by_hand(identity, signature, name):
    assert key_signature(*identity) == signature
    assert key_name(*identity) == name
    assert parse_key_name(name) == identity


def test_a_question_mark_can_put_a_slash_in_the_name():
    # '?' is 0x3F: at the third byte of a 3-byte group its low six bits are all ones, base64 '/'.
    assert key_name('?', '') == 'MV8/MF8='
    assert not name_is_listable(key_name('?', ''))
    assert name_is_listable(key_name(INNODB, ''))


@given(key_id=st.text(min_size=1, max_size=80), user_id=st.text(max_size=40))
def test_any_identity_round_trips_through_its_name(key_id, user_id):
    name = key_name(key_id, user_id)
    assert '\n' not in name
    # A name with a '/' is never listed as a key (Vault shows a directory), and such keys are refused before writing.
    assume(name_is_listable(name))
    assert parse_key_name(name) == (key_id, user_id)


@pytest.mark.parametrize('name', [
    '', 'config', 'NF9rZXkx', 'dir/',           # not base64 of a signature, or a directory entry
    'MF8wXw==',                                   # 0_0_: an empty key id
    'NF9rZXkxMTRfcm9vdEBsb2NhbGhvc3RYWA==',       # trailing bytes after the user id
    'NF9rZXkxMTRfcm9vdEBsb2NhbGhvc3Q',            # unpadded: not what MySQL's base64 writes
    'NF9r ZXkx',
])
def test_names_percona_does_not_write_are_not_keys(name):
    assert parse_key_name(name) is None


def test_bodies_v1_and_v2():
    assert write_body('AES', b'\x00\x01\x02', KV_V1) == {'type': 'AES', 'value': 'AAEC'}
    assert write_body('AES', b'\x00\x01\x02', KV_V2) == {'data': {'type': 'AES', 'value': 'AAEC'}}
    assert write_body('RSA', b'\xff', KV_V2, create_only=True) == {
        'data': {'type': 'RSA', 'value': '/w=='}, 'options': {'cas': 0}}


def test_parse_secret_v1_v2_and_refusals():
    assert parse_secret({'data': {'type': 'AES', 'value': 'AAEC'}}, KV_V1) == ('AES', b'\x00\x01\x02')
    assert parse_secret({'data': {'data': {'type': 'SECRET', 'value': 'AAEC', 'extra': 1}}}, KV_V2) == (
        'SECRET', b'\x00\x01\x02')
    for bad in (None, {}, {'data': None}, {'data': {'type': 'AES'}}, {'data': {'type': 'AES', 'value': '***'}},
                {'data': {'type': 'AES', 'value': ''}}):
        with pytest.raises(EntryError) as info:
            parse_secret(bad, KV_V1)
        assert '***' not in str(info.value)
    with pytest.raises(EntryError):
        parse_secret({'data': {'type': 'AES', 'value': 'AAEC'}}, KV_V2)


def test_soft_delete_is_recognised():
    # What OpenBao answers for a KV v2 key whose latest version was deleted (seen in docs/vault-keystores.md 3.6).
    answer = {'data': {'data': None, 'metadata': {'deletion_time': '2026-12-03T03:54:06Z', 'version': 1}}}
    assert is_soft_deleted(answer)
    assert not is_soft_deleted({'data': {'data': {'type': 'AES', 'value': 'AA=='}, 'metadata': {}}})


def test_list_and_config_answers():
    assert parse_list({'data': {'keys': ['a', 'b/', 3]}}) == ['a', 'b/']
    with pytest.raises(EntryError):
        parse_list({'data': None})
    assert is_kv2_config({'data': {'max_versions': 0, 'cas_required': False, 'delete_version_after': '0s'}})
    assert not is_kv2_config({'data': {'max_versions': -1, 'cas_required': False}})
    assert not is_kv2_config({'data': {'type': 'AES', 'value': 'AA=='}})     # a v1 secret named "config"
    assert not is_kv2_config({'errors': []})


def test_mount_prefixes_are_probed_shortest_first():
    assert mount_prefixes('kv') == ['kv']
    assert mount_prefixes('ns1/kv2/mysql/srv1') == ['ns1', 'ns1/kv2', 'ns1/kv2/mysql', 'ns1/kv2/mysql/srv1']


def test_paths():
    v1 = Layout('mysql/srv1', KV_V1)
    assert v1.list_path() == 'mysql/srv1'
    assert v1.data_path('NAME=') == 'mysql/srv1/NAME='
    v2 = Layout.for_v2('kv2/mysql/srv1', 'kv2')
    assert (v2.mount, v2.directory) == ('kv2', 'mysql/srv1')
    assert v2.list_path() == 'kv2/metadata/mysql/srv1'
    assert v2.data_path('N') == 'kv2/data/mysql/srv1/N'
    assert v2.metadata_path('N') == 'kv2/metadata/mysql/srv1/N'
    bare = Layout.for_v2('kv2', 'kv2')
    assert (bare.list_path(), bare.data_path('N')) == ('kv2/metadata', 'kv2/data/N')


def test_server_uuids_come_from_innodb_master_keys_only():
    keys = [Key(INNODB, '', 'AES', b'k' * 32), Key('INNODBKey-2BDC27B3-FF17-11E8-891E-0010E08DBFF9-7', '', 'AES', b'k'),
            Key('INNODBKey-2bdc27b3-ff17-11e8-891e-0010e08dbff8-2', 'someone', 'AES', b'k'),
            Key('MySQLReplicationKey_1', '', 'AES', b'k')]
    assert server_uuids(keys) == {'2bdc27b3-ff17-11e8-891e-0010e08dbff8', '2bdc27b3-ff17-11e8-891e-0010e08dbff9'}
