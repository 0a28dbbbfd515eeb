# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyring_migrate and keyring_info with Vault keystores, run by Ansible (`ansible localhost`, -vvvv) against a real
OpenBao server; the mount's contents are checked with `bao` itself, the files by reading them back.

Check and diff mode, a real copy and its re-run, Vault -> a new file and an encrypted file, Vault -> Vault on another
server with the servers' own configuration files and a token file, a conflict, the server sealed, the module
killed and the server killed (then restarted) between two key writes, each followed by the re-run that completes; a
mount in a namespace; TLS with the server's CA; and no token or key byte in any output.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import shutil
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault_layout import key_name

from ..conftest import REPO_ROOT, VECTORS_DIR
from .server import BaoServer, PersistentBaoServer, bao_binary

pytestmark = pytest.mark.vault

ANSIBLE = os.path.join(REPO_ROOT, '.venv', 'bin', 'ansible')
# Percona 8.0.19's keyring_file with 4 keys (an InnoDB master key among them): enough for a fault between two keys.
SOURCE_VECTOR = os.path.join(VECTORS_DIR, 'keyring_file', 'percona_8019_crypt_v2_mysecret_keyring.v2')


def run_module(tmp_path, module, args, check=False, diff=False, fault=None):
    """(result, all output) of one module run on localhost, at -vvvv."""
    tree = tmp_path / ('tree-%d' % len(list(tmp_path.glob('tree-*'))))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.cache', 'collections'),
               ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_CALLBACKS_ENABLED='ansible.builtin.tree',
               ANSIBLE_CALLBACK_TREE_DIR=str(tree), ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_NOCOLOR='1',
               ANSIBLE_PYTHON_INTERPRETER=os.path.join(REPO_ROOT, '.venv', 'bin', 'python'))
    env.pop('KEYOPS_FAULT_INJECT', None)
    if fault:
        env['KEYOPS_FAULT_INJECT'] = fault
    command = [ANSIBLE, 'localhost', '-c', 'local', '-m', 'keyops.mysql.' + module, '-a', json.dumps(args), '-vvvv']
    command += ['--check'] * check + ['--diff'] * diff
    res = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    result_file = tree / 'localhost'
    assert result_file.is_file(), res.stdout + res.stderr
    result = json.loads(result_file.read_text())
    # The tree callback drops `failed`; ansible's exit status says it (2: a task failed).
    result['failed'] = res.returncode != 0
    assert res.returncode in (0, 2), res.stdout + res.stderr
    return result, res.stdout + res.stderr


def mount_keys(server, mount, kv_version, namespace=None):
    """{name: (type, raw bytes)} of the mount, read with `bao kv` itself."""
    scope = ['-namespace=' + namespace] if namespace else []
    listing = server.bao_json('kv', 'list', *(scope + [mount])) or []
    found = {}
    for name in listing:
        secret = server.bao_json('kv', 'get', *(scope + ['%s/%s' % (mount, name)]))
        data = secret['data']['data'] if kv_version == 2 else secret['data']
        found[name] = (data['type'], base64.b64decode(data['value']))
    return found


def file_keys(keystore_type, path, password=None):
    return {(k.key_id, k.user_id): (k.key_type, k.data) for k in open_keystore(keystore_type, path, password).load()}


def assert_no_secrets(output, token, keys):
    assert token not in output
    for _type, data in keys.values():
        assert base64.b64encode(data).decode() not in output and data.hex() not in output


@pytest.fixture
def source_file(tmp_path, vectors_dir):
    path = tmp_path / 'keyring' / 'keyring'
    path.parent.mkdir()
    with open(SOURCE_VECTOR, 'rb') as vector:
        path.write_bytes(vector.read())
    return str(path)


def run_between_two_keys(tmp_path, args, server, mount, action):
    """keyring_migrate held before its second key write (fault injection), and `action` (seal, kill) done once its
    first key is in `mount`; the module's (result, output)."""
    done = threading.Event()

    def act_after_the_first_key():
        deadline = time.time() + 60
        while time.time() < deadline and not (server.bao_json('kv', 'list', mount) or []):
            time.sleep(0.1)
        action()
        done.set()

    actor = threading.Thread(target=act_after_the_first_key)
    actor.start()
    result = run_module(tmp_path, 'keyring_migrate', args, fault='vault_before_key@2:sleep=8')
    actor.join()
    assert done.is_set()
    return result


def vault_spec(server, mount, token=None, **extra):
    return dict(type='component_keyring_vault', url=server.url, secret_mount_point=mount,
                token=token or server.root_token, **extra)


def test_file_to_vault_check_mode_then_copy_then_rerun(bao, mounts, source_file, tmp_path):
    source_keys = file_keys('keyring_file', source_file)
    args = dict(source=dict(type='keyring_file', path=source_file),
                destination=vault_spec(bao, mounts[2]))

    plan, output = run_module(tmp_path, 'keyring_migrate', args, check=True, diff=True)
    assert plan['changed'] and plan['migrated_count'] == len(source_keys) and plan['method'] == 'native', plan
    assert plan['diff']['before']['key_count'] == 0 and plan['diff']['after']['key_count'] == len(source_keys)
    assert mount_keys(bao, mounts[2], 2) == {}          # the plan wrote nothing
    assert_no_secrets(output, bao.root_token, source_keys)

    done, output = run_module(tmp_path, 'keyring_migrate', args)
    assert done['changed'] and done['migrated_count'] == len(source_keys) and done['destination_key_count'] == len(
        source_keys), done
    assert mount_keys(bao, mounts[2], 2) == dict((key_name(i, u), v) for (i, u), v in source_keys.items())
    assert_no_secrets(output, bao.root_token, source_keys)

    again, _output = run_module(tmp_path, 'keyring_migrate', args)
    assert not again['changed'] and again['already_present_count'] == len(source_keys) and again['migrated_count'] == 0

    info, output = run_module(tmp_path, 'keyring_info', dict(server=False, keystores=[vault_spec(bao, mounts[2])]))
    report = info['keystores'][0]
    assert report['kv_version'] == 2 and report['key_count'] == len(source_keys) and report['exists'] is True
    assert sorted((k['key_id'], k['user_id']) for k in report['keys']) == sorted(source_keys)
    assert_no_secrets(output, bao.root_token, source_keys)


def test_vault_to_new_file_and_encrypted_file(bao, mounts, source_file, tmp_path):
    source_keys = file_keys('keyring_file', source_file)
    seeded, _output = run_module(tmp_path, 'keyring_migrate', dict(source=dict(type='keyring_file', path=source_file),
                                                                   destination=vault_spec(bao, mounts[1])))
    assert seeded['changed'], json.dumps(seeded)
    # The new file's owner (the directory's, a uid of no account here) must be able to reach it: not under pytest's
    # 0700 basetemp.
    top = tempfile.mkdtemp(prefix='keyops-vault-out-')
    os.chmod(top, 0o755)
    directory = os.path.join(top, 'keyring')
    os.mkdir(directory)
    os.chown(directory, 4242, 4343)
    try:
        check_vault_to_files(bao, mounts, source_keys, directory, tmp_path)
    finally:
        shutil.rmtree(top)


def check_vault_to_files(bao, mounts, source_keys, directory, tmp_path):
    plain = os.path.join(directory, 'component_keyring_file')
    done, _output = run_module(tmp_path, 'keyring_migrate', dict(
        source=vault_spec(bao, mounts[1]), destination=dict(type='component_keyring_file', path=plain)))
    assert done['changed'] and done['destination_created'], json.dumps(done)
    assert file_keys('component_keyring_file', plain) == source_keys
    st = os.stat(plain)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (4242, 4343, 0o640)   # the directory's owner

    encrypted = os.path.join(directory, 'component_keyring_encrypted_file')
    done, output = run_module(tmp_path, 'keyring_migrate', dict(
        source=vault_spec(bao, mounts[1]),
        destination=dict(type='component_keyring_encrypted_file', path=encrypted, password='enc-pass-31337')))
    assert done['changed'] and file_keys('component_keyring_encrypted_file', encrypted, 'enc-pass-31337') == source_keys
    assert 'enc-pass-31337' not in output
    assert_no_secrets(output, bao.root_token, source_keys)


def test_vault_to_vault_from_the_servers_configuration_files(bao, mounts, source_file, tmp_path):
    """The source named by a component_keyring_vault.cnf, the destination (another server, KV v1) by a
    keyring_vault.conf whose token is overridden by a token file."""
    source_keys = file_keys('keyring_file', source_file)
    run_module(tmp_path, 'keyring_migrate', dict(source=dict(type='keyring_file', path=source_file),
                                                 destination=vault_spec(bao, mounts[2])))
    other = BaoServer(bao_binary()).start()
    try:
        other.enable_kv('percona', 1)
        cnf = tmp_path / 'component_keyring_vault.cnf'
        cnf.write_text(json.dumps(dict(vault_url=bao.url, secret_mount_point=mounts[2], token=bao.root_token,
                                       secret_mount_point_version='AUTO')))
        conf = tmp_path / 'keyring_vault.conf'
        conf.write_text('vault_url = %s\nsecret_mount_point = percona/db1\ntoken = not-the-token\n' % other.url)
        token_file = tmp_path / 'token'
        token_file.write_text(other.create_token() + '\n')
        args = dict(source=dict(type='component_keyring_vault', config_file=str(cnf)),
                    destination=dict(type='keyring_vault', config_file=str(conf), token_file=str(token_file)))
        done, output = run_module(tmp_path, 'keyring_migrate', args, diff=True)
        assert done['changed'] and done['migrated_count'] == len(source_keys), done
        names = other.bao_json('kv', 'list', 'percona/db1')
        assert sorted(names) == sorted(key_name(i, u) for i, u in source_keys)
        assert mount_keys(other, 'percona/db1', 1) == dict((key_name(i, u), v) for (i, u), v in source_keys.items())
        assert_no_secrets(output, bao.root_token, source_keys)
        assert token_file.read_text().strip() not in output
    finally:
        other.stop()


def test_a_conflict_writes_nothing_and_names_the_key(bao, mounts, source_file, tmp_path):
    source_keys = file_keys('keyring_file', source_file)
    (key_id, user_id), (key_type, _data) = sorted(source_keys.items())[0]
    bao.bao('kv', 'put', '%s/%s' % (mounts[1], key_name(key_id, user_id)), 'type=%s' % key_type,
            'value=%s' % base64.b64encode(b'\x01' * 32).decode())
    failed, output = run_module(tmp_path, 'keyring_migrate', dict(
        source=dict(type='keyring_file', path=source_file), destination=vault_spec(bao, mounts[1])))
    assert failed['failed'] and failed['error'] == 'MigrationConflictError' and failed['conflict_count'] == 1, json.dumps(
        failed)
    assert key_id in failed['msg'] and '\n' not in failed['msg']
    assert list(mount_keys(bao, mounts[1], 1)) == [key_name(key_id, user_id)]       # nothing else written
    assert_no_secrets(output, bao.root_token, source_keys)


def test_sealed_between_two_keys_rolls_back_or_says_what_is_left_and_the_rerun_completes(source_file, tmp_path):
    """The module holds before its second key write (fault injection); the server is sealed meanwhile. The run fails
    with one line that says the mount is not as it was (the roll-back cannot reach a sealed server); after the unseal
    a re-run completes with the key left behind counted as already present."""
    source_keys = file_keys('keyring_file', source_file)
    server = BaoServer(bao_binary()).start()
    try:
        server.enable_kv('kv', 2)
        args = dict(source=dict(type='keyring_file', path=source_file),
                    destination=vault_spec(server, 'kv/db1'))
        failed, output = run_between_two_keys(tmp_path, args, server, 'kv/db1', server.seal)
        assert failed['failed'] and failed['error'] == 'VaultSealedError', failed
        assert '\n' not in failed['msg'] and server.url in failed['msg'] and 'NOT as it was' in failed['msg']
        assert len(failed['left_behind']) == 1 and failed['rolled_back'] == []
        assert_no_secrets(output, server.root_token, source_keys)
        server.unseal()
        done, _output = run_module(tmp_path, 'keyring_migrate', args)
        assert done['changed'] and done['already_present_count'] == 1 and done['migrated_count'] == len(
            source_keys) - 1, done
        assert mount_keys(server, 'kv/db1', 2) == dict((key_name(i, u), v) for (i, u), v in source_keys.items())
    finally:
        server.stop()


def test_server_killed_between_two_keys_then_restarted_and_the_rerun_completes(source_file, tmp_path):
    """A production-mode server (raft storage) killed (SIGKILL) after the module's first key write: the run fails with
    one line that says the mount is not as it was; the server is started and unsealed again, and a re-run completes.
    The mount then holds exactly the source's keys."""
    source_keys = file_keys('keyring_file', source_file)
    server = PersistentBaoServer(bao_binary()).start()
    try:
        server.enable_kv('kv', 2)
        args = dict(source=dict(type='keyring_file', path=source_file), destination=vault_spec(server, 'kv/db1'))
        failed, output = run_between_two_keys(tmp_path, args, server, 'kv/db1', server.kill)
        assert failed['failed'], failed
        assert '\n' not in failed['msg'] and server.url in failed['msg'] and 'NOT as it was' in failed['msg'], failed
        assert len(failed['left_behind']) == 1
        assert_no_secrets(output, server.root_token, source_keys)
        server.start()
        assert len(mount_keys(server, 'kv/db1', 2)) == 1        # the key written before the kill survived it
        done, _output = run_module(tmp_path, 'keyring_migrate', args)
        assert done['changed'] and done['already_present_count'] == 1, done
        assert mount_keys(server, 'kv/db1', 2) == dict((key_name(i, u), v) for (i, u), v in source_keys.items())
    finally:
        server.stop()


def test_killed_between_two_keys_never_reports_success_and_the_rerun_completes(bao, mounts, source_file, tmp_path):
    """SIGKILL right after the first key write: Ansible reports a failure (never half a migration as success), the
    mount holds exactly one correct key, and a re-run completes."""
    source_keys = file_keys('keyring_file', source_file)
    args = dict(source=dict(type='keyring_file', path=source_file), destination=vault_spec(bao, mounts[2]))
    failed, _output = run_module(tmp_path, 'keyring_migrate', args, fault='vault_before_key@2')
    assert failed.get('failed') and not failed.get('changed'), failed
    left = mount_keys(bao, mounts[2], 2)
    expected = dict((key_name(i, u), v) for (i, u), v in source_keys.items())
    assert len(left) == 1 and all(expected[name] == value for name, value in left.items())
    done, _output = run_module(tmp_path, 'keyring_migrate', args)
    assert done['changed'] and done['already_present_count'] == 1
    assert mount_keys(bao, mounts[2], 2) == expected


def test_a_mount_in_a_namespace(bao, source_file, tmp_path):
    """component_keyring_vault's vault_namespace: the X-Vault-Namespace header (OpenBao namespaces)."""
    source_keys = file_keys('keyring_file', source_file)
    bao.bao('namespace', 'create', 'team1')
    bao.bao('secrets', 'enable', '-namespace=team1', '-path=kv', '-version=2', 'kv')
    args = dict(source=dict(type='keyring_file', path=source_file),
                destination=vault_spec(bao, 'kv/db1', namespace='team1'))
    done, _output = run_module(tmp_path, 'keyring_migrate', args)
    assert done['changed'] and done['migrated_count'] == len(source_keys), done
    assert mount_keys(bao, 'kv/db1', 2, namespace='team1') == dict(
        (key_name(i, u), v) for (i, u), v in source_keys.items())
    info, _output = run_module(tmp_path, 'keyring_info', dict(server=False, keystores=[args['destination']]))
    assert info['keystores'][0]['key_count'] == len(source_keys)
    outside, _output = run_module(tmp_path, 'keyring_migrate', dict(args, destination=vault_spec(bao, 'kv/db1')))
    # No such mount outside the namespace: the line says where to look.
    assert outside['failed'] and '\n' not in outside['msg'] and 'vault_namespace' in outside['msg'], outside


def test_tls_with_the_servers_ca(source_file, tmp_path):
    source_keys = file_keys('keyring_file', source_file)
    server = BaoServer(bao_binary(), tls=True).start()
    try:
        server.enable_kv('kv', 1)
        args = dict(source=dict(type='keyring_file', path=source_file), destination=vault_spec(server, 'kv'))
        refused, _output = run_module(tmp_path, 'keyring_migrate', args)
        assert refused['failed'] and refused['error'] == 'VaultTlsError' and '\n' not in refused['msg'], refused
        assert mount_keys(server, 'kv', 1) == {}
        args['destination']['ca'] = server.ca_file
        done, _output = run_module(tmp_path, 'keyring_migrate', args)
        assert done['changed'] and mount_keys(server, 'kv', 1) == dict(
            (key_name(i, u), v) for (i, u), v in source_keys.items())
    finally:
        server.stop()


def test_bad_input_is_one_line_naming_what_to_do(bao, mounts, tmp_path):
    failed, _output = run_module(tmp_path, 'keyring_migrate', dict(
        source=dict(type='component_keyring_vault', url=bao.url, secret_mount_point=mounts[1]),
        destination=dict(type='component_keyring_file', path=str(tmp_path / 'x'))))
    assert failed['failed'] and failed['msg'].startswith('source (component_keyring_vault) needs token or token_file')
    failed, output = run_module(tmp_path, 'keyring_migrate', dict(
        source=vault_spec(bao, mounts[1], token='wrong-token-777'),
        destination=dict(type='component_keyring_file', path=str(tmp_path / 'x'))))
    assert failed['failed'] and '\n' not in failed['msg'] and bao.url in failed['msg'], failed
    assert 'wrong-token-777' not in output
    failed, _output = run_module(tmp_path, 'keyring_migrate', dict(
        source=vault_spec(bao, mounts[1]), destination=dict(type='keyring_okv')))
    assert failed['failed'] and 'through a component_keyring_file' in failed['msg']
