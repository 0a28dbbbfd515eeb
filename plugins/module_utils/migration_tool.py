# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MySQL's own key migration tools, run on the host and wrapped safely.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.

keyring_migrate uses this for keystores the collection cannot read itself (the Enterprise keyring_encrypted_file
plugin, okv, aws, hashicorp, oci plugins and components). MySQL offers two tools:

- the migration server, `mysqld --keyring-migration-source=... --keyring-migration-destination=...`, for every
  pair that involves a plugin (with --keyring-migration-to-component / --keyring-migration-from-component for a
  component side);
- `mysql_migrate_keyring`, for component -> component.

Neither can be trusted on its exit status: `mysql_migrate_keyring` refuses with "Source and destination cannot be
the same." and exits 0 (seen on the real 9.7.4 binary), and skips keys it cannot read with a warning and exit 0.
So the collection decides success from the tool's output (parse_output), and from the destination itself where
it can read it. Secrets never go on the command line (visible in ps): they go into 0600 option/config files in a
private directory that is removed afterwards.

Standard library and the collection's Ansible-free keystore library only: this runs on the managed host under
Python 3.8+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import errno
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import tempfile
import time

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import (
    KeystoreError, KeystoreNotFoundError, UnsafePathError)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import (
    check_regular, locate, lstat_file, open_directory, read_descriptor, read_file, real_path)

# Keystore formats the collection reads and writes itself.
NATIVE_TYPES = ('keyring_file', 'component_keyring_file', 'component_keyring_encrypted_file')

# Plugins: type -> (library, option naming the data file or None). keyring_file is readable natively too, but
# the migration server can also be asked to move it.
PLUGIN_TYPES = {
    'keyring_file': ('keyring_file.so', 'keyring_file_data'),
    'keyring_encrypted_file': ('keyring_encrypted_file.so', 'keyring_encrypted_file_data'),
    'keyring_okv': ('keyring_okv.so', None),
    'keyring_aws': ('keyring_aws.so', None),
    'keyring_hashicorp': ('keyring_hashicorp.so', None),
    'keyring_oci': ('keyring_oci.so', None),
}
# Plugin options holding the keystore password, filled from the keystore's `password`.
PLUGIN_PASSWORD_OPTION = {'keyring_encrypted_file': 'keyring_encrypted_file_password'}

COMPONENT_TYPES = ('component_keyring_file', 'component_keyring_encrypted_file', 'component_keyring_kmip',
                   'component_keyring_aws', 'component_keyring_hashicorp', 'component_keyring_oci')
# Components whose JSON config names the data file as "path" (and "password" for the encrypted one).
FILE_COMPONENTS = ('component_keyring_file', 'component_keyring_encrypted_file')

ALL_TYPES = tuple(sorted(set(PLUGIN_TYPES) | set(COMPONENT_TYPES)))

METHOD_NATIVE = 'native'
METHOD_MIGRATION_SERVER = 'migration_server'
METHOD_MYSQL_MIGRATE_KEYRING = 'mysql_migrate_keyring'

# Option names whose values are secrets: refused in the plain `options` dict, so they are never echoed.
SECRET_NAME = re.compile(r'password|secret|token|passphrase|credential', re.I)

DEFAULT_RECORD_DIR = '/var/lib/keyops-mysql/tool-runs'


class ToolError(KeystoreError):
    """The tool ran and the collection judged the run a failure (whatever its exit status)."""


def is_component(keystore_type):
    return keystore_type in COMPONENT_TYPES


def choose_method(source_type, destination_type, requested='auto'):
    """native, migration_server or mysql_migrate_keyring for this pair; KeystoreError when impossible."""
    both_native = source_type in NATIVE_TYPES and destination_type in NATIVE_TYPES
    if requested == METHOD_NATIVE or (requested == 'auto' and both_native):
        if not both_native:
            unreadable = [t for t in (source_type, destination_type) if t not in NATIVE_TYPES]
            raise KeystoreError('method native cannot read %s (MySQL Enterprise code with no public format); use '
                                'method auto or mysql_tool' % ', '.join(unreadable))
        return METHOD_NATIVE
    if is_component(source_type) and is_component(destination_type):
        return METHOD_MYSQL_MIGRATE_KEYRING
    return METHOD_MIGRATION_SERVER


def keystore_file(spec):
    """The data file of a keystore spec, or None for keystores that are not files (okv, aws, ...)."""
    keystore_type = spec['type']
    if keystore_type in FILE_COMPONENTS or PLUGIN_TYPES.get(keystore_type, (None, None))[1]:
        return spec.get('path')
    return None


def check_options(spec, role):
    """Refuse secrets in the plain options dict, and missing paths for file keystores."""
    for name in (spec.get('options') or {}):
        if SECRET_NAME.search(name):
            raise KeystoreError('%s.options.%s looks like a secret: put it in %s.secret_options, which is never '
                                'shown in output' % (role, name, role))
    keystore_type = spec['type']
    if (keystore_type in FILE_COMPONENTS or PLUGIN_TYPES.get(keystore_type, (None, None))[1]) and not spec.get('path'):
        raise KeystoreError('%s.path is required for a %s keystore' % (role, keystore_type))
    if spec.get('path') and not os.path.isabs(spec['path']):
        raise KeystoreError('%s.path must be absolute (the tools resolve relative paths against their own working '
                            'directory)' % role, path=spec['path'])


def _side_options(spec, read_only):
    """(plain options, secret options) for one side: the user's dicts plus what path/password imply."""
    keystore_type = spec['type']
    plain = dict(spec.get('options') or {})
    secret = dict(spec.get('secret_options') or {})
    if keystore_type in PLUGIN_TYPES:
        data_option = PLUGIN_TYPES[keystore_type][1]
        if data_option and spec.get('path'):
            plain.setdefault(data_option, spec['path'])
        if spec.get('password') and keystore_type in PLUGIN_PASSWORD_OPTION:
            secret.setdefault(PLUGIN_PASSWORD_OPTION[keystore_type], spec['password'])
    elif keystore_type in FILE_COMPONENTS:
        if spec.get('path'):
            plain.setdefault('path', spec['path'])
        plain.setdefault('read_only', bool(read_only))
        if spec.get('password'):
            secret.setdefault('password', spec['password'])
    return plain, secret


def _option_line(name, value):
    if isinstance(value, bool):
        value = 'ON' if value else 'OFF'
    value = str(value)
    if '\n' in value or '\r' in value:
        raise KeystoreError('option %s has a line break in its value, which an option file cannot hold' % name)
    # Option files strip unquoted surrounding spaces and treat '#' as a comment: quote, escaping \ and ".
    return '%s="%s"\n' % (name, value.replace('\\', '\\\\').replace('"', '\\"'))


def option_file_text(group, options):
    """A MySQL option file with one [group] holding options (values quoted)."""
    return '[%s]\n' % group + ''.join(_option_line(name, options[name]) for name in sorted(options))


class Invocation:
    """One run of a MySQL migration tool: argv without secrets, plus the private files it reads.

    files maps a path relative to the work directory to (text, is_secret); argv refers to them by absolute path
    once prepare() has made the directory.
    """

    def __init__(self, method, source, destination, tool, connection=None, online=False):
        self.method = method
        self.source = source
        self.destination = destination
        self.tool = tool
        self.connection = connection or {}
        self.online = online
        self.workdir = None
        self._tree = None
        check_options(source, 'source')
        check_options(destination, 'destination')
        if online and not self.connection:
            raise KeystoreError('online migration through the tool needs the server\'s login options')

    # ---- the command line ----------------------------------------------------------------------------

    def argv(self, workdir='<workdir>'):
        """The command line. Secrets are never in it: they are in the option file it names."""
        defaults = os.path.join(workdir, 'tool.cnf')
        if self.method == METHOD_MYSQL_MIGRATE_KEYRING:
            argv = [self.tool['mysql_migrate_keyring'], '--defaults-file=%s' % defaults,
                    '--component-dir=%s' % self.tool['plugin_dir'],
                    '--source-keyring=%s' % self.source['type'],
                    '--destination-keyring=%s' % self.destination['type']]
            if self._component_config('source'):
                argv.append('--source-keyring-configuration-dir=%s' % os.path.join(workdir, 'source'))
            if self._component_config('destination'):
                argv.append('--destination-keyring-configuration-dir=%s' % os.path.join(workdir, 'destination'))
            if self.online:
                argv.append('--online-migration')
            return argv
        # The migration server reads a component's local config from its working directory (it migrates before
        # it changes to the datadir: seen on 9.7.4), so workdir is also its cwd and --datadir.
        argv = [self.tool['mysqld'], '--defaults-file=%s' % defaults, '--user=%s' % self.tool['user'],
                '--datadir=%s' % workdir, '--plugin-dir=%s' % self.tool['plugin_dir'], '--secure-file-priv=',
                '--log-error-verbosity=3',
                '--keyring-migration-source=%s' % self._library(self.source['type']),
                '--keyring-migration-destination=%s' % self._library(self.destination['type'])]
        if is_component(self.source['type']):
            argv.append('--keyring-migration-from-component')
        if is_component(self.destination['type']):
            argv.append('--keyring-migration-to-component')
        return argv

    @staticmethod
    def _library(keystore_type):
        return PLUGIN_TYPES[keystore_type][0] if keystore_type in PLUGIN_TYPES else keystore_type + '.so'

    def _component_config(self, role):
        spec = self.source if role == 'source' else self.destination
        if not is_component(spec['type']):
            return None
        plain, secret = _side_options(spec, read_only=(role == 'source'))
        config = dict(plain)
        config.update(secret)
        return config or None

    # ---- the files it reads ----------------------------------------------------------------------------

    def files(self):
        """{relative path: text}: the option file and the component configs. All are written 0600."""
        files = {}
        if self.method == METHOD_MYSQL_MIGRATE_KEYRING:
            options = {}
            if self.online:
                options.update(self._connection_options(prefix=''))
            files['tool.cnf'] = option_file_text('mysql_migrate_keyring', options)
            for role in ('source', 'destination'):
                config = self._component_config(role)
                if config:
                    spec = self.source if role == 'source' else self.destination
                    files[os.path.join(role, spec['type'] + '.cnf')] = json.dumps(config, sort_keys=True)
            return files
        options = {}
        for role, spec in (('source', self.source), ('destination', self.destination)):
            if is_component(spec['type']):
                config = self._component_config(role)
                if config:
                    files[spec['type'] + '.cnf'] = json.dumps(config, sort_keys=True)
                continue
            plain, secret = _side_options(spec, read_only=(role == 'source'))
            # loose-: a plugin's options are unknown to mysqld until the plugin loads, and a plugin that fails to
            # load must be reported as such, not as an unknown option.
            options.update(('loose-' + k, v) for k, v in plain.items())
            options.update(('loose-' + k, v) for k, v in secret.items())
        if self.online:
            options.update(self._connection_options(prefix='keyring-migration-'))
        files['tool.cnf'] = option_file_text('mysqld', options)
        return files

    def _connection_options(self, prefix):
        conn = self.connection
        options = {}
        if conn.get('socket'):
            options[prefix + 'socket'] = conn['socket']
        else:
            if conn.get('host'):
                options[prefix + 'host'] = conn['host']
            if conn.get('port'):
                options[prefix + 'port'] = conn['port']
        if conn.get('user'):
            options[prefix + 'user'] = conn['user']
        if conn.get('password') is not None:
            options[prefix + 'password'] = conn['password']
        return options

    def secrets(self):
        """Every secret value this run uses: none of them may appear in argv or in what is returned."""
        values = []
        for role, spec in (('source', self.source), ('destination', self.destination)):
            values.extend(_side_options(spec, read_only=(role == 'source'))[1].values())
        if self.online and self.connection.get('password'):
            values.append(self.connection['password'])
        return [str(v) for v in values if v not in (None, '')]

    def prepare(self, uid=None, gid=None):
        """Make the private work directory and write the files; return the argv to run.

        The tool's OS user (uid, gid) may read the work tree, never write it: every directory and file stays root's,
        readable by the tool's group only (0750, 0640). The migration server reads tool.cnf as root before it
        drops to that user (an option written there by the user, --user=root say, would run the whole migration as
        root), and its datadir, the work directory, would be read as root for persisted variables; the tool's user
        could otherwise also plant links in it. Every file is created (O_EXCL|O_NOFOLLOW), written and chmodded
        through its descriptor. The work directory sits in a holder directory of its own (root's, 0711), so what is
        left of a killed run stays recognisably ours (remove_orphan_workdirs).
        """
        remove_orphan_workdirs()
        files = self.files()
        self._tree = _WorkTree.create()
        try:
            self._tree.fill(files, uid, gid)
        except BaseException:
            self.cleanup()
            raise
        self.workdir = self._tree.workdir
        argv = self.argv(self.workdir)
        leaked = [s for s in self.secrets() if any(s in arg for arg in argv)]
        if leaked:   # cannot happen by construction; never run a command line that would show a secret in ps
            self.cleanup()
            raise KeystoreError('internal error: a secret would appear on the tool\'s command line; not running it')
        return argv

    def cleanup(self):
        tree, self._tree = self._tree, None
        self.workdir = None
        if tree is not None:
            tree.remove()


WORKDIR_PREFIX = 'keyops-tool-'
# The secrets we write are a few hundred bytes; a file the tool's user grew to gigabytes is not wiped in full.
WIPE_LIMIT = 16 << 20
# How deep the removal descends into what the tool's user may have built in the work directory (each level holds
# a descriptor open); anything deeper is left, and keeps its parent from being removed.
MAX_REMOVE_DEPTH = 32


class _WorkTree:
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
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
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


# ---- running ---------------------------------------------------------------------------------------------

class ToolRun:
    """What a run produced: exit status (None if killed), output, duration, and whether we killed it."""

    def __init__(self, argv, returncode, stdout, stderr, seconds, killed_by=None):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds
        self.killed_by = killed_by


def _drop_privileges(uid, gid):
    def preexec():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return preexec


def run_tool(argv, cwd, timeout, run_as=None, watch=None):
    """Run argv in cwd; kill it after timeout seconds. run_as=(uid, gid) drops privileges first (for
    mysql_migrate_keyring, which has no --user). watch(process) is called every 50 ms while it runs; it may kill
    it (fault-injection tests do). The environment is the module's, minus MySQL's password variable."""
    env = dict(os.environ)
    env.pop('MYSQL_PWD', None)
    env['LC_ALL'] = 'C'
    started = time.monotonic()
    preexec = _drop_privileges(*run_as) if run_as and os.geteuid() == 0 else None
    try:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, preexec_fn=preexec, start_new_session=True)
    except OSError as exc:
        raise KeystoreError('cannot run %s: %s; install it or set tool paths (tool.%s)'
                            % (argv[0], exc.strerror, os.path.basename(argv[0])), path=argv[0])
    killed_by = None
    deadline = started + timeout
    # communicate() in slices, so the watcher and the timeout get a turn while the output is collected.
    stdout, stderr = b'', b''
    while True:
        try:
            out, err = process.communicate(timeout=0.05)
            stdout += out or b''
            stderr += err or b''
            break
        except subprocess.TimeoutExpired:
            if watch is not None and watch(process):
                killed_by = killed_by or 'watch'
            if time.monotonic() > deadline and killed_by is None:
                killed_by = 'timeout'
                _kill_group(process)
    return ToolRun(argv, None if process.returncode < 0 else process.returncode,
                   stdout.decode('utf-8', 'replace'), stderr.decode('utf-8', 'replace'),
                   time.monotonic() - started, killed_by or ('signal %d' % -process.returncode
                                                             if process.returncode < 0 else None))


def _kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass


# ---- judging the output ------------------------------------------------------------------------------------

_MMK_LINE = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[(ERROR|WARNING|NOTE|DEBUG)\]\s+(.*)$')
_SERVER_LINE = re.compile(r'^\S+Z \d+ \[(ERROR|Warning|Note|System)\] \[(MY-\d+)\] \[\w+\] (.*)$')
_LOADER_ERROR = re.compile(r'^\[error ID: (\d+) flag: \d+\] (.*)$')
_MIGRATED = re.compile(r'Successfully migrated (\d+) keys\. Skipped (\d+) keys\.')
_SKIPPED_KEY = re.compile(r'data_id: (.*?), auth_id: (.*?)(?: exceeds.*)?\. Skipping')

# Server lines that are errors in form but say nothing about the migration itself.
_SERVER_NOISE = ('MY-010119',)      # "Aborting" follows every failure


class ToolOutcome:
    """The collection's verdict on one run of a tool."""

    def __init__(self):
        self.ok = False
        self.errors = []          # lines that say something failed
        self.warnings = []
        self.skipped = []         # [{key_id, user_id}] or [{line}]
        self.migrated_count = None
        self.skipped_count = 0
        self.refused = False      # the tool declined to start (exit status may still be 0)
        self.reason = None

    def as_dict(self):
        return dict(ok=self.ok, reason=self.reason, errors=self.errors, warnings=self.warnings,
                    skipped=self.skipped, migrated_count=self.migrated_count, skipped_count=self.skipped_count,
                    refused=self.refused)


def parse_output(method, run):
    """Judge a ToolRun by what it printed, not (only) by its exit status."""
    outcome = ToolOutcome()
    lines = [line.rstrip() for line in (run.stdout + '\n' + run.stderr).splitlines() if line.strip()]
    success_seen = False
    for line in lines:
        if method == METHOD_MYSQL_MIGRATE_KEYRING:
            m = _MMK_LINE.match(line)
            loader = _LOADER_ERROR.match(line)
            if loader:
                outcome.errors.append(line)
                continue
            if not m:
                if 'error' in line.lower() or 'fail' in line.lower():
                    outcome.errors.append(line)
                continue
            level, text = m.groups()
            if level == 'ERROR':
                outcome.errors.append(text)
                if text.startswith('Source and destination cannot be the same') or 'is mandatory' in text \
                        or text.startswith('Failed to parse command line'):
                    outcome.refused = True
            elif level == 'WARNING':
                outcome.warnings.append(text)
                if 'Skipping' in text:
                    skip = _SKIPPED_KEY.search(text)
                    outcome.skipped.append(dict(key_id=skip.group(1), user_id=skip.group(2)) if skip
                                           else dict(line=text))
            else:
                counts = _MIGRATED.search(text)
                if counts:
                    outcome.migrated_count = int(counts.group(1))
                    outcome.skipped_count = int(counts.group(2))
                if text.startswith('Key migration successful'):
                    success_seen = True
        else:
            m = _SERVER_LINE.match(line)
            if not m:
                # mysqld prints some failures straight to stderr, before or after its log lines.
                if line.startswith('mysqld: ') or 'error' in line.lower():
                    outcome.errors.append(line)
                continue
            level, code, text = m.groups()
            if 'skip' in text.lower() and 'keyring' in text.lower() or 'Skipping' in text:
                outcome.skipped.append(dict(line=text))
            if level == 'ERROR' and code not in _SERVER_NOISE:
                outcome.errors.append(text)
                if 'cannot be performed using migration server' in text or 'Invalid' in text:
                    outcome.refused = True
            elif level == 'Warning':
                outcome.warnings.append(text)
            if code == 'MY-011085' or text.startswith('Keyring migration successful'):
                success_seen = True
    outcome.skipped_count = max(outcome.skipped_count, len(outcome.skipped))

    if run.killed_by:
        outcome.reason = 'the tool was killed (%s) before it finished' % run.killed_by
    elif outcome.refused:
        outcome.reason = 'the tool refused to run: %s' % outcome.errors[0]
    elif outcome.errors:
        outcome.reason = 'the tool reported errors: %s' % '; '.join(outcome.errors[:3])
    elif outcome.skipped_count:
        outcome.reason = ('the tool skipped %d key(s) it could not read (a skipped key is a lost key after a '
                          'switch)' % outcome.skipped_count)
    elif run.returncode != 0:
        outcome.reason = 'the tool exited with status %s' % run.returncode
    elif not success_seen:
        outcome.reason = 'the tool exited 0 but never said the migration succeeded'
    else:
        outcome.ok = True
    return outcome


# ---- the destination before and after ----------------------------------------------------------------------

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
        from ansible_collections.keyops.mysql.plugins.module_utils.keystore.atomic import write_atomically
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
    return file_sha256(path, _follow(spec)) if path else None


def _follow(spec):
    """The spec's `follow`: a link at the keystore path itself is used if root owns it."""
    return bool(spec.get('follow'))


# ---- the whole run, as keyring_migrate drives it ------------------------------------------------------------

FAULT_ENVIRONMENT_VARIABLE = 'KEYOPS_FAULT_INJECT'
# Fault-injection point for the tests: kill the tool (SIGKILL to its process group) as soon as the server it
# migrates online is seen paused, i.e. in the middle of the tool's own pause. Unset in production.
FAULT_KILL_TOOL_WHEN_PAUSED = 'tool_paused:kill_tool'


def scrub(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, '********')
    return text


class ToolMigration:
    """keyring_migrate through MySQL's own tool: decide, run, judge, undo on failure, resume the server.

    params are keyring_migrate's; session_factory() gives an unconnected MysqlSession (only for online runs);
    result is the module's result dict, filled in place.
    """

    def __init__(self, params, method, check_mode, diff, session_factory, result, warn):
        self.params = params
        self.method = method
        self.check_mode = check_mode
        self.diff = diff
        self.session_factory = session_factory
        self.result = result
        self.warn = warn
        self.source = _spec(params['source'])
        self.destination = _spec(params['destination'])
        self.tool = _tool_settings(params.get('tool') or {})
        self.invocation = Invocation(method, self.source, self.destination, self.tool,
                                     connection=self._connection() if params.get('online') else None,
                                     online=bool(params.get('online')))
        self.record = RunRecord(self.tool['record_dir'], method, self.source, self.destination)

    # ---- inputs --------------------------------------------------------------------------------------------

    def _connection(self):
        p = self.params
        conn = dict(socket=p.get('login_unix_socket'), host=p.get('login_host'), port=p.get('login_port'),
                    user=p.get('login_user'), password=p.get('login_password'))
        if conn['user'] is None or conn['password'] is None:
            # Same fallback as the module's own connection: the [client] group of config_file.
            client = _client_options(p.get('config_file'))
            conn['user'] = conn['user'] if conn['user'] is not None else client.get('user')
            conn['password'] = conn['password'] if conn['password'] is not None else client.get('password')
        return conn

    def _tool_path(self, name):
        path = self.tool[name]
        if not os.path.isabs(path):
            raise KeystoreError('tool.%s must be an absolute path, not %r' % (name, path))
        if not os.access(path, os.X_OK):
            raise KeystoreError('%s is not an executable file on this host: install MySQL %s there or set '
                                'tool.%s' % (path, 'server' if name == 'mysqld' else 'client', name), path=path)
        return path

    def _run_as(self):
        import pwd   # POSIX only, like the tools
        try:
            entry = pwd.getpwnam(self.tool['user'])
        except KeyError:
            raise KeystoreError('the OS user %r (tool.user) does not exist on this host; set tool.user to the '
                                'user the MySQL server runs as' % self.tool['user'])
        return entry.pw_uid, entry.pw_gid

    # ---- what is known before running ---------------------------------------------------------------------

    def _native(self, spec):
        from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
        if spec['type'] in NATIVE_TYPES and spec.get('path'):
            return open_keystore(spec['type'], spec['path'], spec.get('password'), follow=_follow(spec))
        return None

    def _known_keys(self):
        """(source keys or None, destination keys or None, destination keystore or None)."""
        from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import load_destination
        on_backup = self.params.get('on_backup_file') or 'fail'
        source, destination = self._native(self.source), self._native(self.destination)
        source_keys = source.load(on_backup) if source is not None else None
        destination_keys = load_destination(destination, on_backup)[0] if destination is not None else None
        return source_keys, destination_keys, destination

    # ---- the run -------------------------------------------------------------------------------------------

    def run(self):
        from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import key_summary, plan_migration
        res = self.result
        res.update(method=self.method, tool_command=self.invocation.argv(), tool_output=None)
        self._tool_path('mysqld' if self.method == METHOD_MIGRATION_SERVER else 'mysql_migrate_keyring')
        uid, gid = self._run_as()
        source_path = keystore_file(self.source)
        source_st = None
        if source_path:
            source_st = lstat_file(source_path, follow=_follow(self.source))
            if source_st is None:
                raise KeystoreError('the source keystore does not exist; check the path', path=source_path)
            check_regular(source_path, source_st)
        destination_path = keystore_file(self.destination)
        if destination_path:
            # Refused before anything runs: the destination could not be snapshotted, nor put back after a
            # failure, without following or overwriting what is at these names.
            for path in (destination_path, destination_path + '.backup'):
                st = lstat_file(path, follow=_follow(self.destination))
                if st is not None:
                    check_regular(path, st, single_link=True)
                    if source_st is not None and (st.st_dev, st.st_ino) == (source_st.st_dev, source_st.st_ino):
                        raise KeystoreError('source and destination are the same file', path=path)
            if source_path and real_path(destination_path, follow=_follow(self.destination)) == \
                    real_path(source_path, follow=_follow(self.source)):
                raise KeystoreError('source and destination are the same file', path=destination_path)

        for role, spec in (('source', self.source), ('destination', self.destination)):
            self._check_global_component_config(role, spec)
        source_keys, destination_keys, destination = self._known_keys()
        if source_keys is not None:
            res['source_key_count'] = len(source_keys)
            if not source_keys and not self.params.get('allow_empty_source'):
                raise KeystoreError('the source keystore holds no keys: check that the path is the keystore the '
                                    'server uses (or set allow_empty_source: true)', path=source_path)
        before = [key_summary(k) for k in destination_keys] if destination_keys is not None else None
        if source_keys is not None and destination_keys is not None:
            plan = plan_migration(source_keys, destination_keys, destination)
            summary = plan.summary()
            res.update(migrated=summary['to_copy'], already_present=summary['already_present'],
                       conflicts=summary['conflicts'], destination_key_count=len(destination_keys))
            if plan.conflicts:
                raise KeystoreError('%d source key(s) conflict with the destination; the tool was not run: %s'
                                    % (len(plan.conflicts), '; '.join(c.message for c in plan.conflicts)),
                                    path=destination_path)
            if not plan.to_copy:
                res['tool_skipped'] = 'every source key is already in the destination'
                return
            if plan.already_present:
                raise KeystoreError('%d of the source keys are already in the destination, and MySQL\'s tool '
                                    'stops at the first key the destination already has: use method: native, '
                                    'which merges' % len(plan.already_present), path=destination_path)
            res['destination_key_count'] = len(destination_keys) + len(plan.to_copy)
            if self.diff:
                res['diff'] = dict(before=dict(path=destination_path, keys=before),
                                   after=dict(path=destination_path, keys=before + summary['to_copy']))
        else:
            previous = self.record.load()
            if previous and self._record_still_holds(previous):
                res['tool_skipped'] = ('a previous run (%s, record %s) migrated this source into this destination '
                                       'and neither has changed since' % (previous['finished_at'], self.record.path))
                res['previous_run'] = dict((k, previous.get(k)) for k in ('finished_at', 'migrated_count',
                                                                          'method'))
                return
            if source_keys is not None:
                res['migrated'] = [key_summary(k) for k in source_keys]
            if self.diff:
                res['diff'] = dict(before=dict(path=destination_path, keys=before if before is not None
                                               else 'not readable by keyops'),
                                   after=dict(path=destination_path,
                                              keys=(before + res['migrated']) if before is not None and
                                              source_keys is not None else 'not readable by keyops'))
        if self.check_mode:
            if self.params.get('online'):
                self._probe_server()
            res['changed'] = True
            return
        self._run_for_real(uid, gid, source_keys, destination_path)
        res['changed'] = True

    def _check_global_component_config(self, role, spec):
        """A component reads the configuration keyops writes only if its global configuration (in the plugin
        directory) says read_local_config: true. Otherwise the tool would use the global one: refuse when that
        names another keystore file than the one asked for."""
        if spec['type'] not in FILE_COMPONENTS or not spec.get('path'):
            return
        global_config = os.path.join(self.tool['plugin_dir'], spec['type'] + '.cnf')
        try:
            # The plugin directory is the system's: links root made there are followed, no other; a fifo or a
            # device at the name is refused, never opened.
            data = read_file(global_config, follow=True)
        except UnsafePathError:
            raise
        except KeystoreError:
            return                      # none: the component takes the local one
        try:
            config = json.loads(data.decode('utf-8'))
            if not isinstance(config, dict):
                raise ValueError('not a JSON object')
        except ValueError as exc:
            raise KeystoreError('%s is not valid JSON (%s); the tool would fail to configure the %s component'
                                % (global_config, exc, role), path=global_config)
        if config.get('read_local_config') is True:
            return
        if not _same_file_name(config.get('path'), spec['path']):
            raise KeystoreError('the global configuration %s of %s sets path %s and no read_local_config, so '
                                'MySQL\'s tool would use that keystore as the %s, not %s; set '
                                '"read_local_config": true there, or give that path'
                                % (global_config, spec['type'], config.get('path'), role, spec['path']),
                                path=global_config)

    def _record_still_holds(self, previous):
        source_now, destination_now = fingerprint(self.source), fingerprint(self.destination)
        if source_now is not None and previous.get('source_sha256') != source_now:
            return False
        if destination_now is not None and previous.get('destination_sha256') != destination_now:
            return False
        if source_now is None and destination_now is None:
            self.warn('neither keystore is a file keyops can fingerprint, so "already done" rests only on the record '
                      '%s of a previous successful run; delete it to run the tool again' % self.record.path)
        return True

    def _run_for_real(self, uid, gid, source_keys, destination_path):
        from ansible_collections.keyops.mysql.plugins.module_utils.keystore.atomic import (
            DirectoryLock, write_atomically)
        follow = _follow(self.destination)
        snapshot = FileSnapshot(destination_path, follow) if destination_path else None
        lock = DirectoryLock(real_path(destination_path, follow=follow), timeout=30.0) if destination_path else None
        if lock is not None:
            lock.__enter__()
        session = None
        try:
            if self.params.get('online'):
                session = self._pause_claim()
            outcome, run = self._run_tool(uid, gid, session)
            failure = None if outcome.ok else outcome.reason
            if failure is None and destination_path:
                failure = self._verify(source_keys, snapshot, outcome)
            if failure is not None:
                restored = snapshot.restore(write_atomically) if snapshot is not None else False
                res = self.result
                res.update(destination_restored=restored, changed=False, migrated=[])
                if snapshot is not None and self._native(self.destination) is not None:
                    res['destination_key_count'] = len(self._native(self.destination).load(
                        self.params.get('on_backup_file') or 'fail')) if snapshot.data is not None else 0
                hint = self._hint(outcome, run)
                message = '%s (%s on this host)%s. %s' % (
                    failure, run.argv[0],
                    '; the destination was restored byte-identical' if restored else
                    ('; the destination is unchanged' if snapshot is not None else ''), hint)
                raise ToolError(scrub(message, self.invocation.secrets()), path=destination_path or run.argv[0])
            self.record.save(method=self.method, source_sha256=fingerprint(self.source),
                             destination_sha256=fingerprint(self.destination),
                             migrated_count=outcome.migrated_count,
                             keys=[[k['key_id'], k['user_id']] for k in self.result.get('migrated') or []])
            self.result['run_record'] = self.record.path
        finally:
            try:
                if session is not None:
                    self._resume(session)
            finally:
                if lock is not None:
                    lock.__exit__(None, None, None)

    def _run_tool(self, uid, gid, session):
        invocation = self.invocation
        argv = invocation.prepare(uid, gid)
        watch = None
        if session is not None and os.environ.get(FAULT_ENVIRONMENT_VARIABLE) == FAULT_KILL_TOOL_WHEN_PAUSED:
            watch = _kill_when_paused(session)
        workdir = invocation.workdir
        try:
            run = run_tool(argv, cwd=workdir, timeout=self.tool['timeout'],
                           run_as=(uid, gid) if self.method == METHOD_MYSQL_MIGRATE_KEYRING else None, watch=watch)
        finally:
            secrets = invocation.secrets()
            invocation.cleanup()
        outcome = parse_output(self.method, run)
        self.result['tool_command'] = [a.replace(workdir, '<workdir>') for a in argv]
        self.result['tool_output'] = dict(
            exit_status=run.returncode, killed_by=run.killed_by, seconds=round(run.seconds, 3),
            stdout=scrub(run.stdout, secrets)[-8000:], stderr=scrub(run.stderr, secrets)[-8000:],
            verdict=_scrub_dict(outcome.as_dict(), secrets))
        return outcome, run

    def _verify(self, source_keys, snapshot, outcome):
        """Where keyops reads the destination, check every source key arrived; None or the failure."""
        destination = self._native(self.destination)
        if destination is None:
            return None
        try:
            keys = destination.load(self.params.get('on_backup_file') or 'fail')
        except KeystoreError as exc:
            return 'the tool reported success but the destination cannot be read back: %s' % exc
        if source_keys is not None:
            missing = [k.describe() for k in source_keys if keys.get(k.key_id, k.user_id) != k]
            if missing:
                return ('the tool reported success but %d source key(s) are missing or different in the '
                        'destination: %s' % (len(missing), ', '.join(missing[:10])))
        elif outcome.migrated_count is not None and len(keys) < outcome.migrated_count:
            return ('the tool reported %d keys migrated but the destination holds %d'
                    % (outcome.migrated_count, len(keys)))
        self.result['destination_key_count'] = len(keys)
        return None

    def _hint(self, outcome, run):
        if run.killed_by == 'timeout':
            return 'Raise tool.timeout (now %s s) if the keystore is large' % self.tool['timeout']
        if outcome.refused and self.method == METHOD_MYSQL_MIGRATE_KEYRING:
            return ('mysql_migrate_keyring moves keys only between two different components; to move a '
                    'component_keyring_file keystore to another path use method: native')
        text = ' '.join(outcome.errors)
        if 'Failed to load' in text or 'Can\'t open shared library' in text or 'error ID: 1126' in text:
            return ('The keyring plugin or component library is not in %s on this host: install the MySQL '
                    'edition that ships it, or set tool.plugin_dir' % self.tool['plugin_dir'])
        if 'Cannot load component from specified URN' in text:
            return ('The migration server had already loaded that component from the global manifest (mysqld.my '
                    'beside mysqld): a manifest that loads keyring components directly stops the migration '
                    'server from loading them again; use read_local_manifest: true in the global manifest')
        if 'Connection to server failed' in text or 'Failed to connect' in text:
            return 'Check the login options: the tool connects to the running server with them'
        if 'config' in text.lower():
            return 'Check the component configuration (options / secret_options of that keystore)'
        return 'See tool_output for what the tool printed'

    # ---- keyring_operations --------------------------------------------------------------------------------

    def _pause_claim(self):
        """Connect, refuse a server paused by someone else, and leave keyops's pause marker before the tool
        pauses the server, so whatever OFF the tool leaves behind is ours to undo (now, or by a later run)."""
        session = self.session_factory().connect()
        state = self.result['keyring_operations'] = dict(before=None, during=None, after=None)
        self.result['queries'] = session.queries
        try:
            state['before'] = session.get_keyring_operations()
            if not state['before']:
                marker = session.read_pause_marker()
                if not marker:
                    raise KeystoreError('keyring_operations is OFF on %s and keyops did not pause it (a DBA did?); '
                                        'MySQL\'s tool would set it ON when it finishes. Resume the server first '
                                        'or run with online: false' % session.where)
                self.result['resumed_interrupted_pause'] = marker
            session.write_pause_marker()
            state['during'] = False     # the tool pauses it itself
        except BaseException:
            session.close()
            raise
        return session

    def _probe_server(self):
        """Check mode, online: what a real run would find (reachable, not paused by someone else); no change."""
        session = self.session_factory().connect()
        try:
            before = session.get_keyring_operations()
            self.result['keyring_operations'] = dict(before=before, during=False, after=True)
            if not before and not session.read_pause_marker():
                raise KeystoreError('keyring_operations is OFF on %s and keyops did not pause it (a DBA did?); '
                                    'MySQL\'s tool would set it ON when it finishes. Resume the server first or run '
                                    'with online: false' % session.where)
            self.result['queries'] = ['SET GLOBAL KEYRING_OPERATIONS=0 (by the tool)',
                                      'SET GLOBAL KEYRING_OPERATIONS=1 (by the tool)']
        finally:
            session.close()

    def _resume(self, session):
        """After the tool ran or died: ON again, whatever the tool left."""
        from ansible_collections.keyops.mysql.plugins.module_utils.mysql import MysqlError
        state = self.result['keyring_operations']
        try:
            try:
                after = session.get_keyring_operations()
            except MysqlError:
                session.close()
                session.connect()     # the tool's death may have outlived our idle connection
                after = session.get_keyring_operations()
            if not after:
                self.result['tool_left_paused'] = True
                session.set_keyring_operations(True)
                after = session.get_keyring_operations()
            else:
                session.remove_pause_marker()
            state['after'] = after
        except MysqlError as exc:
            state['after'] = False
            self.result['resume_error'] = ('keyring_operations may still be OFF on %s and could not be set back ON '
                                           '(%s): run SET GLOBAL keyring_operations = ON there now'
                                           % (session.where, exc))
        finally:
            session.close()


def _same_file_name(one, other):
    """Whether two paths name the same file: directories resolved the safe way, root's links at the names
    followed (safe_fs.real_path). A relative path, or one that cannot be resolved safely, names no file here."""
    if not isinstance(one, str) or not os.path.isabs(one) or not os.path.isabs(other):
        return False
    try:
        return real_path(one, follow=True) == real_path(other, follow=True)
    except KeystoreError:
        return False


def _kill_when_paused(session):
    def watch(process):
        try:
            paused = not session.get_keyring_operations()
        except Exception:
            return False
        if paused:
            _kill_group(process)
        return paused
    return watch


def _scrub_dict(value, secrets):
    if isinstance(value, dict):
        return dict((k, _scrub_dict(v, secrets)) for k, v in value.items())
    if isinstance(value, list):
        return [_scrub_dict(v, secrets) for v in value]
    if isinstance(value, str):
        return scrub(value, secrets)
    return value


def _spec(spec):
    return dict((k, v) for k, v in (spec or {}).items())


DEFAULT_TOOL_SETTINGS = dict(mysqld='/usr/sbin/mysqld', mysql_migrate_keyring='/usr/bin/mysql_migrate_keyring',
                             plugin_dir='/usr/lib/mysql/plugin', user='mysql', timeout=600,
                             record_dir=DEFAULT_RECORD_DIR)


def _tool_settings(tool):
    settings = dict(DEFAULT_TOOL_SETTINGS)
    settings.update((k, v) for k, v in tool.items() if v is not None)
    return settings


def _client_options(config_file):
    """user/password from the [client] group of a MySQL option file, as PyMySQL would read them."""
    try:
        import configparser
    except ImportError:     # pragma: no cover - Python 2 is not supported on targets
        return {}
    path = os.path.expanduser(config_file or '')
    if not path or not os.path.isfile(path):
        return {}
    parser = configparser.RawConfigParser(allow_no_value=True, strict=False)
    try:
        parser.read(path)
    except configparser.Error:
        return {}
    if not parser.has_section('client'):
        return {}
    return dict((k, (v or '').strip('"\'')) for k, v in parser.items('client') if k in ('user', 'password'))
