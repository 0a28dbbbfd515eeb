# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which files a running mysqld reads its keyring set-up from: its command line, its binary's default files, and
MySQL's manifest and component configuration lookup."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.keyops.mysql.plugins.module_utils.server_files import (
    command_line, component_files, default_files, option_files)

# mysqld --verbose --help of the sandbox's 9.7.4 (the lines around the list; the list ends with a space).
HELP = ('mysqld  Ver 9.7.4 for Linux on x86_64 (MySQL Community Server - GPL)\n'
        'Default options are read from the following files in the given order:\n'
        '/etc/my.cnf /etc/mysql/my.cnf ~/.my.cnf \n'
        'The following groups are read: mysqld server mysqld-9.7\n')


def test_the_command_line_of_a_systemd_instance_with_the_plugin_on_it():
    found = command_line(['/usr/sbin/mysqld', '--defaults-group-suffix=@replica01',
                          '--early-plugin-load=keyring_file.so', '--loose-keyring-file-data=/k', '--port=3307',
                          '--plugin-load-add=audit_log.so'])
    assert found['group_suffix'] == '@replica01' and not found['no_defaults'] and found['defaults_file'] is None
    assert found['plugin_options'] == ['--early-plugin-load=keyring_file.so', '--loose-keyring-file-data=/k']


def test_the_default_files_the_binary_lists_with_the_extra_file_before_the_users():
    files = default_files(HELP)
    assert files == ['/etc/my.cnf', '/etc/mysql/my.cnf', '~/.my.cnf']
    plain = command_line(['mysqld'])
    expected = ['/etc/my.cnf', '/etc/mysql/my.cnf', '/var/lib/mysql/.my.cnf']
    assert option_files(plain, files, '/var/lib/mysql') == expected
    extra = command_line(['mysqld', '--defaults-extra-file=/etc/mysql/extra.cnf'])
    assert option_files(extra, files, '') == ['/etc/my.cnf', '/etc/mysql/my.cnf', '/etc/mysql/extra.cnf']


def test_defaults_file_alone_and_no_defaults_none():
    assert option_files(command_line(['mysqld', '--defaults-file=/etc/mysql/one.cnf']), ['/etc/my.cnf'], '') == [
        '/etc/mysql/one.cnf']
    assert option_files(command_line(['mysqld', '--no-defaults']), ['/etc/my.cnf'], '') == []
    assert default_files('no such line') == []


def test_the_manifest_and_configuration_global_or_local_as_the_global_file_says():
    files = {'/usr/sbin/mysqld.my': {'read_local_manifest': True},
             '/usr/lib/mysql/plugin/component_keyring_file.cnf': {'path': '/k', 'read_only': False}}
    found = component_files('/usr/sbin/mysqld', '/usr/lib/mysql/plugin/', '/var/lib/mysql', files.get)
    assert found == dict(manifest='/var/lib/mysql/mysqld.my', global_manifest='/usr/sbin/mysqld.my',
                         config='/usr/lib/mysql/plugin/component_keyring_file.cnf',
                         global_config='/usr/lib/mysql/plugin/component_keyring_file.cnf')
    assert component_files('/usr/sbin/mysqld', '/p', '/d', lambda path: None)['manifest'] == '/usr/sbin/mysqld.my'
