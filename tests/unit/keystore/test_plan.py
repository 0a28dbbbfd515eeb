# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Migration plans: copy, already present, conflicts; conflicts write nothing; re-runs change nothing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import model, open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key, KeySet
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import (
    DIFFERENT_DATA,
    DIFFERENT_TYPE,
    NOT_STORABLE,
    SIGNATURE_COLLISION,
    _plan_key_by_key,
    migrate,
    plan_migration,
    prepare_migration,
)

from .strategies import codec, key_lists, random_bytes

A = Key('INNODBKey-uuid-1', '', 'AES', random_bytes(31, 32))
B = Key('binlog', '', 'AES', random_bytes(32, 32))
C = Key('app-secret', 'app@%', 'SECRET', random_bytes(33, 40))


def _write(path, keystore_type, keys, layout=None):
    with open(path, 'wb') as f:
        f.write(codec(keystore_type).encode(keys, layout))


def _read(path):
    with open(path, 'rb') as f:
        return f.read()


def test_plan_sorts_keys_into_copy_present_and_conflicts():
    destination = codec('component_keyring_file')
    changed_data = Key(B.key_id, B.user_id, B.key_type, random_bytes(34, 32))
    changed_type = Key(C.key_id, C.user_id, 'AES', C.data)
    plan = plan_migration(KeySet([A, changed_data, changed_type, Key('new', '', 'RSA', random_bytes(35, 128))]),
                          KeySet([A, B, C]), destination, 'digest')
    assert plan.already_present == [A]
    assert [k.key_id for k in plan.to_copy] == ['new']
    conflicts = [(c.key.key_id, c.reason) for c in plan.conflicts]
    assert conflicts == [('binlog', DIFFERENT_DATA), ('app-secret', DIFFERENT_TYPE)]
    summary = plan.summary()
    assert summary['source_key_count'] == 4 and summary['destination_key_count_after'] == 3
    text = repr(summary) + repr(plan.conflicts)
    for key in (A, B, C, changed_data):
        assert binascii.hexlify(key.data).decode() not in text.lower()


def test_plugin_destination_rules():
    # keyring_file cannot tell ("ab", "c") from ("a", "bc"), and 5.7's version 1.0 file has no SECRET type.
    destination = codec('keyring_file')
    destination.layout = ('1.0', 'LE_64')
    plan = plan_migration(KeySet([Key('a', 'bc', 'AES', b'1' * 16), C, Key('', 'u', 'AES', b'2' * 16)]),
                          KeySet([Key('ab', 'c', 'AES', b'3' * 16)]), destination, 'digest')
    conflicts = [(c.key.key_id, c.reason) for c in plan.conflicts]
    assert conflicts == [('a', SIGNATURE_COLLISION), ('app-secret', NOT_STORABLE), ('', NOT_STORABLE)]
    assert 'SECRET' in plan.conflicts[1].message and 'empty key id' in plan.conflicts[2].message


def test_migration_writes_old_then_new_keys_and_a_rerun_changes_nothing(tmp_path):
    source, destination = str(tmp_path / 'src'), str(tmp_path / 'dst')
    _write(source, 'keyring_file', [A, B], ('1.0', 'LE_64'))
    _write(destination, 'component_keyring_file', [C])
    source_bytes = _read(source)
    plan, result = migrate(open_keystore('keyring_file', source), open_keystore('component_keyring_file', destination))
    assert result.changed and plan.to_copy == [A, B]
    assert list(open_keystore('component_keyring_file', destination).load()) == [C, A, B]
    after = os.stat(destination)
    plan, result = migrate(open_keystore('keyring_file', source), open_keystore('component_keyring_file', destination))
    assert result is None and plan.to_copy == [] and plan.already_present == [A, B]
    assert os.stat(destination).st_mtime_ns == after.st_mtime_ns and os.stat(destination).st_ino == after.st_ino
    assert _read(source) == source_bytes


def test_conflicts_write_nothing_and_name_every_key(tmp_path):
    source, destination = str(tmp_path / 'src'), str(tmp_path / 'dst')
    _write(source, 'component_keyring_file', [A, B, C])
    _write(destination, 'keyring_file', [Key(B.key_id, '', 'AES', random_bytes(36, 32))])
    before = sorted(os.listdir(str(tmp_path))), _read(destination)
    with pytest.raises(model.MigrationConflictError) as caught:
        migrate(open_keystore('component_keyring_file', source), open_keystore('keyring_file', destination))
    assert [c.reason for c in caught.value.conflicts] == [DIFFERENT_DATA]
    assert "'binlog'" in str(caught.value) and 'nothing was written' in str(caught.value)
    assert (sorted(os.listdir(str(tmp_path))), _read(destination)) == before


def test_check_mode_plans_without_writing(tmp_path):
    source, destination = str(tmp_path / 'src'), str(tmp_path / 'dst')
    _write(source, 'component_keyring_file', [A])
    plan, result = migrate(open_keystore('component_keyring_file', source),
                           open_keystore('keyring_file', destination), check_mode=True)
    assert result is None and plan.to_copy == [A] and not os.path.exists(destination)


def test_missing_destination_is_created_missing_source_is_an_error(tmp_path):
    source, destination = str(tmp_path / 'src'), str(tmp_path / 'dst')
    with pytest.raises(model.KeystoreNotFoundError):
        migrate(open_keystore('keyring_file', source), open_keystore('keyring_file', destination))
    assert not os.path.exists(destination)
    _write(source, 'keyring_file', [A])
    plan, result = migrate(open_keystore('keyring_file', source), open_keystore('keyring_file', destination))
    assert result.created and list(open_keystore('keyring_file', destination).load()) == [A]


def test_source_and_destination_must_differ(tmp_path):
    path = str(tmp_path / 'same')
    _write(path, 'keyring_file', [A])
    with pytest.raises(model.KeystoreError, match='same file'):
        migrate(open_keystore('keyring_file', path), open_keystore('keyring_file', path))


# ---- prepared migrations (online runs prepare before pausing) ---------------------------------------------

def test_prepared_migration_only_writes_while_both_files_are_unchanged(tmp_path, monkeypatch):
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore import plan as plan_module
    src, dst = str(tmp_path / 'src'), str(tmp_path / 'dst')
    _write(src, 'keyring_file', [A, B])
    _write(dst, 'component_keyring_file', [C])
    source, destination = open_keystore('keyring_file', src), open_keystore('component_keyring_file', dst)
    prepared = prepare_migration(source, destination)
    assert [k.key_id for k in prepared.plan.to_copy] == ['INNODBKey-uuid-1', 'binlog']
    assert _read(dst) == codec('component_keyring_file').encode([C], None)      # preparing wrote nothing

    def must_not_run(*args):
        raise AssertionError('the prepared plan and bytes should have been used')

    with monkeypatch.context() as patch:
        patch.setattr(plan_module, 'plan_migration', must_not_run)
        patch.setattr(destination, 'encode', must_not_run)
        plan, written = migrate(source, destination, prepared=prepared)
    assert written.changed and list(open_keystore('component_keyring_file', dst).load()) == [C, A, B]
    assert _read(dst) == prepared.rendered.data


@pytest.mark.parametrize('changed', ['source', 'destination'])
def test_prepared_migration_is_redone_when_a_file_changed(tmp_path, changed):
    src, dst = str(tmp_path / 'src'), str(tmp_path / 'dst')
    _write(src, 'keyring_file', [A])
    _write(dst, 'component_keyring_file', [C])
    source, destination = open_keystore('keyring_file', src), open_keystore('component_keyring_file', dst)
    prepared = prepare_migration(source, destination)
    if changed == 'source':
        _write(src, 'keyring_file', [A, B])            # the server added a key after the preparation
        expected = [C, A, B]
    else:
        _write(dst, 'component_keyring_file', [C, B])  # ... or to the destination
        expected = [C, B, A]
    plan, written = migrate(source, destination, prepared=prepared)
    assert written.changed and list(open_keystore('component_keyring_file', dst).load()) == expected


def test_prepare_refuses_conflicts_and_backups_without_writing(tmp_path):
    src, dst = str(tmp_path / 'src'), str(tmp_path / 'dst')
    _write(src, 'keyring_file', [A])
    _write(dst, 'component_keyring_file', [Key(A.key_id, '', 'AES', random_bytes(99, 32))])
    before = _read(dst)
    with pytest.raises(model.MigrationConflictError):
        prepare_migration(open_keystore('keyring_file', src), open_keystore('component_keyring_file', dst))
    _write(dst + '.backup', 'component_keyring_file', [C])
    with pytest.raises(model.BackupPresentError):
        prepare_migration(open_keystore('keyring_file', src), open_keystore('component_keyring_file', dst))
    assert _read(dst) == before


def test_conflict_message_names_the_first_twenty_and_counts_the_rest(tmp_path):
    src, dst = str(tmp_path / 'src'), str(tmp_path / 'dst')
    keys = [Key('k%03d' % i, '', 'AES', random_bytes(i, 32)) for i in range(50)]
    _write(src, 'keyring_file', keys)
    _write(dst, 'component_keyring_file', [Key(k.key_id, '', 'AES', random_bytes(1000 + i, 32))
                                           for i, k in enumerate(keys)])
    with pytest.raises(model.MigrationConflictError) as info:
        migrate(open_keystore('keyring_file', src), open_keystore('component_keyring_file', dst))
    message = str(info.value)
    assert "'k019'" in message and "'k020'" not in message and 'and 30 more' in message
    assert len(info.value.conflicts) == 50


_ODD_KEYS = [Key('', 'user', 'AES', b'\x01' * 16),               # no key id
             Key('nul\x00id', '', 'AES', b'\x02' * 16),          # a NUL: component signatures stop being identities
             Key('nul', 'id', 'AES', b'\x03' * 16),              # ... and this one is its component twin
             Key('ab', 'c', 'AES', b'\x04' * 16),                # keyring_file twins
             Key('a', 'bc', 'AES', b'\x05' * 16),
             Key('odd', '', 'XYZ', b'\x06' * 16),                # a type MySQL does not know
             Key('huge', '', 'SECRET', b'\x07' * (model.MAX_KEY_LENGTH + 1)),
             Key('surrogate\udcff', '', 'AES', b'\x08' * 16)]    # not UTF-8


@settings(max_examples=300, deadline=None)
@given(key_lists(max_size=8), key_lists(max_size=8), st.lists(st.sampled_from(_ODD_KEYS), unique=True, max_size=3),
       st.sampled_from(['component_keyring_file', 'component_keyring_encrypted_file', 'keyring_file']),
       st.integers(0, 3), st.booleans())
def test_the_identity_shortcut_plans_exactly_as_key_by_key(source, destination, odd, keystore_type, shared,
                                                           change_shared):
    """plan_migration's dict look-up shortcut and the key-by-key plan agree on every input, including keys a
    destination cannot store and identities that collide only under the destination's signature rule."""
    shared_keys = source[:shared]
    if change_shared:
        shared_keys = [Key(k.key_id, k.user_id, k.key_type, k.data + b'!') for k in shared_keys]
    source_keys = KeySet(_unique(source + odd))
    destination_keys = KeySet(_unique(shared_keys + destination))
    ks = codec(keystore_type)

    def outcome(plan):
        return (plan.to_copy, plan.already_present, [(c.key, c.reason, c.message) for c in plan.conflicts])
    assert outcome(plan_migration(source_keys, destination_keys, ks, 'x')) == \
        outcome(_plan_key_by_key(source_keys, destination_keys, ks, 'x'))


def _unique(keys):
    seen, out = set(), []
    for key in keys:
        if key.identity not in seen:
            seen.add(key.identity)
            out.append(key)
    return out


def test_the_identity_shortcut_is_taken_for_component_keystores():
    keys = KeySet(Key('k%d' % i, '', 'AES', b'\x01' * 32) for i in range(10))
    ks = codec('component_keyring_file')
    assert ks.identity_rules_suffice(keys)
    assert not ks.identity_rules_suffice(KeySet([Key('nul\x00id', '', 'AES', b'')]))
    assert not codec('keyring_file').identity_rules_suffice(keys)     # its signature can join two identities
