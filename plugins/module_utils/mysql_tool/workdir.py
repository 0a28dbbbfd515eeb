# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tool's private work directory: created and filled by root through descriptors, readable (never writable)
by the tool's OS user, wiped and removed without following anything found in it, and removed after a killed run.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import errno
import os
import re
import stat
import tempfile

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError, UnsafePathError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import open_directory, write_all

WORKDIR_PREFIX = 'keyops-tool-'
# The secrets we write are a few hundred bytes; a file the tool's user grew to gigabytes is not wiped in full.
WIPE_LIMIT = 16 << 20
# How deep the removal descends into what the tool's user may have built in the work directory (each level holds
# a descriptor open); anything deeper is left, and keeps its parent from being removed.
MAX_REMOVE_DEPTH = 32


class WorkTree:
    """<tmp>/keyops-tool-<pid>-<random>/ (root's, 0711 once the tool's user must get through) holding the work
    directory of the same name (root's, readable by the tool's group: 0750, files 0640). Both, and the temp
    directory, stay open from creation to removal: everything is done through these descriptors, never by resolving
    the path again."""

    def __init__(self, parent, name, holder):
        self.parent = parent          # the temp directory
        self.name = name
        self.holder = holder
        self.workdir = holder.join(name)

    @classmethod
    def create(cls):
        parent = open_directory(os.path.abspath(tempfile.gettempdir()))
        try:
            _check_temp_directory(parent)
            for _attempt in range(100):
                name = '%s%d-%s' % (WORKDIR_PREFIX, os.getpid(), binascii.hexlify(os.urandom(6)).decode('ascii'))
                try:
                    # mkdir never follows a link: one planted at this name makes it fail, and we pick another.
                    parent.mkdir(name, 0o700)
                except OSError as exc:
                    if exc.errno == errno.EEXIST:
                        continue
                    raise KeystoreError('cannot create the tool\'s work directory: %s' % exc.strerror,
                                        path=parent.join(name))
                holder = parent.subdirectory(name)
                tree = cls(parent, name, holder)
                try:
                    os.fchmod(holder.fd, 0o700)      # exactly, whatever the umask
                    holder.mkdir(name, 0o700)
                except BaseException:
                    tree.remove()
                    raise
                return tree
            raise KeystoreError('cannot find a free name for the tool\'s work directory', path=parent.path)
        except BaseException:
            parent.close()
            raise

    def fill(self, files, uid, gid):
        """Write the files (and their subdirectories), readable by the tool's group gid, then open the work
        directory to that group. uid only says whether the tool runs as another user at all."""
        by_directory = {}
        for relative, text in files.items():
            folder, name = os.path.split(relative)
            by_directory.setdefault(folder, []).append((name, text))
        with self.holder.subdirectory(self.name) as work:
            for folder in sorted(by_directory):
                if folder:
                    work.mkdir(folder, 0o700)
                    directory = work.subdirectory(folder)
                else:
                    directory = work
                try:
                    for name, text in sorted(by_directory[folder]):
                        _write_new_file(directory, name, text.encode('utf-8'), gid)
                    if directory is not work:
                        _hand_over(directory.fd, gid, 0o750)
                finally:
                    if directory is not work:
                        directory.close()
            _hand_over(work.fd, gid, 0o750)
        if uid is not None:
            # The tool's user must get through to the work directory; listing the holder shows it nothing more.
            os.fchmod(self.holder.fd, 0o711)

    def remove(self):
        """Wipe and remove both directories; best effort (what cannot be removed is left, never followed)."""
        try:
            _remove_contents(self.holder, 0)
            _remove_directory(self.parent, self.name, self.holder)
        finally:
            self.holder.close()
            self.parent.close()


def _check_temp_directory(directory):
    """The holder's name must stay ours: in a directory others can write, only the sticky bit (as on /tmp) keeps
    them from renaming it away and putting a link in its place."""
    st = os.fstat(directory.fd)
    writable_by_others = st.st_mode & 0o002 or (st.st_mode & 0o020 and st.st_gid != 0)
    if st.st_uid not in (0, os.geteuid()) or (writable_by_others and not st.st_mode & stat.S_ISVTX):
        raise UnsafePathError('is the temporary directory, but another user can rename what is in it (mode %04o, '
                              'owner uid %d, no sticky bit); set TMPDIR to a directory only root can write, or '
                              'one with the sticky bit like /tmp' % (stat.S_IMODE(st.st_mode), st.st_uid),
                              path=directory.path)


def _write_new_file(directory, name, data, gid):
    fd = directory.create(name, 0o600)
    try:
        write_all(fd, data)
        _hand_over(fd, gid, 0o640)
    finally:
        os.close(fd)


def _hand_over(fd, gid, mode):
    """Let the tool's group read (never write) it: the owner stays root; chmod and chown through the descriptor.
    Without a tool group (the tool runs as us) the mode is narrowed to the owner's bits."""
    if gid is None:
        mode &= 0o700
    os.fchmod(fd, mode)
    if gid is not None:
        os.fchown(fd, -1, gid)


def _remove_contents(directory, depth):
    """Remove everything in `directory`, wiping regular files first: the work directory may sit on a disk, not a
    tmpfs. The tool's user may have put anything here, so nothing is followed: a link, fifo, socket or device is
    only unlinked, a subdirectory is opened O_NOFOLLOW relative to its parent, and a file is wiped only through a
    descriptor opened O_WRONLY|O_NOFOLLOW|O_NONBLOCK on what lstat showed to be a regular file with one link (a
    hard-linked file may be another file's name, a file outside that the user wants overwritten)."""
    try:
        names = directory.listdir()
    except OSError:
        return
    for name in names:
        try:
            st = directory.lstat(name)
        except KeystoreError:
            continue
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            if depth < MAX_REMOVE_DEPTH:
                _remove_tree(directory, name, depth + 1)
            continue
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
            _wipe(directory, name, st)
        try:
            directory.unlink(name)        # removes the name itself, whatever it is
        except OSError:
            pass


def _remove_tree(parent, name, depth=0, expected=None):
    """Remove the directory `name` in `parent` and everything in it (see _remove_contents). `expected`: the
    lstat the caller decided on; a directory swapped in since is left alone."""
    try:
        directory = parent.subdirectory(name)
    except KeystoreError:
        return
    with directory:
        if expected is not None:
            st = os.fstat(directory.fd)
            if (st.st_dev, st.st_ino) != (expected.st_dev, expected.st_ino):
                return
        _remove_contents(directory, depth)
        _remove_directory(parent, name, directory)


def _remove_directory(parent, name, directory):
    """rmdir `name` in `parent` if that name is still the directory we emptied through `directory`."""
    try:
        opened = os.fstat(directory.fd)
        st = parent.lstat(name)
        if st is not None and (st.st_dev, st.st_ino) == (opened.st_dev, opened.st_ino):
            os.rmdir(name, dir_fd=parent.fd)
    except (OSError, KeystoreError):
        pass


def _wipe(directory, name, st):
    try:
        fd = directory.open_file(name, os.O_WRONLY, single_link=True, st=st)
    except KeystoreError:
        return
    try:
        size = min(os.fstat(fd).st_size, WIPE_LIMIT)
        zeros = b'\0' * min(size, 1 << 16)
        offset = 0
        while offset < size:
            written = os.pwrite(fd, zeros[:size - offset], offset)
            if not written:
                break
            offset += written
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_orphan_workdirs(parent=None):
    """Remove the work directories (and the passwords in them) of earlier runs whose module process is gone: a
    SIGKILLed module never reaches its cleanup. The directory's name holds its creator's PID; a directory whose
    PID is alive (its own run, or a reused PID), or that is not ours (not a directory owned by the user we run
    as: another user can create names here), is left alone."""
    try:
        directory = open_directory(os.path.abspath(parent or tempfile.gettempdir()))
    except KeystoreError:
        return
    with directory:
        try:
            names = directory.listdir()
        except OSError:
            return
        for name in names:
            match = re.match(r'%s(\d+)-' % re.escape(WORKDIR_PREFIX), name)
            if not match:
                continue
            try:
                st = directory.lstat(name)
            except KeystoreError:
                continue
            if st is None or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                continue
            try:
                os.kill(int(match.group(1)), 0)
            except ProcessLookupError:
                _remove_tree(directory, name, expected=st)
            except OSError:
                continue             # alive but another user's (EPERM), or gone while looking
