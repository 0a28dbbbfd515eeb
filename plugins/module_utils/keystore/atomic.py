# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File I/O that cannot lose a keystore: read-only reads, a directory lock, and atomic replacement.

A destination is replaced only by rename(2) of a complete, fsynced, read-back-verified temp file in the same
directory, so at every instant the path holds either the old bytes or the new ones. Any error before the rename
removes the temp file and leaves the destination byte-identical.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import grp
import os
import pwd
import stat
import threading
import time

from .faults import checkpoint
from .model import ConcurrentWriterError, KeystoreError, KeystoreNotFoundError, WriteVerificationError

TEMP_SUFFIX = '.keyops-tmp'


def read_bytes(path):
    """Read a whole file, opened read-only: a source keystore is never opened for writing."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0) | getattr(os, 'O_NOCTTY', 0))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise KeystoreNotFoundError('no such file', path=path)
        raise KeystoreError('cannot open for reading: %s' % exc.strerror, path=path)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise KeystoreError('not a regular file', path=path)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b''.join(chunks)
    except OSError as exc:
        raise KeystoreError('cannot read: %s' % exc.strerror, path=path)
    finally:
        os.close(fd)


def resolve_uid(owner):
    """A user name or numeric id as a uid; None stays None."""
    if owner is None or isinstance(owner, int):
        return owner
    if str(owner).isdigit():
        return int(owner)
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise KeystoreError('no such OS user %r on this host' % (owner,))


def resolve_gid(group):
    """A group name or numeric id as a gid; None stays None."""
    if group is None or isinstance(group, int):
        return group
    if str(group).isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise KeystoreError('no such OS group %r on this host' % (group,))


def unreachable_directory(path, uid, gid):
    """The first directory above `path` that a process running as uid/gid cannot enter, or None.

    A keystore the server's OS user cannot reach is as good as lost to the server, whoever owns the file.
    Only the user's primary group is considered (supplementary groups are not looked up).
    """
    if uid == 0:
        return None
    directory = os.path.dirname(os.path.abspath(path))
    chain = []
    while True:
        chain.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for directory in reversed(chain):
        try:
            st = os.stat(directory)
        except OSError:
            return None          # a missing directory is reported by the write itself
        if st.st_uid == uid:
            allowed = st.st_mode & stat.S_IXUSR
        elif st.st_gid == gid:
            allowed = st.st_mode & stat.S_IXGRP
        else:
            allowed = st.st_mode & stat.S_IXOTH
        if not allowed:
            return directory
    return None


class DirectoryLock:
    """An exclusive flock(2) on the keystore's directory, held for a whole read-modify-write.

    Locking the directory rather than a lock file leaves nothing behind on disk, and it survives the rename
    that replaces the keystore file (a lock on the file's old inode would not).
    """

    def __init__(self, path, timeout=10.0):
        self.directory = os.path.dirname(os.path.abspath(path)) or '/'
        self.path = path
        self.timeout = timeout
        self._fd = None

    def __enter__(self):
        try:
            fd = os.open(self.directory, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0) | getattr(os, 'O_CLOEXEC', 0))
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise KeystoreNotFoundError('the directory %s does not exist' % self.directory, path=self.path)
            raise KeystoreError('cannot open directory %s: %s' % (self.directory, exc.strerror), path=self.path)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK) or time.monotonic() >= deadline:
                    os.close(fd)
                    raise ConcurrentWriterError(
                        'another process holds the lock on %s (waited %.0f s)' % (self.directory, self.timeout),
                        path=self.path)
                time.sleep(0.05)
        self._fd = fd
        return self

    def __exit__(self, *exc_info):
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None
        return False


def fsync_directory(directory):
    fd = os.open(directory, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _TempFileWriter(threading.Thread):
    """Writes, chowns, chmods, fsyncs and reads back the temp file, in a thread of its own when the caller has
    the new bytes to check: the system calls release the GIL, so the check runs meanwhile instead of after
    the disk. (Called with run() directly it is an ordinary function call.)"""

    def __init__(self, temp_path, data, uid, gid, mode):
        super(_TempFileWriter, self).__init__(name='keyops-temp-file-writer')
        self.daemon = True
        self.temp_path = temp_path
        self.data = data
        self.uid = uid
        self.gid = gid
        self.mode = mode
        self.error = None
        self.read_back = None

    def run(self):
        fd = None
        try:
            checkpoint('before_temp_write')
            fd = os.open(self.temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_CLOEXEC', 0), 0o600)
            view = memoryview(self.data)
            while view:
                view = view[os.write(fd, view):]
            checkpoint('after_temp_write')
            if self.uid is not None or self.gid is not None:
                os.fchown(fd, -1 if self.uid is None else self.uid, -1 if self.gid is None else self.gid)
            os.fchmod(fd, self.mode)
            os.fsync(fd)
            os.close(fd)
            fd = None
            checkpoint('after_fsync')
            self.read_back = read_bytes(self.temp_path)
        except BaseException as exc:       # handed to the caller's thread by raise_error()
            self.error = exc
        finally:
            if fd is not None:
                os.close(fd)

    def raise_error(self, path):
        """Raise what went wrong in the thread, or WriteVerificationError if the file did not read back as
        written."""
        if isinstance(self.error, OSError):
            raise KeystoreError('cannot write temporary file %s: %s' % (self.temp_path, self.error.strerror),
                                path=path)
        if self.error is not None:
            raise self.error
        if self.read_back != self.data:
            raise WriteVerificationError(
                'the temporary file %s did not read back as written (%d of %d bytes); nothing was changed'
                % (self.temp_path, len(self.read_back), len(self.data)), path=path)


def write_atomically(path, data, mode=None, owner=None, group=None, verify=None):
    """Replace `path` with `data` atomically; return the (uid, gid, mode) the file ends up with.

    Owner, group and mode apply to the temp file before the rename, so the keystore never exists, even for an
    instant, with the wrong owner or a wider mode. When the target exists and no value is given, its current
    owner, group and mode are kept; a new file gets mode 0600 and the caller's owner. `verify(data)` must raise
    to refuse the bytes; it runs while the temp file is written and fsynced, and the rename happens only after
    both, and after the temp file read back equal to `data`.
    """
    directory = os.path.dirname(os.path.abspath(path)) or '/'
    try:
        current = os.stat(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise KeystoreError('cannot stat: %s' % exc.strerror, path=path)
        current = None
    uid = resolve_uid(owner)
    gid = resolve_gid(group)
    if current is not None:
        uid = current.st_uid if uid is None else uid
        gid = current.st_gid if gid is None else gid
        mode = stat.S_IMODE(current.st_mode) if mode is None else mode
    elif mode is None:
        mode = 0o600

    temp_path = os.path.join(directory, '.%s.%d%s' % (os.path.basename(path), os.getpid(), TEMP_SUFFIX))
    writer = _TempFileWriter(temp_path, data, uid, gid, mode)
    try:
        if verify is None:
            writer.run()            # nothing to do meanwhile: no thread
        else:
            writer.start()
            try:
                verify(data)
            finally:
                writer.join()
        writer.raise_error(path)
        try:
            os.rename(temp_path, path)
        except OSError as exc:
            raise KeystoreError('cannot rename %s over the keystore: %s' % (temp_path, exc.strerror), path=path)
        checkpoint('after_rename')
    except BaseException:
        # Includes KeyboardInterrupt: whatever stops us before the rename, the temp file goes (the writer has
        # finished: it is joined before anything here can raise, except a failure to start it).
        try:
            os.unlink(temp_path)
        except OSError:
            pass
        raise
    try:
        checkpoint('before_dir_fsync')
        fsync_directory(directory)
    except OSError as exc:
        raise KeystoreError('the keystore was replaced but its directory %s could not be synced: %s'
                            % (directory, exc.strerror), path=path)
    final = os.stat(path)
    return final.st_uid, final.st_gid, stat.S_IMODE(final.st_mode)
