# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option files as MySQL reads them, and the removal of the keyring_file plugin from one instance's groups, on the
layouts real 8.0 hosts have (Debian, EL, mysqld_multi, systemd instances, !includedir). MySQL's own parser reads
the results in tests/integration/test_option_files_mysql.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.keyops.mysql.plugins.module_utils.option_files import (
    keyring_plugin_settings, mysqld_groups, option_name, plugin_list, read_tree, remove_keyring_plugin, split_value)

DEBIAN_MYSQLD_CNF = """\
# The MySQL database server configuration file.
[mysqld]
pid-file\t= /var/run/mysqld/mysqld.pid
socket\t= /var/run/mysqld/mysqld.sock
datadir\t= /var/lib/mysql
early-plugin-load = keyring_file.so
keyring_file_data = /var/lib/mysql-keyring/keyring
log-error\t= /var/log/mysql/error.log
"""

EL_MY_CNF = """\
[mysqld]
datadir=/var/lib/mysql
socket=/var/lib/mysql/mysql.sock
early-plugin-load="keyring_file=keyring_file.so;keyring_udf=keyring_udf.so"   # keys for the tablespaces
loose-keyring-file-data=/var/lib/mysql-keyring/keyring
log-error=/var/log/mysqld.log
pid-file=/var/run/mysqld/mysqld.pid
"""

MULTI_CNF = """\
[mysqld_multi]
mysqld     = /usr/bin/mysqld_safe
mysqladmin = /usr/bin/mysqladmin

[mysqld1]
socket     = /tmp/mysql.sock1
port       = 3306
datadir    = /var/lib/mysql1
early-plugin-load = keyring_file.so
keyring_file_data = /var/lib/mysql-keyring/one

[mysqld2]
socket     = /tmp/mysql.sock2
port       = 3307
datadir    = /var/lib/mysql2
early-plugin-load = keyring_file.so
keyring_file_data = /var/lib/mysql-keyring/two
"""

SYSTEMD_CNF = """\
[mysqld]
plugin-load-add = audit_log.so

[mysqld@replica01]
datadir = /var/lib/mysql-replica01
plugin_load_add = keyring_file.so
plugin-load-add=audit_filter.so
keyring-file-data = /var/lib/mysql-keyring/replica01

[mysqld@replica02]
datadir = /var/lib/mysql-replica02
plugin_load_add = keyring_file.so
keyring-file-data = /var/lib/mysql-keyring/replica02
"""


def test_option_names_compare_as_mysql_does():
    assert option_name('loose-keyring-file-data') == option_name('keyring_file_data') == 'keyring_file_data'
    assert option_name('Early-Plugin-Load') == 'early_plugin_load'


def test_values_keep_their_quote_and_comment():
    assert split_value('"a;b"   # why') == ('a;b', '"', '   # why')
    assert split_value('keyring_file.so # why') == ('keyring_file.so', '', ' # why')
    assert split_value("'x'") == ('x', "'", '')
    assert [k for _i, k in plugin_list('keyring_file=keyring_file.so;keyring_udf=keyring_udf.so')] == [True, False]
    assert [k for _i, k in plugin_list('/usr/lib/mysql/plugin/keyring_file.so;x.so')] == [True, False]
    assert [k for _i, k in plugin_list('keyring_file_other.so')] == [False]


def test_debian_the_plugin_lines_go_and_nothing_else_changes():
    text, edits = remove_keyring_plugin(DEBIAN_MYSQLD_CNF, mysqld_groups('8.0.36'))
    assert text == DEBIAN_MYSQLD_CNF.replace('early-plugin-load = keyring_file.so\n', '').replace(
        'keyring_file_data = /var/lib/mysql-keyring/keyring\n', '')
    assert [(e['line'], e['option'], e['after']) for e in edits] == [
        (6, 'early_plugin_load', None), (7, 'keyring_file_data', None)]


def test_el_the_other_plugin_stays_on_the_line_quoted_and_commented():
    text, edits = remove_keyring_plugin(EL_MY_CNF, mysqld_groups('8.0.36'))
    assert 'early-plugin-load="keyring_udf=keyring_udf.so"   # keys for the tablespaces\n' in text
    assert 'keyring-file-data' not in text and 'keyring_file.so' not in text
    assert len(text.splitlines()) == len(EL_MY_CNF.splitlines()) - 1
    assert edits[0]['after'] == 'early-plugin-load="keyring_udf=keyring_udf.so"   # keys for the tablespaces'


def test_mysqld_multi_only_the_instances_own_group_is_edited():
    text, edits = remove_keyring_plugin(MULTI_CNF, mysqld_groups('8.0.36') + ['mysqld2'])
    assert text == MULTI_CNF.replace(
        'early-plugin-load = keyring_file.so\nkeyring_file_data = /var/lib/mysql-keyring/two\n', '')
    assert '/var/lib/mysql-keyring/one' in text and all(e['group'] == 'mysqld2' for e in edits)


def test_systemd_instance_only_its_group_and_its_other_plugins_stay():
    text, edits = remove_keyring_plugin(SYSTEMD_CNF, mysqld_groups('8.0.36', '@replica01'))
    assert 'plugin-load-add=audit_filter.so\n' in text and 'plugin-load-add = audit_log.so\n' in text
    assert '/var/lib/mysql-keyring/replica02' in text and '/var/lib/mysql-keyring/replica01' not in text
    assert text.count('keyring_file.so') == 1           # replica02's
    assert [(e['group'], e['option']) for e in edits] == [('mysqld@replica01', 'plugin_load_add'),
                                                          ('mysqld@replica01', 'keyring_file_data')]


def test_a_file_without_the_plugin_is_unchanged_byte_for_byte():
    text = '[mysqld]\r\nplugin-load-add = audit_log.so\r\n; comment = keyring_file.so\r\n'
    assert remove_keyring_plugin(text, ['mysqld']) == (text, [])


def test_the_settings_found_name_file_line_and_group_in_every_group():
    found = [s.as_dict() for s in keyring_plugin_settings(MULTI_CNF, '/etc/my.cnf')]
    assert [(f['line'], f['group'], f['option']) for f in found] == [
        (9, 'mysqld1', 'early_plugin_load'), (10, 'mysqld1', 'keyring_file_data'),
        (16, 'mysqld2', 'early_plugin_load'), (17, 'mysqld2', 'keyring_file_data')]
    assert found[1]['value'] == '/var/lib/mysql-keyring/one' and found[0]['file'] == '/etc/my.cnf'


def test_groups_mysqld_reads():
    assert mysqld_groups() == ['mysqld', 'server']
    assert mysqld_groups('8.0.36', '@a') == ['mysqld', 'server', 'mysqld-8.0', 'mysqld@a', 'server@a',
                                             'mysqld-8.0@a']


def test_the_include_tree_in_mysqls_order_and_an_include_loop_ends():
    files = {
        '/etc/mysql/my.cnf': '[mysqld]\n!includedir /etc/mysql/conf.d/\n!include extra.cnf\n',
        '/etc/mysql/conf.d/b.cnf': '[mysqld]\n',
        '/etc/mysql/conf.d/a.cnf': '!include /etc/mysql/my.cnf\n',
        '/etc/mysql/conf.d/c.ini': '[mysqld]\n',
        '/etc/mysql/extra.cnf': '[mysqld]\n',
    }
    tree = read_tree('/etc/mysql/my.cnf', files.get,
                     lambda d: [os.path.basename(p) for p in files if os.path.dirname(p) == d.rstrip('/')])
    assert [path for path, _text in tree] == ['/etc/mysql/my.cnf', '/etc/mysql/conf.d/a.cnf',
                                              '/etc/mysql/conf.d/b.cnf', '/etc/mysql/extra.cnf']
