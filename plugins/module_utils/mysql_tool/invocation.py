# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run of a MySQL migration tool: its command line (never a secret on it) and the private files it reads.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.catalog import (
    METHOD_MYSQL_MIGRATE_KEYRING,
    PLUGIN_TYPES,
    check_options,
    is_component,
    side_options,
)
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.workdir import WorkTree, remove_orphan_workdirs


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
        plain, secret = side_options(spec, read_only=(role == 'source'))
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
            plain, secret = side_options(spec, read_only=(role == 'source'))
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
            values.extend(side_options(spec, read_only=(role == 'source'))[1].values())
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
        self._tree = WorkTree.create()
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
