# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one MySQL connection layer of keyops.mysql: login options, PyMySQL connection, keyring queries.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
Option names and meanings follow ansible.mysql. Errors are MysqlError with a message that says which of
"cannot reach the server", "access denied", "missing privilege" or "no such variable" happened, and never
blames the option file unless credentials came from it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time
import traceback

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import open_directory, read_file

# PyMySQL (and the cryptography it imports) is loaded on first use: a module run that never connects, such as
# keyring_migrate without online, saves a tenth of a second per task and per host.
_PYMYSQL = {}


def load_pymysql():
    """The pymysql module, or None when it is not installed (pymysql_import_error() then says why)."""
    if 'module' not in _PYMYSQL:
        try:
            import pymysql
            _PYMYSQL.update(module=pymysql, error=None)
        except ImportError:
            _PYMYSQL.update(module=None, error=traceback.format_exc())
    return _PYMYSQL['module']


def pymysql_import_error():
    load_pymysql()
    return _PYMYSQL['error']


CONNECTION_ARGSPEC = dict(
    login_host=dict(type='str', default='localhost'),
    login_port=dict(type='int', default=3306),
    login_user=dict(type='str'),
    login_password=dict(type='str', no_log=True),
    login_unix_socket=dict(type='str'),
    config_file=dict(type='path', default='~/.my.cnf'),
    ca_cert=dict(type='path', aliases=['ssl_ca']),
    client_cert=dict(type='path', aliases=['ssl_cert']),
    client_key=dict(type='path', aliases=['ssl_key'], no_log=False),
    check_hostname=dict(type='bool'),
    connect_timeout=dict(type='int', default=30),
)

# MySQL error numbers the modules tell apart.
ER_ACCESS_DENIED = 1045
ER_UNKNOWN_SYSTEM_VARIABLE = 1193
ER_SPECIFIC_ACCESS_DENIED = 1227
ER_KEYRING_ACCESS_DENIED = 3202
CANNOT_REACH = (2002, 2003, 2005, 2006, 2013)

KEYRING_OPERATIONS_PRIVILEGES = ('SUPER, or both SYSTEM_VARIABLES_ADMIN and ENCRYPTION_KEY_ADMIN')

# Where keyops leaves a marker while it has a server paused. If a run is killed between OFF and ON, the marker
# tells the next run (and keyops.mysql.resume) that keyops, not a DBA, paused the server, so it may resume it.
# /run is cleared at boot, and a server that restarts comes back ON anyway.
PAUSE_MARKER_DIR = os.environ.get('KEYOPS_PAUSE_MARKER_DIR', '/run/keyops-mysql')
# How long a run waits for the keyops process that paused a server and still runs on the host - the module of a
# cancelled or killed job (AWX's Cancel kills ansible-playbook and ssh, not the module on the host), which goes on
# with its copy and resumes the server itself. Its pause is milliseconds unless its keystore is huge.
PAUSE_OWNER_WAIT = 60.0


def process_start(pid):
    """The start time of process pid (clock ticks since boot, /proc/<pid>/stat field 22), or None if it is gone:
    with the pid it names one process, not whatever reuses the pid later."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            data = f.read()
    except (IOError, OSError, TypeError, ValueError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces or parentheses: count after the last one.
    fields = data.rsplit(')', 1)[-1].split()
    return int(fields[19]) if len(fields) > 19 else None


def marker_owner_running(marker):
    """Whether the process that wrote a pause marker still runs (on this host, where the marker is)."""
    pid, started = (marker or {}).get('pid'), (marker or {}).get('started')
    return bool(pid and started is not None and pid != os.getpid() and process_start(pid) == started)


class MysqlError(Exception):
    """A failure talking to MySQL, with a message meant for the user."""

    def __init__(self, message, code=None):
        super(MysqlError, self).__init__(message)
        self.code = code


def _error_code(exc):
    args = getattr(exc, 'args', ())
    return args[0] if args and isinstance(args[0], int) else None


def _error_text(exc):
    args = getattr(exc, 'args', ())
    return args[1] if len(args) > 1 else str(exc)


class MysqlSession:
    """An open connection plus the statements it ran (returned to the user as `queries`)."""

    def __init__(self, params):
        self.params = params
        self.queries = []
        self.connection = None
        self.where = self._describe_target()
        self.config_file_used = None

    def _describe_target(self):
        socket = self.params.get('login_unix_socket')
        if socket:
            return 'the MySQL server at socket %s' % socket
        return 'the MySQL server at %s:%s' % (self.params.get('login_host'), self.params.get('login_port'))

    def connect(self):
        pymysql = load_pymysql()
        if pymysql is None:
            raise MysqlError('PyMySQL is not installed')
        p = self.params
        kwargs = dict(connect_timeout=p.get('connect_timeout'), autocommit=True, charset='utf8mb4')
        config_file = p.get('config_file')
        if config_file and os.path.isfile(os.path.expanduser(config_file)):
            self.config_file_used = os.path.expanduser(config_file)
            kwargs['read_default_file'] = self.config_file_used
        if p.get('login_unix_socket'):
            kwargs['unix_socket'] = p['login_unix_socket']
        else:
            kwargs['host'] = p.get('login_host')
            kwargs['port'] = p.get('login_port')
        if p.get('login_user') is not None:
            kwargs['user'] = p['login_user']
        if p.get('login_password') is not None:
            kwargs['password'] = p['login_password']
        ssl = {}
        for option, key in (('ca_cert', 'ca'), ('client_cert', 'cert'), ('client_key', 'key')):
            if p.get(option):
                ssl[key] = p[option]
        if p.get('check_hostname') is not None:
            ssl['check_hostname'] = p['check_hostname']
        if ssl:
            kwargs['ssl'] = ssl
        try:
            self.connection = pymysql.connect(**kwargs)
        except pymysql.err.MySQLError as exc:
            raise self._connect_error(exc)
        return self

    def _connect_error(self, exc):
        code = _error_code(exc)
        text = _error_text(exc)
        if code == ER_ACCESS_DENIED:
            source = 'login_user and login_password'
            if self.config_file_used and (self.params.get('login_user') is None or
                                          self.params.get('login_password') is None):
                source += ' (or the credentials read from config_file %s)' % self.config_file_used
            return MysqlError('Access denied connecting to %s: %s. Check %s' % (self.where, text, source), code)
        if 'SSL' in text or 'certificate' in text.lower():
            return MysqlError('TLS with %s failed: %s. Check ca_cert, client_cert, client_key and check_hostname'
                              % (self.where, text), code)
        if code in CANNOT_REACH:
            return MysqlError('Cannot connect to %s: %s. Check that the server is running and '
                              'login_host/login_port or login_unix_socket' % (self.where, text), code)
        return MysqlError('Cannot connect to %s: MySQL error %s: %s' % (self.where, code, text), code)

    def close(self):
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:   # closing a broken connection must not hide the real error
                pass
            self.connection = None

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc_info):
        self.close()
        return False

    def query(self, sql, args=None, record=True):
        """Run one statement; return all rows. Statements that change state are recorded in `queries`."""
        if record:
            self.queries.append(sql)
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(sql, args)
                return cursor.fetchall()
        except load_pymysql().err.MySQLError as exc:
            raise MysqlError('%s: MySQL error %s: %s' % (self.where, _error_code(exc), _error_text(exc)),
                             _error_code(exc))

    @property
    def server_version(self):
        if not hasattr(self, '_server_version'):
            self._server_version = self.query('SELECT VERSION()', record=False)[0][0]
        return self._server_version

    # ---- keyring_operations ----------------------------------------------------------------------------

    def get_keyring_operations(self):
        """True/False; MysqlError naming the server and its version where the variable does not exist."""
        try:
            return bool(int(self.query('SELECT @@GLOBAL.keyring_operations', record=False)[0][0]))
        except MysqlError as exc:
            if exc.code == ER_UNKNOWN_SYSTEM_VARIABLE:
                version = self.server_version
                flavour = 'MariaDB' if 'mariadb' in version.lower() else 'MySQL'
                raise MysqlError('%s (%s %s) has no keyring_operations variable: it exists only in MySQL 5.7.21 '
                                 'and later, not in MariaDB or older MySQL' % (self.where, flavour, version),
                                 exc.code)
            raise

    def set_keyring_operations(self, enabled):
        """SET GLOBAL keyring_operations; pausing leaves a marker first, resuming removes it afterwards."""
        sql = 'SET GLOBAL keyring_operations = %s' % ('ON' if enabled else 'OFF')
        if not enabled:
            self.write_pause_marker()
        try:
            self.query(sql)
        except MysqlError as exc:
            # The marker goes only where the server reads ON: one that is OFF (paused by an interrupted keyops run,
            # or by this statement before the connection dropped), or cannot be read, keeps it, so that the next
            # run resumes it instead of taking it for someone else's pause.
            if not enabled and self._reads_on():
                self.remove_pause_marker()
            if exc.code in (ER_SPECIFIC_ACCESS_DENIED, ER_KEYRING_ACCESS_DENIED):
                raise MysqlError('%s: the login user may not set keyring_operations (%s). It needs %s'
                                 % (self.where, str(exc).split(': ', 1)[-1], KEYRING_OPERATIONS_PRIVILEGES),
                                 exc.code)
            raise
        if enabled:
            self.remove_pause_marker()

    def _reads_on(self):
        try:
            return bool(self.get_keyring_operations())
        except MysqlError:
            return False

    # ---- the pause marker ------------------------------------------------------------------------------------

    @property
    def server_uuid(self):
        if not hasattr(self, '_server_uuid'):
            rows = self.optional_query('SELECT @@GLOBAL.server_uuid')
            self._server_uuid = rows[0][0] if rows else None
        return self._server_uuid

    @property
    def pause_marker_path(self):
        # One marker per server, whatever login options reach it.
        name = self.server_uuid or self.where.replace('/', '_').replace(' ', '_')
        return os.path.join(PAUSE_MARKER_DIR, 'paused-%s.json' % name)

    def write_pause_marker(self):
        # Through safe_fs like every other file: the directory is made relative to its parent's descriptor, and the
        # marker is a new file (O_EXCL|O_NOFOLLOW) renamed over the old one, never written through a link. Not
        # write_atomically: its fault-injection points belong to keystore writes, and the marker is written before
        # the pause.
        record = dict(server=self.where, server_uuid=self.server_uuid, pid=os.getpid(),
                      started=process_start(os.getpid()),
                      paused_at=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
        name = os.path.basename(self.pause_marker_path)
        temp = '.%s.%d.tmp' % (name, os.getpid())
        try:
            with open_directory(PAUSE_MARKER_DIR, create_mode=0o700) as directory:
                if directory.exists(temp):
                    directory.unlink(temp)          # a killed run's
                fd = directory.create(temp, 0o600)
                try:
                    os.write(fd, json.dumps(record).encode('utf-8'))
                finally:
                    os.close(fd)
                directory.rename(temp, name)
        except (KeystoreError, OSError) as exc:
            raise MysqlError('cannot write the pause marker %s (%s); not pausing %s'
                             % (self.pause_marker_path, exc, self.where))

    def read_pause_marker(self):
        """The marker's record if keyops paused this server and has not resumed it, else None."""
        try:
            return json.loads(read_file(self.pause_marker_path).decode('utf-8'))
        except (KeystoreError, OSError, ValueError):
            return None

    def settle_pause_marker(self, timeout=None, poll=0.5):
        """The pause marker once no keyops process that wrote it still runs: a module of a cancelled or killed job
        may go on with its copy on this host, and resumes the server itself when it ends - taking its pause over would
        resume the server under it while it writes. Waits up to `timeout` seconds (PAUSE_OWNER_WAIT) for it; None when
        it resumed the server meanwhile; raises when it still runs."""
        deadline = time.time() + (PAUSE_OWNER_WAIT if timeout is None else timeout)
        while True:
            marker = self.read_pause_marker()
            if not marker_owner_running(marker):
                return marker
            if time.time() >= deadline:
                raise MysqlError('%s was paused by keyops process %s on this host at %s, which still runs (a module of '
                                 'a cancelled or killed job, finishing its copy): wait until it ends, or kill it, and '
                                 'run again' % (self.where, marker.get('pid'), marker.get('paused_at')))
            time.sleep(poll)

    def remove_pause_marker(self):
        try:
            os.unlink(self.pause_marker_path)
        except OSError:
            pass

    # ---- keyring information -------------------------------------------------------------------------------

    def active_keyrings(self):
        """The server's active keyring components and plugins: [(name, data file or None)]."""
        keyrings = []
        rows = self.optional_query('SELECT STATUS_KEY, STATUS_VALUE FROM performance_schema.keyring_component_status')
        status = dict(rows or ())
        if status.get('Component_status') == 'Active':
            keyrings.append((status.get('Component_name'), status.get('Data_file')))
        rows = self.optional_query("SELECT PLUGIN_NAME FROM information_schema.PLUGINS "
                                   "WHERE PLUGIN_TYPE = 'KEYRING' AND PLUGIN_STATUS = 'ACTIVE'")
        for (name,) in rows or ():
            data = None
            if name in ('keyring_file', 'keyring_encrypted_file'):
                data = self.optional_query('SELECT @@GLOBAL.%s_data' % name)
            keyrings.append((name, data[0][0] if data else None))
        return keyrings

    def key_identities(self):
        """(key_id, owner) of every key the server's keyring lists."""
        rows = self.query('SELECT KEY_ID, KEY_OWNER FROM performance_schema.keyring_keys', record=False)
        return set((key_id, owner or '') for key_id, owner in rows)

    def optional_query(self, sql):
        """Rows, or None where the table or variable does not exist on this server."""
        try:
            return self.query(sql, record=False)
        except MysqlError as exc:
            if exc.code in (ER_UNKNOWN_SYSTEM_VARIABLE, 1146, 1109):   # unknown variable / table
                return None
            raise
