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

import binascii
import errno
import fcntl
import grp
import os
import pwd
import stat
import threading
import time

from .faults import checkpoint
from .model import ConcurrentWriterError, KeystoreError, WriteVerificationError
from .safe_fs import locate, open_directory, read_file, real_path, write_all

TEMP_SUFFIX = '.keyops-tmp'
SELINUX_XATTR = 'security.selinux'


def read_bytes(path, follow=False):
    """Read a whole regular file, opened read-only and without following a link (safe_fs.read_file): a source
    keystore is never opened for writing, and a link, a hard-linked file, a fifo or a device planted where a
    keystore should be is refused."""
    return read_file(path, follow=follow, single_link=True)


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
    # The directories as the safe walk resolves them (links owned by root only, else UnsafePathError): the stats
    # below then read no directory another user's link points at.
    directory = os.path.dirname(real_path(os.path.abspath(path)))
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

    Locking the directory rather than a lock file leaves nothing behind on disk (no name the server's user could
    plant a link at), and it survives the rename that replaces the keystore file (a lock on the file's old inode
    would not). The directory is opened the safe way (safe_fs.open_directory).
    """

    def __init__(self, path, timeout=10.0):
        self.directory = os.path.dirname(os.path.abspath(path)) or '/'
        self.path = path
        self.timeout = timeout
        self._handle = None

    def __enter__(self):
        handle = open_directory(self.directory, shown=self.path)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(handle.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK) or time.monotonic() >= deadline:
                    handle.close()
                    raise ConcurrentWriterError(
                        'another process holds the lock on %s (waited %.0f s)' % (self.directory, self.timeout),
                        path=self.path)
                time.sleep(0.05)
        self._handle = handle
        return self

    def __exit__(self, *exc_info):
        if self._handle is not None:
            self._handle.close()  # closing drops the flock
            self._handle = None
        return False


def copy_security_context(from_fd, to_fd):
    """Give the new file the SELinux context of the one it replaces, as Ansible's atomic_move does. Without
    SELinux (no such attribute, or a file system without extended attributes) there is nothing to keep, and the
    new file gets what the kernel gives any new file in the directory."""
    try:
        context = os.getxattr(from_fd, SELINUX_XATTR)
    except (OSError, AttributeError):
        return
    try:
        os.setxattr(to_fd, SELINUX_XATTR, context)
    except OSError as exc:
        if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise


class _TempFileWriter(threading.Thread):
    """Creates, writes, chowns, chmods, fsyncs and reads back the temp file, in a thread of its own when the caller
    has the new bytes to check: the system calls release the GIL, so the check runs meanwhile instead of after the
    disk. (Called with run() directly it is an ordinary function call.) Everything after the create goes through
    the descriptor, so the server's user renaming or replacing the temp name meanwhile changes nothing we touch."""

    def __init__(self, directory, temp_name, data, uid, gid, mode, context_fd):
        super(_TempFileWriter, self).__init__(name='keyops-temp-file-writer')
        self.daemon = True
        self.directory = directory
        self.temp_name = temp_name
        self.data = data
        self.uid = uid
        self.gid = gid
        self.mode = mode
        self.context_fd = context_fd
        self.error = None
        self.read_back = None
        self.identity = None

    def run(self):
        fd = None
        try:
            checkpoint('before_temp_write')
            fd = self.directory.create(self.temp_name, 0o600)
            write_all(fd, self.data)
            checkpoint('after_temp_write')
            if self.uid is not None or self.gid is not None:
                os.fchown(fd, -1 if self.uid is None else self.uid, -1 if self.gid is None else self.gid)
            os.fchmod(fd, self.mode)
            if self.context_fd is not None:
                copy_security_context(self.context_fd, fd)
            os.fsync(fd)
            checkpoint('after_fsync')
            self.read_back = read_back(fd, len(self.data))
            st = os.fstat(fd)
            self.identity = (st.st_dev, st.st_ino, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
        except BaseException as exc:       # handed to the caller's thread by raise_error()
            self.error = exc
        finally:
            if fd is not None:
                os.close(fd)

    def raise_error(self, path):
        """Raise what went wrong in the thread, or WriteVerificationError if the file did not read back as
        written."""
        temp_path = self.directory.join(self.temp_name)
        if isinstance(self.error, OSError):
            raise KeystoreError('cannot write temporary file %s: %s' % (temp_path, self.error.strerror),
                                path=path)
        if self.error is not None:
            raise self.error
        if self.read_back != self.data:
            raise WriteVerificationError(
                'the temporary file %s did not read back as written (%d of %d bytes); nothing was changed'
                % (temp_path, len(self.read_back), len(self.data)), path=path)


def read_back(fd, size):
    """The file's bytes read again through its descriptor, from the start."""
    chunks = []
    offset = 0
    while True:
        chunk = os.pread(fd, max(size - offset, 0) + 1, offset)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def temp_name_for(name):
    """A temp name no one can guess ahead: the server's user cannot plant anything at it in advance."""
    return '.%s.%d.%s%s' % (name, os.getpid(), binascii.hexlify(os.urandom(6)).decode('ascii'), TEMP_SUFFIX)


def write_atomically(path, data, mode=None, owner=None, group=None, verify=None, follow=False):
    """Replace `path` with `data` atomically; return the (uid, gid, mode) the file ends up with.

    Owner, group and mode apply to the temp file before the rename, so the keystore never exists, even for an
    instant, with the wrong owner or a wider mode. When the target exists and no value is given, its current
    owner, group, mode (and SELinux context) are kept; a new file gets mode 0600 and the caller's owner.
    `verify(data)` must raise to refuse the bytes; it runs while the temp file is written and fsynced, and the
    rename happens only after both, and after the temp file read back equal to `data`.

    The directory is opened the safe way and everything is done relative to it (safe_fs): an existing target
    that is a symbolic link (unless `follow` and owned by root), a hard-linked file, a fifo or a device is
    refused before anything is written.
    """
    directory, name = locate(path, follow=follow)
    with directory:
        current = directory.lstat(name)
        current_fd = None
        if current is not None:
            current_fd = directory.open_file(name, single_link=True, st=current)
        try:
            uid = resolve_uid(owner)
            gid = resolve_gid(group)
            if current is not None:
                uid = current.st_uid if uid is None else uid
                gid = current.st_gid if gid is None else gid
                mode = stat.S_IMODE(current.st_mode) if mode is None else mode
            elif mode is None:
                mode = 0o600
            writer = _TempFileWriter(directory, temp_name_for(name), data, uid, gid, mode, current_fd)
            _write_and_rename(directory, name, writer, verify, path)
        finally:
            if current_fd is not None:
                os.close(current_fd)
        try:
            checkpoint('before_dir_fsync')
            directory.fsync()
        except OSError as exc:
            raise KeystoreError('the keystore was replaced but its directory %s could not be synced: %s'
                                % (directory.path, exc.strerror), path=path)
        return writer.identity[2:]


def _write_and_rename(directory, name, writer, verify, path):
    try:
        if verify is None:
            writer.run()            # nothing to do meanwhile: no thread
        else:
            writer.start()
            try:
                verify(writer.data)
            finally:
                writer.join()
        writer.raise_error(path)
        try:
            directory.rename(writer.temp_name, name)
        except OSError as exc:
            raise KeystoreError('cannot rename %s over the keystore: %s'
                                % (directory.join(writer.temp_name), exc.strerror), path=path)
        checkpoint('after_rename')
    except BaseException:
        # Includes KeyboardInterrupt: whatever stops us before the rename, the temp file goes (the writer has
        # finished: it is joined before anything here can raise, except a failure to start it). unlink removes
        # the name itself, whatever the server's user may have put there.
        try:
            directory.unlink(writer.temp_name)
        except OSError:
            pass
        raise


def keep_copy(path, follow=False):
    """Copy the file at `path` to '<path>.<pid>.<time>~' beside it (the name AnsibleModule.backup_local uses), with
    its owner and mode; return the copy's path. The original is read through a descriptor opened without
    following a link, and the copy is created with O_EXCL|O_NOFOLLOW: a name planted ahead fails the copy, it is
    never written through."""
    directory, name = locate(path, follow=follow)
    with directory:
        source_fd = directory.open_file(name, single_link=True)
        try:
            st = os.fstat(source_fd)
            data = read_back(source_fd, st.st_size)
        finally:
            os.close(source_fd)
        copy_name = '%s.%d.%s~' % (name, os.getpid(), time.strftime('%Y-%m-%d@%H:%M:%S', time.localtime()))
        try:
            fd = directory.create(copy_name, 0o600)
        except OSError as exc:
            raise KeystoreError('cannot create the backup copy %s: %s' % (directory.join(copy_name), exc.strerror),
                                path=path)
        try:
            write_all(fd, data)
            os.fchown(fd, st.st_uid, st.st_gid)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            fd = None
            directory.unlink(copy_name)
            raise KeystoreError('cannot write the backup copy %s: %s' % (directory.join(copy_name), exc.strerror),
                                path=path)
        finally:
            if fd is not None:
                os.close(fd)
        directory.fsync()
        return directory.join(copy_name)
