# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading, on the host, what a MySQL server reads its keyring set-up from: keyring_info's O(server_files).

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.

A running server is asked where it is (``@@pid_file``, ``@@datadir``, ``@@plugin_dir``), and its process tells the
rest: ``/proc/<pid>/cmdline`` (option-file options, and keyring options given on the command line), ``/proc/<pid>/exe``
(the binary, beside which the global manifest lives, and which lists its default option files) and the ``HOME`` of
its environment (``~/.my.cnf``). A stopped server (an upgrade in progress) is described by its binary and option
files alone. The decisions on what was read are pure functions (server_files, option_files, plugin_switch).

Option files live in root's directories and are read following root's links (Debian's /etc/mysql/my.cnf is an
alternatives link); the component files in the data directory, which the server's user can write, never through a
link.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import pwd
import re

from ansible_collections.keyops.mysql.plugins.module_utils.config_files import parse_json_object, read_text
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import real_path
from ansible_collections.keyops.mysql.plugins.module_utils.option_files import (
    PLUGIN_LISTS,
    mysqld_groups,
    option_values,
    read_tree,
)
from ansible_collections.keyops.mysql.plugins.module_utils.server_files import (
    command_line,
    component_file_paths,
    default_files,
    help_variables,
    option_files,
)

DEFAULT_EXE = '/usr/sbin/mysqld'


class DiscoveryError(KeystoreError):
    """What was needed to find the server's files could not be read; the message says which and what to do. A
    KeystoreError, so that a module fails with its one line wherever it is raised."""


def running_server(session):
    """The facts of a running server: its process's command line, binary and HOME, and where it keeps its files."""
    rows = session.query('SELECT @@GLOBAL.pid_file, @@GLOBAL.datadir, @@GLOBAL.plugin_dir, @@GLOBAL.basedir',
                         record=False)
    pid_file, datadir, plugin_dir, basedir = rows[0]
    pid_file = absolute_pid_file(pid_file, datadir)
    pid = _read_pid(pid_file)
    proc = '/proc/%d' % pid
    try:
        with open(proc + '/cmdline', 'rb') as f:
            argv = [arg.decode('utf-8', 'replace') for arg in f.read().split(b'\0') if arg]
        exe = os.readlink(proc + '/exe')
        with open(proc + '/environ', 'rb') as f:
            environ = dict(item.decode('utf-8', 'replace').partition('=')[::2] for item in f.read().split(b'\0')
                           if b'=' in item)
    except (IOError, OSError) as exc:
        raise DiscoveryError('cannot read the server process %d (from %s): %s; run keyops as root on the host'
                             % (pid, pid_file, exc.strerror or exc))
    if exe.endswith(' (deleted)'):
        raise DiscoveryError('the running server\'s binary %s was replaced since it started (a package upgrade?): '
                             'restart it on the installed binary, or stop it and use a stopped-server run'
                             % exe[:-len(' (deleted)')])
    return dict(pid=pid, argv=argv, exe=exe, home=environ.get('HOME') or '', datadir=datadir, plugin_dir=plugin_dir,
                basedir=basedir)


def absolute_pid_file(pid_file, datadir):
    """@@pid_file as a path: MySQL reads a relative one from the data directory."""
    return pid_file if os.path.isabs(pid_file) else os.path.join(datadir or '', pid_file)


def _read_pid(pid_file):
    try:
        text = read_text(pid_file)
    except KeystoreError as exc:
        raise DiscoveryError('the server\'s pid file %s: %s' % (pid_file, exc))
    if text is None or not text.strip().isdigit():
        raise DiscoveryError('the server\'s pid file %s is missing or holds no process id' % pid_file)
    return int(text.strip())


def stopped_server(params, user=None):
    """The facts of a stopped server, from the options keyring_info was given (exe, defaults_file, group_suffix,
    datadir, plugin_dir): its command line as its service would give it, and as its HOME (~/.my.cnf) the home of
    the OS user it runs as (none if that user is unknown)."""
    if user and not params.get('home'):
        try:
            params = dict(params, home=pwd.getpwnam(user).pw_dir)
        except KeyError:
            pass
    argv = [params.get('exe') or DEFAULT_EXE]
    if params.get('defaults_file'):
        argv.append('--defaults-file=%s' % params['defaults_file'])
    if params.get('group_suffix'):
        argv.append('--defaults-group-suffix=%s' % params['group_suffix'])
    return dict(pid=None, argv=argv, exe=argv[0], home=params.get('home') or '', datadir=params.get('datadir'),
                plugin_dir=params.get('plugin_dir'), basedir=None)


def discover(process, run_command, version=None, keyring_file_data=None):
    """Everything plugin_switch decides with: the process facts plus the option tree the server reads, its binary's
    defaults where the options and the process do not say, and its component files (parsed, or None if missing)."""
    help_text = _help(process['exe'], run_command)
    cmdline = command_line(process['argv'])
    files = option_files(cmdline, default_files(help_text), process['home'])
    tree = []
    for path in files:
        tree += read_tree(path, _read_option_file, _list_dir)
    defaults = help_variables(help_text)
    groups = mysqld_groups(version, cmdline['group_suffix'])
    for name, key in (('datadir', 'datadir'), ('plugin_dir', 'plugin-dir')):
        if not process.get(name):
            process[name] = (option_values(tree, groups, name) or [defaults.get(key)])[-1]
        if not process.get(name):
            raise DiscoveryError('cannot tell the server\'s %s from its options or its binary %s: set it'
                                 % (name, process['exe']))
    facts = dict(version=version, datadir=process['datadir'], plugin_dir=process['plugin_dir'], exe=process['exe'],
                 argv=process['argv'], keyring_file_data=keyring_file_data, option_files=files, option_tree=tree)
    # The global files are root's (followed through root's links); the local ones, in the data directory, never.
    for name, path in component_file_paths(process['exe'], process['plugin_dir'], process['datadir']).items():
        facts[name] = _read_json(path, follow=name.startswith('global_'))
    return facts


def edit_path(path):
    """Where an edit of the option file `path` writes: through root's links (alternatives), never another's."""
    try:
        return real_path(path, follow=True)
    except KeystoreError as exc:
        raise DiscoveryError('the option file %s cannot be edited safely: %s' % (path, exc))


def _require_exe(exe):
    # AnsibleModule.run_command fails the module itself, with no file name, when the binary is missing.
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        raise DiscoveryError('%s is not an executable file: the mysqld binary the server starts with is needed to '
                             'tell which option files it reads (for a stopped server set its exe)' % exe)


def _help(exe, run_command):
    _require_exe(exe)
    rc, out, err = run_command([exe, '--no-defaults', '--verbose', '--help'])
    if rc != 0:
        raise DiscoveryError('%s --no-defaults --verbose --help failed (%s): cannot tell which option files the '
                             'server reads' % (exe, (err or out or 'exit %d' % rc).strip().splitlines()[-1]))
    return out


def _read_option_file(path):
    try:
        return read_text(path, follow=True)
    except KeystoreError as exc:
        raise DiscoveryError('the server reads the option file %s, which keyops cannot read: %s' % (path, exc))


def _list_dir(path):
    try:
        return os.listdir(path)
    except OSError:
        return None         # MySQL skips a missing !includedir directory too


def _read_json(path, follow=False):
    try:
        text = read_text(path, follow=follow)
        return None if text is None else parse_json_object(text, path)
    except KeystoreError as exc:
        raise DiscoveryError(str(exc))


def binary_version(exe, run_command):
    """The version `mysqld --version` prints ('mysqld  Ver 8.0.36 for Linux ...' -> '8.0.36')."""
    _require_exe(exe)
    rc, out, err = run_command([exe, '--version'])
    match = re.search(r'\bVer\s+(\d+\.\d+\.\d+)', out or '')
    if rc != 0 or not match:
        raise DiscoveryError('%s --version did not say its version: set the version of the stopped server' % exe)
    return match.group(1)


def options_keystore(switch):
    """(whether this instance's options load the keyring_file plugin, the keyring_file_data they give it or None):
    what a stopped server will use when it starts, from plugin_switch's settings (files in read order, then the
    command line)."""
    mine = [s for s in switch['settings'] if s['mine']]
    loads = any(s['option'] in PLUGIN_LISTS for s in mine)
    data = [s['value'] for s in mine if s['option'] == 'keyring_file_data' and s['value']]
    return loads, (data[-1] if data else None)


def running_pid(facts, groups):
    """The process id of a server that runs on this data directory after all (a stopped-server run on a running
    server would copy from a keystore the server is writing), or None: its pid file, from its options or the
    data directory's *.pid, naming a live mysqld."""
    named = option_values(facts['option_tree'], groups, 'pid_file')
    datadir = facts['datadir']
    if named:
        candidates = [named[-1] if os.path.isabs(named[-1]) else os.path.join(datadir, named[-1])]
    else:
        try:
            candidates = [os.path.join(datadir, name) for name in sorted(os.listdir(datadir)) if name.endswith('.pid')]
        except OSError:
            candidates = []
    for pid_file in candidates:
        try:
            pid = _read_pid(pid_file)
            exe = os.readlink('/proc/%d/exe' % pid)
        except (DiscoveryError, OSError):
            continue
        if os.path.basename(exe).startswith('mysqld'):
            return pid
    return None


def report(process, facts, switch):
    """keyring_info's RV(server_files): where the server is, what it reads, and its keyring lines - never its whole
    command line (nothing but the option-file and keyring options of it) nor the files' other lines."""
    cmdline = command_line(facts['argv'])
    paths = component_file_paths(facts['exe'], facts['plugin_dir'], facts['datadir'])
    component_files = dict((name, dict(path=path, members=facts[name])) for name, path in paths.items())
    component_files.update(switch['component_files'])
    return dict(pid=process.get('pid'), exe=facts['exe'], datadir=facts['datadir'], plugin_dir=facts['plugin_dir'],
                option_files=facts['option_files'], command_line=cmdline, groups=switch['groups'],
                instance=switch['instance'], keyring_settings=switch['settings'],
                keyring_file_data=options_keystore(switch)[1], component_files=component_files)
