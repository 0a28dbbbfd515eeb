# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File operations on untrusted ground: directories the server's OS user (or anyone but us) can write.

A keystore directory belongs to the server's user, so whoever runs code as that user controls every name in it.
We usually run as root. So nothing here resolves a path in one go: a directory is opened one component at a time
with O_DIRECTORY|O_NOFOLLOW relative to its parent's descriptor, and every name inside it is looked up, opened,
created, renamed or removed relative to that descriptor. The rules:

- a symbolic link on the way to a directory is followed only if root (or the user we run as) owns it: the server's
  user cannot create a link owned by root, while /var/run -> /run style links made by the system still work;
- a symbolic link as the object itself is refused, unless the caller opted in (`follow`) and root owns the link;
- only regular files are opened, never a fifo (opening one blocks), a socket or a device node: the name is checked
  with lstat, opened with O_NOFOLLOW|O_NONBLOCK, and the descriptor must be the inode that was checked;
- owner and mode are changed through a descriptor (fchown, fchmod), never through a name, and never on a regular
  file with more than one hard link (a hard link planted by the server's user would hand over another file).

Pure Python 3.8+, no Ansible imports; Linux and other POSIX systems with dir_fd support.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import pwd
import stat

from .model import KeystoreError, KeystoreNotFoundError, UnsafePathError

_CLOEXEC = getattr(os, 'O_CLOEXEC', 0)
_NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
_DIRECTORY = getattr(os, 'O_DIRECTORY', 0)
_NONBLOCK = getattr(os, 'O_NONBLOCK', 0)
_NOCTTY = getattr(os, 'O_NOCTTY', 0)
_DIRECTORY_FLAGS = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
# Linux allows 40 links in one lookup; so do we.
MAX_LINKS = 40


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return 'uid %d' % uid


def kind_of(mode):
    """How an error names what is at a path."""
    for test, name in ((stat.S_ISLNK, 'a symbolic link'), (stat.S_ISDIR, 'a directory'),
                       (stat.S_ISFIFO, 'a fifo'), (stat.S_ISSOCK, 'a socket'), (stat.S_ISCHR, 'a character device'),
                       (stat.S_ISBLK, 'a block device'), (stat.S_ISREG, 'a regular file')):
        if test(mode):
            return name
    return 'a special file'


def trusted_link_owner(uid):
    """A link on the way to a directory is followed when root or the user we run as made it."""
    return uid == 0 or uid == os.geteuid()


def _link_error(path, st, follow):
    if follow:
        return UnsafePathError('is a symbolic link owned by %s, and follow only allows links owned by root; replace '
                               'it with the file it points to, or name that file' % user_name(st.st_uid), path=path)
    return UnsafePathError('is a symbolic link owned by %s; remove it, or name the file it points to, or set '
                           'follow: true if root created it on purpose' % user_name(st.st_uid), path=path)


def _split(path):
    return [part for part in path.split('/') if part not in ('', '.')]


class Directory:
    """An open directory. Every name given to its methods is one component, resolved relative to the descriptor,
    so renaming or replacing a directory above it after it was opened changes nothing we do."""

    def __init__(self, fd, path):
        self.fd = fd
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def join(self, name):
        return os.path.join(self.path, name)

    def lstat(self, name):
        """The name's own stat (a link is not followed), or None if nothing has that name."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise KeystoreError('cannot look at it: %s' % exc.strerror, path=self.join(name))

    def exists(self, name):
        return self.lstat(name) is not None

    def open_file(self, name, flags=os.O_RDONLY, single_link=False, st=None):
        """A descriptor of the regular file `name`, opened without following a link and without blocking.

        Refuses a link, a fifo, a socket, a device, a directory, and with `single_link` a file with more than
        one hard link. KeystoreNotFoundError if there is nothing there. `st`: the caller's lstat of the name.
        """
        path = self.join(name)
        if st is None:
            st = self.lstat(name)
        if st is None:
            raise KeystoreNotFoundError('no such file', path=path)
        check_regular(path, st, single_link)
        try:
            fd = os.open(name, flags | _NOFOLLOW | _NONBLOCK | _NOCTTY | _CLOEXEC, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise KeystoreNotFoundError('no such file (it was removed while being opened)', path=path)
            if exc.errno == errno.ELOOP:
                raise UnsafePathError('became a symbolic link while being opened; nothing was done', path=path)
            raise KeystoreError('cannot open: %s' % exc.strerror, path=path)
        try:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                raise UnsafePathError('was replaced while being opened; nothing was done', path=path)
            check_regular(path, now, single_link)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def read(self, name, single_link=False):
        """The whole content of the regular file `name`, opened read-only (see open_file)."""
        fd = self.open_file(name, single_link=single_link)
        try:
            return read_descriptor(fd, self.join(name))
        finally:
            os.close(fd)

    def create(self, name, mode=0o600):
        """A new file `name`, opened for writing and reading back; fails if anything (a link included) already has
        the name."""
        return os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode, dir_fd=self.fd)

    def rename(self, old, new):
        """rename(2) within this directory: replaces whatever `new` is (a link is replaced, never followed)."""
        os.rename(old, new, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def unlink(self, name):
        os.unlink(name, dir_fd=self.fd)

    def mkdir(self, name, mode=0o700):
        os.mkdir(name, mode, dir_fd=self.fd)

    def listdir(self):
        return os.listdir(self.fd)

    def subdirectory(self, name):
        """The directory `name` inside this one, opened without following a link."""
        path = self.join(name)
        try:
            fd = os.open(name, _DIRECTORY_FLAGS, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise KeystoreNotFoundError('no such directory', path=path)
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                st = self.lstat(name)
                raise UnsafePathError('is %s, not a directory; nothing was done' % kind_of(st.st_mode if st else 0),
                                      path=path)
            raise KeystoreError('cannot open directory: %s' % exc.strerror, path=path)
        return Directory(fd, path)

    def fsync(self):
        os.fsync(self.fd)


def check_regular(path, st, single_link=False):
    if stat.S_ISLNK(st.st_mode):
        raise _link_error(path, st, False)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePathError('is %s, not a regular file; nothing was done' % kind_of(st.st_mode), path=path)
    if single_link and st.st_nlink > 1:
        raise UnsafePathError('has %d hard links; the collection never acts on a file that other names share '
                              '(another name could be a file the server\'s user wants to read or take over): remove '
                              'the other links' % st.st_nlink, path=path)


def read_descriptor(fd, path):
    chunks = []
    try:
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b''.join(chunks)
            chunks.append(chunk)
    except OSError as exc:
        raise KeystoreError('cannot read: %s' % exc.strerror, path=path)


def write_all(fd, data):
    """Write all of `data` to the descriptor (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def open_directory(path, create_mode=None, shown=None):
    """The directory at the absolute `path`, opened one component at a time without following an untrusted link.

    A link on the way is followed only if root or the user we run as owns it (trusted_link_owner); any other link
    raises UnsafePathError naming it. `create_mode`: create missing directories with this mode (mkdir relative
    to the parent's descriptor), else a missing one raises KeystoreNotFoundError. `shown`: the path to name in
    errors about a missing directory (the file the caller was asked about).
    """
    if not os.path.isabs(path):
        raise KeystoreError('the path must be absolute, got %r' % (path,))
    fds = [os.open('/', _DIRECTORY_FLAGS & ~_NOFOLLOW)]
    names = []                   # the real path so far, component by component
    todo = _split(path)
    links = 0
    try:
        while todo:
            name = todo.pop(0)
            if name == '..':
                if len(fds) > 1:
                    os.close(fds.pop())
                    names.pop()
                continue
            here = '/' + '/'.join(names + [name])
            try:
                fd = os.open(name, _DIRECTORY_FLAGS, dir_fd=fds[-1])
            except OSError as exc:
                if exc.errno == errno.ENOENT and create_mode is not None:
                    try:
                        os.mkdir(name, create_mode, dir_fd=fds[-1])
                    except OSError as mkdir_exc:
                        if mkdir_exc.errno != errno.EEXIST:
                            raise KeystoreError('cannot create directory: %s' % mkdir_exc.strerror, path=here)
                    todo.insert(0, name)
                    continue
                if exc.errno == errno.ENOENT:
                    raise KeystoreNotFoundError('the directory %s does not exist' % here, path=shown or path)
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise KeystoreError('cannot open directory %s: %s' % (here, exc.strerror), path=shown or path)
                links += 1
                target = _trusted_link_target(fds[-1], name, here, shown or path, links)
                if target.startswith('/'):
                    while len(fds) > 1:
                        os.close(fds.pop())
                    del names[:]
                todo[0:0] = _split(target)
                continue
            fds.append(fd)
            names.append(name)
        return Directory(fds.pop(), '/' + '/'.join(names))
    finally:
        for fd in fds:
            os.close(fd)


def _trusted_link_target(parent_fd, name, here, shown, links):
    """The target of the link `name` met on the way to a directory, if root (or we) own it; else UnsafePathError."""
    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        raise KeystoreError('%s is %s, not a directory' % (here, kind_of(st.st_mode)), path=shown)
    if not trusted_link_owner(st.st_uid):
        raise UnsafePathError('the directory %s on its way is a symbolic link owned by %s; nothing was done: name the '
                              'real directory, or have root replace the link' % (here, user_name(st.st_uid)),
                              path=shown)
    if links > MAX_LINKS:
        raise KeystoreError('too many symbolic links on the way', path=shown)
    return os.readlink(name, dir_fd=parent_fd)


def locate(path, follow=False, create_mode=None):
    """(Directory, name): the directory holding `path`, opened safely, and the name of the object in it.

    The object itself may be anything, or nothing. If it is a symbolic link and `follow` is set, a link owned by
    root is resolved (and so on, up to MAX_LINKS); a link owned by anyone else raises UnsafePathError. Without
    `follow` the link is what the caller gets to see (lstat) and refuse.
    """
    if not path or not os.path.isabs(path):
        raise KeystoreError('the path must be absolute, got %r' % (path,))
    for _hop in range(MAX_LINKS + 1):
        parent, name = os.path.split(path.rstrip('/') or '/')
        if name in ('', '.', '..'):
            raise KeystoreError('names a directory, not a file', path=path)
        directory = open_directory(parent, create_mode=create_mode, shown=path)
        if not follow:
            return directory, name
        st = directory.lstat(name)
        if st is None or not stat.S_ISLNK(st.st_mode):
            return directory, name
        if st.st_uid != 0:
            directory.close()
            raise _link_error(directory.join(name), st, True)
        target = os.readlink(name, dir_fd=directory.fd)
        # Not normalised: open_directory takes each '..' physically, after the links before it.
        path = os.path.join(directory.path, target)
        directory.close()
    raise KeystoreError('too many symbolic links', path=path)


def read_file(path, follow=False, single_link=False):
    """The content of the regular file at `path` (see locate and Directory.open_file)."""
    directory, name = locate(path, follow=follow)
    with directory:
        return directory.read(name, single_link=single_link)


def lstat_file(path, follow=False):
    """The stat of `path` itself (after following root-owned links with `follow`), or None if it does not exist."""
    try:
        directory, name = locate(path, follow=follow)
    except KeystoreNotFoundError:
        return None
    with directory:
        return directory.lstat(name)


def real_path(path, follow=False):
    """`path` with its directories resolved the safe way (the file name itself is resolved only with `follow`, and
    only through links root owns): what two names are compared by."""
    try:
        directory, name = locate(path, follow=follow)
    except KeystoreNotFoundError:
        return os.path.normpath(path)
    with directory:
        return directory.join(name)


def set_owner_and_mode(fd, st, uid, gid, mode):
    """fchown/fchmod on an open descriptor; True if anything changed. `st`: its fstat."""
    changed = False
    if (uid is not None and uid != st.st_uid) or (gid is not None and gid != st.st_gid):
        os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
        changed = True
    if mode is not None and stat.S_IMODE(st.st_mode) != mode:
        os.fchmod(fd, mode)
        changed = True
    return changed
