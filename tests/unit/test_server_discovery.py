# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading what a server reads its keyring set-up from, on a host laid out in a temporary directory: the process
(this test's own, standing in for mysqld), the option tree, the binary's defaults and the component files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import pwd

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils import server_discovery
from ansible_collections.keyops.mysql.plugins.module_utils.option_files import option_values
from ansible_collections.keyops.mysql.plugins.module_utils.server_files import help_variables

# The ends of `mysqld --no-defaults --verbose --help` of the sandbox's 9.7.4.
HELP_TAIL = ('Variables (--variable-name=value)\n'
             'and boolean options {FALSE|TRUE}                             Value (after reading options)\n'
             '------------------------------------------------------------ -------------\n'
             'basedir                                                      /usr/\n'
             'datadir                                                      /var/lib/mysql/\n'
             'plugin-dir                                                   /usr/lib/mysql/plugin/\n'
             'skip-name-resolve                                            FALSE\n')


def help_text(files):
    return ('mysqld  Ver 8.0.36 for Linux on x86_64\nDefault options are read from the following files in the given '
            'order:\n%s \nThe following groups are read: mysqld server mysqld-8.0\n\n%s' % (' '.join(files), HELP_TAIL))


def test_the_binarys_defaults_from_its_variable_table():
    found = help_variables(help_text(['/etc/my.cnf']))
    assert found['datadir'] == '/var/lib/mysql/' and found['plugin-dir'] == '/usr/lib/mysql/plugin/'
    assert found['skip-name-resolve'] == 'FALSE' and 'and' not in found


def test_option_values_in_read_order_any_spelling_only_the_groups_given():
    tree = [('/a', '[mysqld]\ndatadir=/one\n[client]\ndatadir=/no\n'),
            ('/b', '[server]\nloose-data-dir = /x\n[mysqld@a]\n  datadir = "/two"  # comment\n')]
    assert option_values(tree, ['mysqld', 'server', 'mysqld@a'], 'datadir') == ['/one', '/two']
    assert option_values(tree, ['mysqld'], 'datadir') == ['/one']


@pytest.fixture
def host(tmp_path):
    """A host's files under tmp_path: an option file with an !includedir, a data directory and a plugin directory,
    and a binary whose help lists the option file."""
    etc, datadir, plugin_dir, sbin = (tmp_path / name for name in ('etc', 'data', 'plugin', 'sbin'))
    for directory in (etc / 'conf.d', datadir, plugin_dir, sbin):
        directory.mkdir(parents=True)
    (etc / 'my.cnf').write_text('[mysqld]\ndatadir=%s\nplugin_dir=%s\n!includedir %s\n'
                                % (datadir, plugin_dir, etc / 'conf.d'))
    (etc / 'conf.d' / 'keyring.cnf').write_text('[mysqld]\nearly-plugin-load=keyring_file.so\n')
    (etc / 'conf.d' / 'ignored.ini').write_text('[mysqld]\nkeyring_file_data=/no\n')
    (plugin_dir / 'component_keyring_file.cnf').write_text('{"read_local_config": true}')
    exe = str(sbin / 'mysqld')
    with open(exe, 'w') as handle:
        handle.write('#!/bin/sh\n')         # stands in for the binary; run_command below answers for it
    os.chmod(exe, 0o755)
    calls = []

    def run_command(argv):
        calls.append(argv)
        return 0, help_text([str(etc / 'my.cnf'), '~/.my.cnf']), ''
    return dict(etc=etc, datadir=datadir, plugin_dir=plugin_dir, exe=exe, run_command=run_command, calls=calls)


def test_a_stopped_server_from_its_binary_and_option_files(host):
    process = server_discovery.stopped_server(dict(exe=host['exe'], home=str(host['datadir'])))
    facts = server_discovery.discover(process, host['run_command'], version='8.0.36')
    assert host['calls'] == [[host['exe'], '--no-defaults', '--verbose', '--help']]
    assert [path for path, _text in facts['option_tree']] == [str(host['etc'] / 'my.cnf'),
                                                              str(host['etc'] / 'conf.d' / 'keyring.cnf')]
    assert facts['option_files'] == [str(host['etc'] / 'my.cnf'), str(host['datadir'] / '.my.cnf')]
    assert facts['datadir'] == str(host['datadir']) and facts['plugin_dir'] == str(host['plugin_dir'])
    assert facts['global_config'] == {'read_local_config': True} and facts['global_manifest'] is None
    assert facts['local_manifest'] is None and facts['local_config'] is None


def test_the_binarys_defaults_where_the_options_do_not_say(host):
    (host['etc'] / 'my.cnf').write_text('[mysqld]\nearly-plugin-load=keyring_file.so\n')
    process = server_discovery.stopped_server(dict(exe=host['exe']))
    facts = server_discovery.discover(process, host['run_command'], version='8.0.36')
    assert facts['datadir'] == '/var/lib/mysql/' and facts['plugin_dir'] == '/usr/lib/mysql/plugin/'


def test_a_running_server_from_its_process(host, tmp_path):
    # This test's own process stands in for mysqld: its pid in the pid file, its /proc entries read back.
    pid_file = host['datadir'] / 'host.pid'
    pid_file.write_text('%d\n' % os.getpid())

    class Session(object):
        def query(self, sql, record=True):
            assert '@@GLOBAL.pid_file' in sql and record is False
            return [('host.pid', str(host['datadir']), str(host['plugin_dir']), '/usr/')]
    process = server_discovery.running_server(Session())
    assert process['pid'] == os.getpid() and process['exe'] == os.readlink('/proc/self/exe')
    assert process['argv'] and process['home'] == os.environ.get('HOME', '')


def test_a_missing_pid_file_says_which_file(host):
    class Session(object):
        def query(self, sql, record=True):
            return [('/nowhere/mysqld.pid', str(host['datadir']), str(host['plugin_dir']), '/usr/')]
    with pytest.raises(server_discovery.DiscoveryError, match='/nowhere/mysqld.pid is missing'):
        server_discovery.running_server(Session())


def test_a_local_manifest_that_is_a_link_is_refused(host, tmp_path):
    target = tmp_path / 'elsewhere.json'
    target.write_text(json.dumps({'components': 'file://component_keyring_file'}))
    os.symlink(str(target), str(host['datadir'] / 'mysqld.my'))
    process = server_discovery.stopped_server(dict(exe=host['exe']))
    with pytest.raises(server_discovery.DiscoveryError, match='mysqld.my'):
        server_discovery.discover(process, host['run_command'], version='8.0.36')


def test_a_binary_that_cannot_list_its_files_is_one_clear_line(host):
    process = server_discovery.stopped_server(dict(exe=host['exe']))
    expected = '%s --no-defaults --verbose --help failed .libfoo.so: cannot open.' % host['exe']
    with pytest.raises(server_discovery.DiscoveryError, match=expected):
        server_discovery.discover(process, lambda argv: (127, '', 'error\nlibfoo.so: cannot open\n'))


def test_a_missing_binary_is_named(host):
    process = server_discovery.stopped_server(dict(exe='/opt/mysql/bin/mysqld'))
    with pytest.raises(server_discovery.DiscoveryError, match='/opt/mysql/bin/mysqld is not an executable file'):
        server_discovery.discover(process, host['run_command'])
    assert host['calls'] == []


def test_a_stopped_servers_home_is_its_users():
    root_home = pwd.getpwnam('root').pw_dir
    assert server_discovery.stopped_server(dict(exe='/usr/sbin/mysqld'), 'root')['home'] == root_home
    assert server_discovery.stopped_server(dict(exe='/usr/sbin/mysqld'), 'no-such-user-here')['home'] == ''
    assert server_discovery.stopped_server(dict(exe='/usr/sbin/mysqld', home='/srv/my'), 'root')['home'] == '/srv/my'
