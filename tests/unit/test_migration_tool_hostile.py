# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/mysql_tool against the server's OS user: the work directory it is handed, the keystore
directory it owns, and a run-record directory set to one it can write.

Run as root (as the modules are), these plant what that user could: symbolic links owned by it (uid 65534 here),
hard links and fifos at the names the code uses, pointing at a root-only victim file. The victim must keep its
owner, mode and bytes, nothing may block on a fifo, and refusals must name the path.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import subprocess
import tempfile
import threading

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool import catalog as tool_catalog
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool import invocation as tool_invocation
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool import record as tool_record
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool import workdir as tool_workdir
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.atomic import write_atomically
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import UnsafePathError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='planting links owned by another user needs root')

NOBODY = 65534
SECRET = 'S3cr3t-keystore-pw'
TOOL = dict(mysqld='/usr/sbin/mysqld', mysql_migrate_keyring='/usr/bin/mysql_migrate_keyring',
            plugin_dir='/usr/lib/mysql/plugin', user='mysql')


class Victim:
    """A root-only file (and its directory) that nothing here may change."""

    def __init__(self, tmp_path):
        self.dir = str(tmp_path / 'victim')
        os.mkdir(self.dir, 0o700)
        self.path = os.path.join(self.dir, 'shadow')
        with open(self.path, 'wb') as f:
            f.write(b'root-only bytes\n')
        os.chmod(self.path, 0o600)
        self.before = self.state()

    def state(self):
        st = os.lstat(self.path)
        dst = os.lstat(self.dir)
        with open(self.path, 'rb') as f:
            data = f.read()
        return dict(uid=st.st_uid, gid=st.st_gid, mode=stat.S_IMODE(st.st_mode), data=data,
                    dir_uid=dst.st_uid, dir_mode=stat.S_IMODE(dst.st_mode), names=sorted(os.listdir(self.dir)))

    def assert_untouched(self):
        assert self.state() == self.before


@pytest.fixture
def victim(tmp_path):
    return Victim(tmp_path)


@pytest.fixture
def tmpdir_(tmp_path, monkeypatch):
    """A /tmp of our own (mode 1777) as the tool's temp directory."""
    path = str(tmp_path / 'tmp')
    os.mkdir(path)
    os.chmod(path, 0o1777)
    monkeypatch.setattr(tempfile, 'tempdir', path)
    return path


def plant_link(target, at):
    """A symbolic link as the server's user would make it: owned by that user."""
    os.symlink(target, at)
    os.lchown(at, NOBODY, NOBODY)


def plant(what, victim_path, at):
    """What the server's user can leave at a name: a link to the victim, a hard link to it, or a fifo."""
    if what == 'link':
        plant_link(victim_path, at)
    elif what == 'hard link':
        os.link(victim_path, at)
    else:
        os.mkfifo(at)


def within(seconds, function, *args):
    """function(*args), failing the test instead of hanging it (opening a fifo blocks)."""
    outcome = {}

    def call():
        try:
            outcome['value'] = function(*args)
        except BaseException as exc:           # handed to the test's thread
            outcome['error'] = exc
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), '%s blocked (a fifo opened?)' % getattr(function, '__name__', function)
    if 'error' in outcome:
        raise outcome['error']
    return outcome.get('value')


def mmk_invocation():
    return tool_invocation.Invocation(tool_catalog.METHOD_MYSQL_MIGRATE_KEYRING,
                                      dict(type='component_keyring_file', path='/k/src'),
                                      dict(type='component_keyring_encrypted_file', path='/k/dst', password=SECRET), TOOL)


def server_invocation():
    return tool_invocation.Invocation(tool_catalog.METHOD_MIGRATION_SERVER, dict(type='keyring_encrypted_file', path='/k/src',
                                                                                 password=SECRET),
                                      dict(type='component_keyring_file', path='/k/dst'), TOOL)


def dead_pid():
    process = subprocess.Popen(['true'])
    process.wait()
    return process.pid


def plant_everything(directory, victim):
    """What the server's user can leave in a directory it owns: links to the victim file and its directory, a
    hard link to the victim, a fifo, and the same again one level down."""
    plant_link(victim.path, os.path.join(directory, 'link'))
    plant_link(victim.dir, os.path.join(directory, 'dir-link'))
    os.link(victim.path, os.path.join(directory, 'hard'))
    os.mkfifo(os.path.join(directory, 'fifo'))
    nested = os.path.join(directory, 'nested')
    os.mkdir(nested)
    plant_link(victim.path, os.path.join(nested, 'link'))
    os.mkfifo(os.path.join(nested, 'fifo'))
    os.chown(nested, NOBODY, NOBODY)


# ---- the work directory ------------------------------------------------------------------------------------------

def test_the_tool_user_can_read_the_work_tree_and_never_write_it(tmpdir_):
    invocation = mmk_invocation()
    invocation.prepare(uid=NOBODY, gid=NOBODY)
    workdir = invocation.workdir
    try:
        holder = os.path.dirname(workdir)
        st = os.lstat(holder)
        # The holder stays root's: the tool's user cannot rename the work directory and put a link at its path.
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o711) and os.path.dirname(holder) == tmpdir_
        assert os.listdir(holder) == [os.path.basename(workdir)]
        for path, mode in ((workdir, 0o750), (os.path.join(workdir, 'source'), 0o750),
                           (os.path.join(workdir, 'destination'), 0o750), (os.path.join(workdir, 'tool.cnf'), 0o640),
                           (os.path.join(workdir, 'destination', 'component_keyring_encrypted_file.cnf'), 0o640)):
            st = os.lstat(path)
            assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, NOBODY, mode), path
        with open(os.path.join(workdir, 'destination', 'component_keyring_encrypted_file.cnf')) as f:
            assert SECRET in f.read()
    finally:
        invocation.cleanup()
    assert not os.path.lexists(os.path.dirname(workdir))


def test_a_link_planted_at_the_next_work_directory_name_is_not_used(tmpdir_, victim, monkeypatch):
    # Pretend the server's user guessed the name: the first name tried is one it planted a link at.
    real_urandom = os.urandom
    guessed = [b'\0' * 6]
    monkeypatch.setattr(os, 'urandom', lambda n: guessed.pop() if guessed else real_urandom(n))
    planted = os.path.join(tmpdir_, 'keyops-tool-%d-000000000000' % os.getpid())
    plant_link(victim.dir, planted)
    invocation = mmk_invocation()
    invocation.prepare(uid=NOBODY, gid=NOBODY)
    try:
        assert not invocation.workdir.startswith(planted + '/')
        assert os.path.islink(planted) and os.readlink(planted) == victim.dir
        victim.assert_untouched()
    finally:
        invocation.cleanup()
    victim.assert_untouched()


@pytest.mark.parametrize('make', [mmk_invocation, server_invocation])
def test_cleanup_wipes_our_files_and_never_follows_what_the_tool_user_planted(tmpdir_, victim, make):
    invocation = make()
    invocation.prepare(uid=NOBODY, gid=NOBODY)
    workdir = invocation.workdir
    holder = os.path.dirname(workdir)
    # An open descriptor of our option file shows whether it was wiped before it was unlinked.
    ours = os.open(os.path.join(workdir, 'tool.cnf'), os.O_RDONLY)
    try:
        # Defence in depth: the work tree is root's now, but whatever cleanup finds there (names replaced, others
        # added) is never followed.
        os.rename(os.path.join(workdir, 'tool.cnf'), os.path.join(workdir, 'tool.cnf.moved'))
        plant_link(victim.path, os.path.join(workdir, 'tool.cnf'))
        plant_everything(workdir, victim)
        if os.path.isdir(os.path.join(workdir, 'destination')):
            os.rename(os.path.join(workdir, 'destination'), os.path.join(workdir, 'destination.moved'))
            plant_link(victim.dir, os.path.join(workdir, 'destination'))
        within(10, invocation.cleanup)
        victim.assert_untouched()
        assert not os.path.lexists(holder) and invocation.workdir is None
        data = os.pread(ours, 4096, 0)
        assert data and data == b'\0' * len(data)
    finally:
        os.close(ours)
    victim.assert_untouched()


def test_orphan_removal_does_not_follow_what_was_planted(tmpdir_, victim):
    pid = dead_pid()
    orphan = os.path.join(tmpdir_, 'keyops-tool-%d-abc' % pid)
    work = os.path.join(orphan, 'keyops-tool-%d-abc' % pid)
    os.makedirs(work)
    with open(os.path.join(work, 'tool.cnf'), 'w') as f:
        f.write('password="%s"\n' % SECRET)
    plant_everything(work, victim)
    os.chown(work, NOBODY, NOBODY)
    # Names in the temp directory the server's user (or anyone) can create: never followed, never removed.
    link = os.path.join(tmpdir_, 'keyops-tool-%d-link' % pid)
    plant_link(victim.dir, link)
    fifo = os.path.join(tmpdir_, 'keyops-tool-%d-fifo' % pid)
    os.mkfifo(fifo)
    theirs = os.path.join(tmpdir_, 'keyops-tool-%d-theirs' % pid)
    os.mkdir(theirs)
    plant_link(victim.path, os.path.join(theirs, 'link'))
    os.chown(theirs, NOBODY, NOBODY)
    within(10, tool_workdir.remove_orphan_workdirs, tmpdir_)
    victim.assert_untouched()
    assert not os.path.lexists(orphan)
    assert os.path.islink(link) and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert os.listdir(theirs) == ['link']


def test_a_temp_directory_others_can_rearrange_is_refused(tmp_path, monkeypatch):
    loose = str(tmp_path / 'loose')
    os.mkdir(loose)
    os.chmod(loose, 0o777)            # no sticky bit: anyone could rename our holder away
    monkeypatch.setattr(tempfile, 'tempdir', loose)
    with pytest.raises(UnsafePathError, match='sticky') as caught:
        mmk_invocation().prepare(uid=NOBODY, gid=NOBODY)
    assert loose in str(caught.value)
    assert os.listdir(loose) == []


# ---- the destination: snapshot and restore -----------------------------------------------------------------------

@pytest.fixture
def keystore_dir(tmp_path):
    """A keystore directory as on a server: owned by the server's user."""
    path = str(tmp_path / 'keyring')
    os.mkdir(path, 0o750)
    os.chown(path, NOBODY, NOBODY)
    return path


@pytest.mark.parametrize('what', ['link', 'hard link', 'fifo'])
@pytest.mark.parametrize('suffix', ['', '.backup'])
def test_snapshot_refuses_a_destination_it_could_not_put_back(keystore_dir, victim, what, suffix):
    destination = os.path.join(keystore_dir, 'component_keyring_file')
    with open(destination, 'wb') as f:
        f.write(b'{}')
    at = destination + suffix
    if not suffix:
        os.unlink(destination)
    plant(what, victim.path, at)
    with pytest.raises(UnsafePathError) as caught:
        within(10, tool_record.FileSnapshot, destination)
    assert at in str(caught.value)
    if what != 'hard link':           # a fingerprint only reads: a hard link is fine there, a link or fifo is not
        with pytest.raises(UnsafePathError):
            within(10, tool_record.file_sha256, at)
    victim.assert_untouched()


def test_a_link_on_the_way_to_the_destination_is_refused(keystore_dir, victim):
    plant_link(victim.dir, os.path.join(keystore_dir, 'sub'))
    destination = os.path.join(keystore_dir, 'sub', 'shadow')
    with pytest.raises(UnsafePathError) as caught:
        tool_record.FileSnapshot(destination)
    assert os.path.join(keystore_dir, 'sub') in str(caught.value)
    victim.assert_untouched()


@pytest.mark.parametrize('what', ['link', 'hard link', 'fifo'])
def test_restore_replaces_what_the_tool_user_left_without_following_it(keystore_dir, victim, what):
    destination = os.path.join(keystore_dir, 'component_keyring_file')
    with open(destination, 'wb') as f:
        f.write(b'original')
    os.chown(destination, NOBODY, NOBODY)
    os.chmod(destination, 0o640)
    snapshot = tool_record.FileSnapshot(destination)
    # After the run, as the server's user: the keystore and a new .backup are names for the victim.
    os.unlink(destination)
    for at in (destination, destination + '.backup'):
        plant(what, victim.path, at)
    assert not within(10, snapshot.unchanged)
    assert within(10, snapshot.restore, write_atomically)
    victim.assert_untouched()
    st = os.lstat(destination)
    assert stat.S_ISREG(st.st_mode) and st.st_nlink == 1
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (NOBODY, NOBODY, 0o640)
    with open(destination, 'rb') as f:
        assert f.read() == b'original'
    assert not os.path.lexists(destination + '.backup')
    assert snapshot.unchanged()


def test_restore_of_an_absent_destination_removes_only_the_planted_link(keystore_dir, victim):
    destination = os.path.join(keystore_dir, 'component_keyring_file')
    snapshot = tool_record.FileSnapshot(destination)
    plant_link(victim.path, destination)
    assert snapshot.restore(write_atomically)
    assert not os.path.lexists(destination)
    victim.assert_untouched()


def test_restore_refuses_a_directory_left_at_the_name(keystore_dir, victim):
    destination = os.path.join(keystore_dir, 'component_keyring_file')
    snapshot = tool_record.FileSnapshot(destination)
    os.mkdir(destination)
    plant_link(victim.path, os.path.join(destination, 'x'))
    with pytest.raises(UnsafePathError, match='is a directory now') as caught:
        snapshot.restore(write_atomically)
    assert destination in str(caught.value)
    victim.assert_untouched()


# ---- the run record ---------------------------------------------------------------------------------------------

def test_a_link_at_the_run_record_is_refused_not_written_through(keystore_dir, victim):
    # tool.record_dir set to a directory the server's user can write.
    record = tool_record.RunRecord(keystore_dir, tool_catalog.METHOD_MIGRATION_SERVER, dict(type='keyring_okv'),
                                   dict(type='component_keyring_kmip'))
    plant_link(victim.path, record.path)
    assert record.load() is None
    with pytest.raises(UnsafePathError) as caught:
        record.save(source_sha256=None, destination_sha256=None, migrated_count=1, keys=[])
    assert record.path in str(caught.value)
    assert os.path.islink(record.path)
    victim.assert_untouched()


def test_a_run_record_directory_that_is_a_planted_link_is_refused(keystore_dir, victim):
    plant_link(victim.dir, os.path.join(keystore_dir, 'records'))
    record = tool_record.RunRecord(os.path.join(keystore_dir, 'records'), tool_catalog.METHOD_MIGRATION_SERVER,
                                   dict(type='keyring_okv'), dict(type='component_keyring_kmip'))
    with pytest.raises(UnsafePathError) as caught:
        record.save(source_sha256=None, destination_sha256=None, migrated_count=1, keys=[])
    assert os.path.join(keystore_dir, 'records') in str(caught.value)
    victim.assert_untouched()
