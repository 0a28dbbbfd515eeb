# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writes are atomic, locked, verified, owner-aware and idempotent; sources are only read; backups are never
ignored."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import stat

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import atomic, model, open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.base import (
    BACKUP_DISCARD,
    BACKUP_NONE,
    BACKUP_ROLL_BACK,
    BACKUP_ROLL_FORWARD,
)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key

from .strategies import PASSWORD, codec, random_bytes

OLD = [Key('old-1', '', 'AES', random_bytes(21, 32)), Key('old-2', 'app@%', 'RSA', random_bytes(22, 256))]
NEW = [Key('new-1', 'root@localhost', 'SECRET', random_bytes(23, 100))]


def _write_raw(path, keystore_type, keys, layout=None):
    with open(path, 'wb') as f:
        f.write(codec(keystore_type).encode(keys, layout))


def _read(path):
    with open(path, 'rb') as f:
        return f.read()


def _listing(directory):
    return sorted(os.listdir(directory))


@pytest.fixture
def store(tmp_path):
    path = str(tmp_path / 'component_keyring_file')
    _write_raw(path, 'component_keyring_file', OLD)
    keystore = open_keystore('component_keyring_file', path)
    keystore.load()
    return keystore


def test_write_replaces_the_file_and_keeps_owner_and_mode(store, tmp_path):
    os.chmod(store.path, 0o640)
    inode = os.stat(store.path).st_ino
    result = store.write(OLD + NEW)
    assert result.changed and not result.created and result.mode == 0o640
    st = os.stat(store.path)
    assert st.st_ino != inode                       # replaced by rename, not rewritten in place
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert list(open_keystore('component_keyring_file', store.path).load()) == OLD + NEW
    assert _listing(str(tmp_path)) == ['component_keyring_file']


def test_new_file_is_private_by_default(tmp_path):
    path = str(tmp_path / 'new')
    result = open_keystore('keyring_file', path).write(NEW)
    assert result.created and stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason='changing a file\'s owner needs root')
def test_owner_group_and_mode_are_applied(store):
    result = store.write(OLD + NEW, owner='nobody', group=65534, mode=0o640)
    st = os.stat(store.path)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o640)
    assert (result.uid, result.gid, result.mode) == (65534, 65534, 0o640)


def test_unknown_owner_is_a_clear_error_and_writes_nothing(store):
    before = _read(store.path)
    with pytest.raises(model.KeystoreError, match="no such OS user 'no-such-user-here'"):
        store.write(OLD + NEW, owner='no-such-user-here')
    assert _read(store.path) == before


def test_same_keys_again_changes_nothing(store):
    st = os.stat(store.path)
    result = store.write(OLD)
    assert not result.changed
    assert os.stat(store.path).st_ino == st.st_ino and os.stat(store.path).st_mtime_ns == st.st_mtime_ns


def test_encrypted_keystore_same_keys_again_changes_nothing(tmp_path):
    # Each encryption uses a fresh IV, so idempotence must compare keys, not bytes.
    path = str(tmp_path / 'enc')
    keystore = open_keystore('component_keyring_encrypted_file', path, PASSWORD)
    assert keystore.write(OLD).changed
    before = _read(path)
    assert not keystore.write(OLD).changed
    assert _read(path) == before


FAILURES = ['open', 'write', 'fchown', 'fsync', 'readback', 'verify', 'rename']


@pytest.mark.parametrize('step', FAILURES)
def test_failure_at_any_step_leaves_the_destination_byte_identical(store, tmp_path, monkeypatch, step):
    before = _read(store.path)

    def fail(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if step == 'readback':
        real_read_back = atomic.read_back
        monkeypatch.setattr(atomic, 'read_back', lambda fd, size: real_read_back(fd, size)[:-1])
    elif step == 'verify':
        def decode_refusing_new_bytes(data):
            if data != before:
                raise model.BadJsonError('simulated bad read-back')
            return type(store).decode(store, data)
        monkeypatch.setattr(store, 'decode', decode_refusing_new_bytes)
    else:
        monkeypatch.setattr(atomic.os, {'open': 'open', 'write': 'write', 'fchown': 'fchown', 'fsync': 'fsync',
                                        'rename': 'rename'}[step], _fail_on_temp(step, fail, store.path))
    with pytest.raises(model.KeystoreError):
        store.write(OLD + NEW, owner=0 if step == 'fchown' else None)
    monkeypatch.undo()
    assert _read(store.path) == before
    assert _listing(str(tmp_path)) == ['component_keyring_file']


def _fail_on_temp(step, fail, keystore_path):
    real = getattr(os, step)

    def wrapper(*args, **kwargs):
        if step == 'open' and not str(args[0]).endswith(atomic.TEMP_SUFFIX):
            return real(*args, **kwargs)
        return fail()
    return wrapper


def test_write_fsyncs_the_file_and_the_directory(store, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.readlink('/proc/self/fd/%d' % fd))
        return real_fsync(fd)
    monkeypatch.setattr(atomic.os, 'fsync', recording_fsync)
    store.write(OLD + NEW)
    directory = os.path.dirname(store.path)
    assert any(p.endswith(atomic.TEMP_SUFFIX) for p in synced[:-1]) and synced[-1] == directory


def test_source_is_only_opened_read_only(tmp_path, monkeypatch):
    source = str(tmp_path / 'source')
    _write_raw(source, 'keyring_file', OLD)
    opened = []
    real_open = os.open
    monkeypatch.setattr(atomic.os, 'open',
                        lambda p, flags, *a, **kw: (opened.append((p, flags)), real_open(p, flags, *a, **kw))[1])
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import migrate
    migrate(open_keystore('keyring_file', source), open_keystore('component_keyring_file', str(tmp_path / 'dst')))
    source_opens = [flags for p, flags in opened if p == os.path.basename(source)]   # opened relative to its directory
    assert source_opens and all(flags & os.O_ACCMODE == os.O_RDONLY and not flags & (os.O_CREAT | os.O_TRUNC)
                                for flags in source_opens)


def test_a_second_writer_is_locked_out(store):
    fd = os.open(os.path.dirname(store.path), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        before = _read(store.path)
        store.lock_timeout = 0.2
        with pytest.raises(model.ConcurrentWriterError, match='another process holds the lock'):
            store.write(OLD + NEW)
        assert _read(store.path) == before
    finally:
        os.close(fd)
    assert store.write(OLD + NEW).changed     # the lock is free again


def test_a_file_changed_since_it_was_read_is_not_overwritten(store):
    _write_raw(store.path, 'component_keyring_file', OLD[:1])     # someone else rewrote it
    changed = _read(store.path)
    with pytest.raises(model.ConcurrentWriterError, match='changed since it was read'):
        store.write(OLD + NEW)
    assert _read(store.path) == changed


def test_stale_temp_files_of_a_killed_run_are_removed(store, tmp_path):
    stale = str(tmp_path / ('.component_keyring_file.99999%s' % atomic.TEMP_SUFFIX))
    with open(stale, 'wb') as f:
        f.write(b'half a keystore')
    store.write(OLD + NEW)
    assert _listing(str(tmp_path)) == ['component_keyring_file']


# ---- .backup files: reported with what the server would do, never ignored -----------------------------------

BACKUP_CASES = [
    # (type, backup keys or raw bytes, expected server action, expected valid)
    ('keyring_file', OLD[:1], BACKUP_ROLL_BACK, True),
    ('keyring_file', [], BACKUP_DISCARD, True),
    ('keyring_file', b'garbage', BACKUP_DISCARD, False),
    ('component_keyring_file', OLD[:1], BACKUP_ROLL_FORWARD, True),
    ('component_keyring_file', b'', BACKUP_DISCARD, True),
    ('component_keyring_file', b'{"trunc', BACKUP_ROLL_FORWARD, False),
    ('component_keyring_encrypted_file', OLD[:1], BACKUP_ROLL_FORWARD, True),
]


@pytest.mark.parametrize('keystore_type,backup,action,valid', BACKUP_CASES)
def test_backup_is_reported_and_blocks_loading_and_writing(tmp_path, keystore_type, backup, action, valid):
    path = str(tmp_path / 'keystore')
    password = PASSWORD if 'encrypted' in keystore_type else None
    keystore = open_keystore(keystore_type, path, password)
    keystore.write(OLD)
    assert keystore.inspect().backup.server_action == BACKUP_NONE
    if isinstance(backup, bytes):
        with open(keystore.backup_path, 'wb') as f:
            f.write(backup)
    else:
        with open(keystore.backup_path, 'wb') as f:
            f.write(keystore.encode(backup, None))
    state = keystore.inspect()
    assert state.key_count == len(OLD)
    assert state.backup.present and state.backup.server_action == action and state.backup.valid is valid
    snapshot = _read(path), _read(keystore.backup_path)
    with pytest.raises(model.BackupPresentError) as caught:
        open_keystore(keystore_type, path, password).load()
    assert keystore.backup_path in str(caught.value) and state.backup.description in str(caught.value)
    with pytest.raises(model.BackupPresentError):
        keystore.write(OLD + NEW)
    assert (_read(path), _read(keystore.backup_path)) == snapshot
    assert list(open_keystore(keystore_type, path, password).load(on_backup='ignore')) == OLD


FOLLOW_CASES = [
    # (type, what the backup holds, the keys the server would end up with)
    ('keyring_file', OLD[:1], OLD[:1]),                      # roll back to the backup
    ('keyring_file', [], OLD),                               # an empty backup is discarded
    ('component_keyring_file', OLD + NEW, OLD + NEW),        # roll forward to the backup
    ('component_keyring_encrypted_file', OLD[:1], OLD[:1]),
]


@pytest.mark.parametrize('keystore_type,backup_keys,effective', FOLLOW_CASES)
def test_following_the_servers_recovery_rule(tmp_path, keystore_type, backup_keys, effective):
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import migrate
    password = PASSWORD if 'encrypted' in keystore_type else None
    path = str(tmp_path / 'keystore')
    keystore = open_keystore(keystore_type, path, password)
    keystore.write(OLD)
    with open(keystore.backup_path, 'wb') as f:
        f.write(keystore.encode(backup_keys, None))
    backup_bytes = _read(keystore.backup_path)
    assert list(open_keystore(keystore_type, path, password).load(on_backup='follow_server')) == effective

    # As a destination: the write starts from the recovered state and sets the backup aside, kept intact.
    source = str(tmp_path / 'source')
    extra = Key('extra', '', 'AES', random_bytes(24, 32))
    open_keystore('component_keyring_file', source).write([extra])
    plan, result = migrate(open_keystore('component_keyring_file', source),
                           open_keystore(keystore_type, path, password), on_backup='follow_server')
    assert list(open_keystore(keystore_type, path, password).load()) == effective + [extra]
    assert not os.path.exists(keystore.backup_path)
    assert result.backup_set_aside.startswith(keystore.backup_path + '.keyops-')
    assert _read(result.backup_set_aside) == backup_bytes


def test_following_the_server_refuses_a_backup_it_would_choke_on(tmp_path):
    path = str(tmp_path / 'keystore')
    keystore = open_keystore('component_keyring_file', path)
    keystore.write(OLD)
    with open(keystore.backup_path, 'wb') as f:
        f.write(b'{"version":"1.0","elem')          # the component would copy this over and fail to start
    with pytest.raises(model.BackupPresentError, match='fail to start'):
        open_keystore('component_keyring_file', path).load(on_backup='follow_server')


def test_the_temp_file_is_private_from_its_first_byte(store, monkeypatch):
    seen = {}

    def look(name):
        if name == 'after_temp_write':
            temp = [n for n in os.listdir(os.path.dirname(store.path)) if n.endswith(atomic.TEMP_SUFFIX)]
            seen['mode'] = stat.S_IMODE(os.stat(os.path.join(os.path.dirname(store.path), temp[0])).st_mode)
    monkeypatch.setattr(atomic, 'checkpoint', look)
    os.chmod(store.path, 0o644)                  # even when the keystore itself is wider
    store.write(OLD + NEW)
    assert seen['mode'] == 0o600


def test_a_replaced_keystore_keeps_its_selinux_context(store):
    # As Ansible's atomic_move does: the new inode gets the old one's security.selinux attribute. (No SELinux
    # kernel here: ext4 stores the attribute as given, which is what is checked.)
    context = b'system_u:object_r:mysqld_db_t:s0\0'
    try:
        os.setxattr(store.path, 'security.selinux', context)
    except OSError as exc:
        pytest.skip('this file system does not store security.selinux: %s' % exc.strerror)
    inode = os.stat(store.path).st_ino
    store.write(OLD + NEW)
    assert os.stat(store.path).st_ino != inode
    assert os.getxattr(store.path, 'security.selinux') == context


def test_a_link_at_the_keystore_is_refused_unless_followed_and_root_owned(store, tmp_path):
    real = str(tmp_path / 'real-keystore')
    os.rename(store.path, real)
    os.symlink(real, store.path)
    before = _read(real)
    with pytest.raises(model.UnsafePathError, match='is a symbolic link owned by root'):
        open_keystore('component_keyring_file', store.path).load()
    with pytest.raises(model.UnsafePathError, match='is a symbolic link'):
        store.write(OLD + NEW)
    assert _read(real) == before and os.path.islink(store.path)
    followed = open_keystore('component_keyring_file', store.path, follow=True)
    followed.load()
    assert followed.write(OLD + NEW).changed and os.path.islink(store.path) and _read(real) != before
    if os.geteuid() == 0:
        os.lchown(store.path, 65534, 65534)
        with pytest.raises(model.UnsafePathError, match='follow only allows links owned by root'):
            open_keystore('component_keyring_file', store.path, follow=True).load()


def test_a_followed_link_with_dot_dot_is_resolved_physically(tmp_path):
    # root's link: keystores/current -> ../real/sub/../store, where sub is itself a link to elsewhere/deep: '..'
    # after sub is taken from where sub leads (elsewhere), as the kernel would, not by cutting the text.
    (tmp_path / 'elsewhere' / 'deep').mkdir(parents=True)
    (tmp_path / 'real').mkdir()
    os.symlink(str(tmp_path / 'elsewhere' / 'deep'), str(tmp_path / 'real' / 'sub'))
    _write_raw(str(tmp_path / 'elsewhere' / 'store'), 'component_keyring_file', OLD)
    (tmp_path / 'keystores').mkdir()
    os.symlink('../real/sub/../store', str(tmp_path / 'keystores' / 'current'))
    keystore = open_keystore('component_keyring_file', str(tmp_path / 'keystores' / 'current'), follow=True)
    assert list(keystore.load()) == OLD
