# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyring_migrate through MySQL's own tool: decide, run, judge, undo on failure, resume the server.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import configparser
import json
import os
import pwd

from ansible_collections.keyops.mysql.plugins.module_utils.copy_checks import (
    refuse_empty_source,
    refuse_same_file,
    require_source,
)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.atomic import DirectoryLock, write_atomically
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError, UnsafePathError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import (
    key_summary,
    load_destination,
    plan_migration,
)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import (
    check_regular,
    lstat_file,
    read_file,
    real_path,
)
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.catalog import (
    FILE_COMPONENTS,
    METHOD_MIGRATION_SERVER,
    METHOD_MYSQL_MIGRATE_KEYRING,
    NATIVE_TYPES,
    keystore_file,
)
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.invocation import Invocation
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.record import (
    DEFAULT_RECORD_DIR,
    FileSnapshot,
    RunRecord,
    fingerprint,
    follow_of,
)
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.runner import kill_group, run_tool
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.verdict import parse_output, scrub, scrub_dict
from ansible_collections.keyops.mysql.plugins.module_utils.pause_guard import TOOL, KeyringPause

DEFAULT_TOOL_SETTINGS = dict(mysqld='/usr/sbin/mysqld', mysql_migrate_keyring='/usr/bin/mysql_migrate_keyring',
                             plugin_dir='/usr/lib/mysql/plugin', user='mysql', timeout=600,
                             record_dir=DEFAULT_RECORD_DIR)


class ToolError(KeystoreError):
    """The tool ran and the collection judged the run a failure (whatever its exit status)."""


class _NoLock:
    """A keystore that is not a file has no directory to lock."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


FAULT_ENVIRONMENT_VARIABLE = 'KEYOPS_FAULT_INJECT'
# Fault-injection point for the tests: kill the tool (SIGKILL to its process group) as soon as the server it
# migrates online is seen paused, i.e. in the middle of the tool's own pause. Unset in production.
FAULT_KILL_TOOL_WHEN_PAUSED = 'tool_paused:kill_tool'


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
        try:
            entry = pwd.getpwnam(self.tool['user'])
        except KeyError:
            raise KeystoreError('the OS user %r (tool.user) does not exist on this host; set tool.user to the '
                                'user the MySQL server runs as' % self.tool['user'])
        return entry.pw_uid, entry.pw_gid

    # ---- what is known before running ---------------------------------------------------------------------

    def _native(self, spec):
        if spec['type'] in NATIVE_TYPES and spec.get('path'):
            return open_keystore(spec['type'], spec['path'], spec.get('password'), follow=follow_of(spec))
        return None

    def _known_keys(self):
        """(source keys or None, destination keys or None, destination keystore or None)."""
        on_backup = self.params.get('on_backup_file') or 'fail'
        source, destination = self._native(self.source), self._native(self.destination)
        source_keys = source.load(on_backup) if source is not None else None
        destination_keys = load_destination(destination, on_backup)[0] if destination is not None else None
        return source_keys, destination_keys, destination

    # ---- the run -------------------------------------------------------------------------------------------

    def run(self):
        res = self.result
        res.update(method=self.method, tool_command=self.invocation.argv(), tool_output=None)
        self._tool_path('mysqld' if self.method == METHOD_MIGRATION_SERVER else 'mysql_migrate_keyring')
        uid, gid = self._run_as()
        source_path, destination_path = self._check_paths()
        for role, spec in (('source', self.source), ('destination', self.destination)):
            self._check_global_component_config(role, spec)
        source_keys, destination_keys, destination = self._known_keys()
        if source_keys is not None:
            res['source_key_count'] = len(source_keys)
            refuse_empty_source(len(source_keys), self.params.get('allow_empty_source'), source_path)
        if source_keys is not None and destination_keys is not None:
            done = self._plan_from_keys(source_keys, destination_keys, destination, destination_path)
        else:
            done = self._plan_from_record(source_keys, destination_keys, destination_path)
        if done:
            return
        if self.check_mode:
            if self.params.get('online'):
                # What a real run would find (reachable, not paused by someone else); no change.
                with self.session_factory() as session:
                    with KeyringPause(session, res, check_mode=True, who_pauses=TOOL):
                        pass
            res['changed'] = True
            return
        self._run_for_real(uid, gid, source_keys, destination_path)
        res['changed'] = True

    def _check_paths(self):
        """(source path, destination path), each None for a keystore that is not a file. Refused before anything
        runs: a missing source, a copy onto itself, and a destination (or its .backup) that could not be
        snapshotted, nor put back after a failure, without following or overwriting what is at these names."""
        source_path = keystore_file(self.source)
        source_st = require_source(source_path, follow_of(self.source)) if source_path else None
        destination_path = keystore_file(self.destination)
        if destination_path:
            for path in (destination_path, destination_path + '.backup'):
                st = lstat_file(path, follow=follow_of(self.destination))
                if st is not None:
                    check_regular(path, st, single_link=True)
                    if source_st is not None and (st.st_dev, st.st_ino) == (source_st.st_dev, source_st.st_ino):
                        refuse_same_file(source_path, path)
            if source_path:
                refuse_same_file(source_path, destination_path)
        return source_path, destination_path

    def _plan_from_keys(self, source_keys, destination_keys, destination, destination_path):
        """Both keystores are readable: plan as the native copy would. True if there is nothing to run."""
        res = self.result
        before = [key_summary(k) for k in destination_keys]
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
            return True
        if plan.already_present:
            raise KeystoreError('%d of the source keys are already in the destination, and MySQL\'s tool '
                                'stops at the first key the destination already has: use method: native, '
                                'which merges' % len(plan.already_present), path=destination_path)
        res['destination_key_count'] = len(destination_keys) + len(plan.to_copy)
        if self.diff:
            res['diff'] = dict(before=dict(path=destination_path, keys=before),
                               after=dict(path=destination_path, keys=before + summary['to_copy']))
        return False

    def _plan_from_record(self, source_keys, destination_keys, destination_path):
        """A keystore the collection cannot read: the record of a previous successful run says whether this one is
        already done. True if there is nothing to run."""
        res = self.result
        previous = self.record.load()
        if previous and self._record_still_holds(previous):
            res['tool_skipped'] = ('a previous run (%s, record %s) migrated this source into this destination '
                                   'and neither has changed since' % (previous['finished_at'], self.record.path))
            res['previous_run'] = dict((k, previous.get(k)) for k in ('finished_at', 'migrated_count', 'method'))
            return True
        if source_keys is not None:
            res['migrated'] = [key_summary(k) for k in source_keys]
        if self.diff:
            unreadable = 'not readable by keyops'
            before = [key_summary(k) for k in destination_keys] if destination_keys is not None else None
            res['diff'] = dict(before=dict(path=destination_path, keys=before if before is not None else unreadable),
                               after=dict(path=destination_path,
                                          keys=(before + res['migrated']) if before is not None and
                                          source_keys is not None else unreadable))
        return False

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
        follow = follow_of(self.destination)
        snapshot = FileSnapshot(destination_path, follow) if destination_path else None
        # The destination's lock, held from the snapshot's check to the restore: no other keyops writer meanwhile.
        lock = DirectoryLock(real_path(destination_path, follow=follow), timeout=30.0) if destination_path \
            else _NoLock()
        with lock:
            self._locked_run(uid, gid, source_keys, destination_path, snapshot)

    def _locked_run(self, uid, gid, source_keys, destination_path, snapshot):
        if not self.params.get('online'):
            self._run_and_judge(uid, gid, source_keys, destination_path, snapshot, None)
            return
        # keyops's pause marker is left before the tool pauses the server, so whatever OFF the tool leaves behind
        # is ours to undo (now, or by a later run); after the tool ran or died, ON again.
        with self.session_factory() as session:
            with KeyringPause(session, self.result, check_mode=False, who_pauses=TOOL):
                self._run_and_judge(uid, gid, source_keys, destination_path, snapshot, session)

    def _run_and_judge(self, uid, gid, source_keys, destination_path, snapshot, session):
        outcome, run = self._run_tool(uid, gid, session)
        failure = None if outcome.ok else outcome.reason
        if failure is None and destination_path:
            failure = self._verify(source_keys, snapshot, outcome)
        if failure is not None:
            self._undo(failure, outcome, run, destination_path, snapshot)
        self.record.save(method=self.method, source_sha256=fingerprint(self.source),
                         destination_sha256=fingerprint(self.destination),
                         migrated_count=outcome.migrated_count,
                         keys=[[k['key_id'], k['user_id']] for k in self.result.get('migrated') or []])
        self.result['run_record'] = self.record.path

    def _undo(self, failure, outcome, run, destination_path, snapshot):
        """The run failed: put the destination back as it was, and raise ToolError saying so."""
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
            verdict=scrub_dict(outcome.as_dict(), secrets))
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
            kill_group(process)
        return paused
    return watch


def _spec(spec):
    return dict((k, v) for k, v in (spec or {}).items())


def _tool_settings(tool):
    settings = dict(DEFAULT_TOOL_SETTINGS)
    settings.update((k, v) for k, v in tool.items() if v is not None)
    return settings


def _client_options(config_file):
    """user/password from the [client] group of a MySQL option file, as PyMySQL would read them."""
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
