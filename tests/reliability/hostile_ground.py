# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile ground for test_hostile_ground: a keystore directory that belongs to the server's OS user (here
nobody), a root-only victim tree, things that user plants where the collection looks, and the means to tell
whether anything the collection did as root reached a victim.

Three witnesses, so that a test fails whenever a planted name is followed:
- a snapshot of the victim tree (owner, group, mode, inode, content of every file, listing of every directory);
- inotify on every victim inode and on every planted fifo and device node: an open, a read, a write, an entry
  created or removed is seen even when nothing changes (a follow that only reads, or rewrites the same bytes);
- a SIGALRM time limit: a call that blocks (opening a fifo) raises Hang instead of hanging the test run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import contextlib
import ctypes
import errno
import json
import os
import signal
import stat
import struct
import time
import traceback

from ansible.module_utils.testing import patch_module_args

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key, KeystoreError

from ..unit.keystore.strategies import codec

NOBODY = 65534
HANG_LIMIT = 10
KINDS = ('symlink_file', 'symlink_dir', 'hardlink', 'fifo', 'chardev')
# The stale-looking temp name of a keystore called `name` (the real ones are random: nothing can be planted
# at them ahead of time; this one is what a killed run would have left, so the next writer removes it).
STALE_TEMP = '.%s.99999.deadbeef0000.keyops-tmp'

# inotify(7)
IN_ACCESS = 0x1
IN_MODIFY = 0x2
IN_OPEN = 0x20
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DONT_FOLLOW = 0x02000000
IN_IGNORED = 0x8000
_EVENT_NAMES = ((IN_ACCESS, 'read'), (IN_MODIFY, 'written'), (IN_OPEN, 'opened'), (IN_MOVED_FROM, 'entry moved out'),
                (IN_MOVED_TO, 'entry moved in'), (IN_CREATE, 'entry created'), (IN_DELETE, 'entry deleted'))
_WATCHED = IN_ACCESS | IN_MODIFY | IN_OPEN | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE


class Hang(BaseException):
    """A call did not return within HANG_LIMIT seconds. BaseException, so no `except Exception` swallows it."""


@contextlib.contextmanager
def time_limit(seconds=HANG_LIMIT):
    """Raise Hang in the main thread after `seconds` (a blocking open(2) of a fifo is interrupted: PEP 475 retries
    a system call after a signal only when the handler does not raise)."""
    def expire(signum, frame):
        raise Hang('still running after %s s: it blocked (on a fifo?)' % seconds)
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Watch:
    """inotify watches on given paths (never through a link); events() says what happened to each since."""

    def __init__(self):
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), 'inotify_init1')
        self.labels = {}

    def add(self, path, label=None):
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), _WATCHED | IN_DONT_FOLLOW)
        if wd < 0:
            raise OSError(ctypes.get_errno(), 'inotify_add_watch %s' % path)
        self.labels[wd] = label or path

    def events(self):
        """[(label, what, entry name)] in order."""
        found = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    return found
                raise
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = struct.unpack_from('iIII', data, offset)
                name = data[offset + 16:offset + 16 + length].rstrip(b'\0').decode('utf-8', 'replace')
                offset += 16 + length
                if mask & IN_IGNORED:
                    continue
                what = ', '.join(text for bit, text in _EVENT_NAMES if mask & bit)
                if what:
                    found.append((self.labels.get(wd, wd), what, name))

    def close(self):
        os.close(self.fd)


def _mkdir(path, mode, owner=0):
    os.mkdir(path)
    os.chmod(path, mode)
    os.chown(path, owner, owner)


def _put(path, data, mode, owner=0):
    with open(path, 'wb') as f:
        f.write(data)
    os.chmod(path, mode)
    os.chown(path, owner, owner)


class Ground:
    """tmp_path/victims (root, 0700): `file` (0600) and `dir` (0700), in which every keystore name the tests use
    exists again as a victim file, also one level down in `dir/keyring`, so that following a planted link to
    the directory, at the keystore's own name or at a directory on its way, lands on a victim too. Every victim
    file is a valid keystore holding one key, victim_key, so that a read through a link would succeed and show.

    tmp_path/srv (root, 0755) / home / data / keyring: home, data (`parent`) and keyring (`dir`) belong to
    nobody, mode 0750, as a server's keyring directory does: nobody controls every name in home, data and
    keyring. A second keystore directory, home/source-dir, holds a migration's source."""

    VICTIM_NAMES = ('keystore', 'keystore.backup', 'source', 'source.backup', 'destination', 'destination.backup')

    def __init__(self, tmp_path, keystore_type, source_type=None):
        self.base = str(tmp_path)
        self.keystore_type = keystore_type
        self.source_type = source_type or keystore_type
        self.victim_key = Key('victim-key-%s' % os.urandom(6).hex(), 'victim@localhost', 'AES', os.urandom(32))
        self.victims = os.path.join(self.base, 'victims')
        self.victim_file = os.path.join(self.victims, 'file')
        self.victim_dir = os.path.join(self.victims, 'dir')
        srv = os.path.join(self.base, 'srv')
        self.home = os.path.join(srv, 'home')
        self.parent = os.path.join(self.home, 'data')
        self.dir = os.path.join(self.parent, 'keyring')
        self.source_dir = os.path.join(self.home, 'source-dir')
        _mkdir(srv, 0o755)
        for path in (self.home, self.parent, self.dir, self.source_dir):
            _mkdir(path, 0o750, NOBODY)
        self.planted = []        # (path, kind)
        self.nodes = []          # planted fifos and device nodes, watched for opens

    # ---- victims -------------------------------------------------------------------------------------------

    def victim_bytes(self, keystore_type):
        return codec(keystore_type).encode([self.victim_key], None)

    def make_victims(self, file_type):
        """The victim tree; `file` is a keystore of `file_type` (the type read at the planted name)."""
        _mkdir(self.victims, 0o700)
        _put(self.victim_file, self.victim_bytes(file_type), 0o600)
        for directory in (self.victim_dir, os.path.join(self.victim_dir, 'keyring')):
            _mkdir(directory, 0o700)
            for name in self.VICTIM_NAMES:
                kind = self.source_type if name.startswith('source') else self.keystore_type
                _put(os.path.join(directory, name), self.victim_bytes(kind), 0o600)

    def snapshot(self):
        """{path: (kind, uid, gid, mode, inode, content or listing)} of the whole victim tree. Link counts are
        left out: a planted hard link adds one, and removing it takes it away again."""
        found = {}
        for top, dirs, files in os.walk(self.victims):
            for path in [top] + [os.path.join(top, n) for n in files]:
                st = os.lstat(path)
                if stat.S_ISDIR(st.st_mode):
                    body = tuple(sorted(os.listdir(path)))
                elif stat.S_ISREG(st.st_mode):
                    with open(path, 'rb') as f:
                        body = f.read()
                else:
                    body = None
                found[path] = (stat.S_IFMT(st.st_mode), st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_ino, body)
        return found

    def watch(self):
        """A Watch on every victim and every planted fifo or device node."""
        victims = []
        for top, _dirs, files in os.walk(self.victims):   # listed first: listing a watched directory is an event
            victims.extend([top] + [os.path.join(top, n) for n in files])
        watch = Watch()
        for path in victims:
            watch.add(path, 'victim ' + os.path.relpath(path, self.base))
        for path in self.nodes:
            watch.add(path, 'planted node ' + path)
        return watch

    def secrets(self):
        """Strings that must never appear in any output: the victim key's bytes in every spelling, its id, and each
        victim file's bytes."""
        data = self.victim_key.data
        found = set([data.hex(), data.hex().upper(), base64.b64encode(data).decode('ascii'), repr(data)[2:-1],
                     self.victim_key.key_id])
        for top, _dirs, files in os.walk(self.victims):
            for name in files:
                with open(os.path.join(top, name), 'rb') as f:
                    content = f.read()
                found.update([content.hex(), content.decode('latin-1')])
        return found

    # ---- keystores the server's user owns --------------------------------------------------------------

    def keystore(self, keystore_type, path, keys, owner=NOBODY, mode=0o640):
        open_keystore(keystore_type, path).write(keys)
        os.chown(path, owner, owner)
        os.chmod(path, mode)
        return path

    # ---- planting, "as the server's user" ----------------------------------------------------------------

    def plant(self, kind, path):
        """Put `kind` at `path`: whatever was there goes (a directory is renamed to <path>.real). Links and
        nodes are given to nobody, as if the server's user had made them; a hard link cannot be (it is the
        victim's own inode, which stays root's)."""
        if os.path.isdir(path) and not os.path.islink(path):
            os.rename(path, path + '.real')
        elif os.path.lexists(path):
            os.unlink(path)
        if kind == 'symlink_file':
            os.symlink(self.victim_file, path)
        elif kind == 'symlink_dir':
            os.symlink(self.victim_dir, path)
        elif kind == 'hardlink':
            os.link(self.victim_file, path)
        elif kind == 'fifo':
            os.mkfifo(path, 0o600)
            self.nodes.append(path)
        elif kind == 'chardev':
            os.mknod(path, stat.S_IFCHR | 0o600, os.stat('/dev/null').st_rdev)
            self.nodes.append(path)
        else:
            raise ValueError(kind)
        if kind != 'hardlink':
            os.lchown(path, NOBODY, NOBODY)
        self.planted.append((path, kind))
        return path


class Outcome:
    """How one call ended: ok, or failed with a KeystoreError class and message; `crash` is the traceback of
    anything else; `text` is everything it showed (result JSON, stdout, stderr, exception text)."""

    def __init__(self, ok, error=None, message='', text='', result=None, crash=None, value=None):
        self.ok = ok
        self.error = error
        self.message = message
        self.text = text
        self.result = result or {}
        self.crash = crash
        self.value = value

    def describe(self):
        if self.crash:
            return 'crashed:\n%s' % self.crash
        if self.ok:
            return 'succeeded'
        return 'failed with %s: %s' % (self.error, self.message)


def run_module(module, args, capsys):
    """The module's main() in-process, within the time limit."""
    capsys.readouterr()
    crash = None
    with patch_module_args(args):
        try:
            with time_limit():
                module.main()
            crash = 'main() returned without exit_json or fail_json'
        except SystemExit:
            pass
        except Exception:
            crash = traceback.format_exc()
    captured = capsys.readouterr()
    text = captured.out + captured.err + (crash or '')
    try:
        result = json.loads(captured.out)
    except ValueError:
        result = {}
        crash = crash or 'no JSON result on stdout: %r' % captured.out[-2000:]
    if crash:
        return Outcome(False, text=text, result=result, crash=crash)
    if result.get('failed'):
        return Outcome(False, result.get('error') or 'no error class', result.get('msg', ''), text, result)
    return Outcome(True, text=text, result=result)


def run_call(function, *args, **kwargs):
    """A library call within the time limit; KeystoreError is a clean failure, anything else a crash."""
    try:
        with time_limit():
            value = function(*args, **kwargs)
    except KeystoreError as exc:
        return Outcome(False, type(exc).__name__, str(exc), '%s\n%r' % (exc, exc))
    except Exception:
        crash = traceback.format_exc()
        return Outcome(False, text=crash, crash=crash)
    return Outcome(True, value=value, text=repr(value))


def backup_local_names(path, seconds=20):
    """The names AnsibleModule.backup_local would give a copy of `path` made by this process in the coming
    `seconds` (<path>.<pid>.<local time>~): a name known ahead is a name the server's user can plant at."""
    now = int(time.time())
    return ['%s.%s.%s' % (path, os.getpid(), time.strftime('%Y-%m-%d@%H:%M:%S~', time.localtime(t)))
            for t in range(now - 1, now + seconds)]


def set_aside_names(backup_path, seconds=20):
    """The names Keystore._set_aside_backup would move `backup_path` to in the coming `seconds`."""
    now = int(time.time())
    return ['%s.keyops-%s' % (backup_path, time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(t)))
            for t in range(now - 1, now + seconds)]
