# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a tool run is checked and undone against: the destination's bytes before the run (FileSnapshot), and the
record of the last successful run between two keystores the collection cannot read (RunRecord, for idempotency).

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import stat
import time

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.atomic import write_atomically
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import (
    KeystoreError,
    KeystoreNotFoundError,
    UnsafePathError,
)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import (
    locate,
    open_directory,
    read_descriptor,
    read_file,
)
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.catalog import keystore_file

# Where the records of successful tool runs are kept (tool.record_dir).
DEFAULT_RECORD_DIR = '/var/lib/keyops-mysql/tool-runs'


class FileSnapshot:
    """A keystore file's bytes (or absence), and its .backup sibling's, so a failed run can be undone exactly.

    The tool runs as the server's OS user, who owns the keystore's directory: whatever is at these names after
    the run is looked at with lstat and never followed, and the original is put back by replacing the name.
    `follow`: the keystore spec's own setting (a link at the path itself is used if root owns it).
    """

    def __init__(self, path, follow=False):
        self.path = path
        self.follow = follow
        self.data, self.stat = _snapshot(path, follow)
        self.backup_data, self.backup_stat = _snapshot(path + '.backup', follow)

    @property
    def sha256(self):
        return None if self.data is None else hashlib.sha256(self.data).hexdigest()

    def unchanged(self):
        return _current(self.path, self.follow) == self.data and \
            _current(self.path + '.backup', self.follow) == self.backup_data

    def restore(self, write_atomically):
        """Put the file (and its backup sibling) back as they were; True if anything had to change."""
        changed = False
        for path, data, st in ((self.path, self.data, self.stat),
                               (self.path + '.backup', self.backup_data, self.backup_stat or self.stat)):
            if _current(path, self.follow) == data:
                continue
            changed = True
            directory, name = locate(path, follow=self.follow)
            with directory:
                now = directory.lstat(name)
                if now is not None and (data is None or not _plain_file(now)):
                    if stat.S_ISDIR(now.st_mode):
                        raise UnsafePathError('is a directory now (left by the tool or the server\'s user); '
                                              'remove it, then run again to put the keystore back',
                                              path=directory.join(name))
                    # A link, fifo or hard link left at the name: the name goes, never what it points to.
                    directory.unlink(name)
            if data is not None:
                write_atomically(path, data, mode=st.st_mode & 0o7777, owner=st.st_uid, group=st.st_gid,
                                 follow=self.follow)
        return changed


def _plain_file(st):
    return stat.S_ISREG(st.st_mode) and st.st_nlink == 1


def _snapshot(path, follow):
    """(bytes, stat) of the regular, single-link file at path, or (None, None) if there is nothing there; a link
    (unless `follow` and root's), a hard-linked file, a fifo or a device raises UnsafePathError: the tool is not
    run on a destination that could not be put back."""
    directory, name = locate(path, follow=follow)
    with directory:
        st = directory.lstat(name)
        if st is None:
            return None, None
        fd = directory.open_file(name, single_link=True, st=st)
        try:
            return read_descriptor(fd, directory.join(name)), os.fstat(fd)
        finally:
            os.close(fd)


# What _current returns for a name that is not a regular file with one link: equal to no snapshot.
_NOT_A_PLAIN_FILE = object()


def _current(path, follow):
    try:
        return _snapshot(path, follow)[0]
    except KeystoreNotFoundError:
        return None
    except UnsafePathError:
        return _NOT_A_PLAIN_FILE


def _read_or_none(path, follow=False):
    """The bytes of the regular file at path, read without following a link (unless `follow` and root's), or
    None if it does not exist."""
    try:
        return read_file(path, follow=follow)
    except KeystoreNotFoundError:
        return None


def file_sha256(path, follow=False):
    data = _read_or_none(path, follow)
    return None if data is None else hashlib.sha256(data).hexdigest()


# ---- the run record ------------------------------------------------------------------------------------------

class RunRecord:
    """What the last successful tool run between two keystores saw, kept on the host for idempotency where the
    collection cannot read the keystores: a re-run with the same source and an unchanged destination is a no-op.
    It holds fingerprints and key ids only, never key bytes or options."""

    def __init__(self, record_dir, method, source, destination):
        identity = json.dumps([method, _identity(source), _identity(destination)], sort_keys=True)
        self.path = os.path.join(os.path.abspath(record_dir),
                                 'run-%s.json' % hashlib.sha256(identity.encode()).hexdigest()[:32])
        self.identity = identity

    def load(self):
        try:
            record = json.loads(read_file(self.path).decode('utf-8'))
        except (KeystoreError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get('identity') == self.identity else None

    def save(self, **fields):
        open_directory(os.path.dirname(self.path), create_mode=0o700).close()
        record = dict(fields, identity=self.identity,
                      finished_at=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
        # Through the safe write: tool.record_dir may be set to a directory another user can write.
        write_atomically(self.path, json.dumps(record, sort_keys=True).encode('utf-8'))
        return record


def _identity(spec):
    """A keystore's identity for the record: type, path and the non-secret options (secrets never stored)."""
    return dict(type=spec['type'], path=spec.get('path'), options=spec.get('options') or {})


def fingerprint(spec):
    """sha256 of a file keystore's bytes (None if absent), or None for keystores that are not files."""
    path = keystore_file(spec)
    return file_sha256(path, follow_of(spec)) if path else None


def follow_of(spec):
    """The spec's `follow`: a link at the keystore path itself is used if root owns it."""
    return bool(spec.get('follow'))
