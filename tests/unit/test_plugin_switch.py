# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan that moves one instance from the keyring_file plugin to component_keyring_file, on the layouts real 8.0
hosts have (Debian, EL, mysqld_multi, systemd mysqld@name): the edits, applied here with
option_files.remove_keyring_plugin to show the resulting text, and every problem that forbids the move."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils import plugin_switch
from ansible_collections.keyops.mysql.plugins.module_utils.option_files import (
    keyring_plugin_settings, mysqld_groups, read_tree, remove_keyring_plugin)
from ansible_collections.keyops.mysql.plugins.module_utils.plugin_switch import PROBLEM_CODES, plan_plugin_switch

DESTINATION = '/var/lib/mysql-keyring/component_keyring_file'

# Debian/Ubuntu's mysql-server-8.0: /etc/mysql/my.cnf (the mysql.cnf alternative) includes two directories.
DEBIAN = {
    '/etc/mysql/my.cnf': """\
#
# The MySQL database server configuration file.
#
# You can copy this to one of:
# - "/etc/mysql/my.cnf" to set global options,
# - "~/.my.cnf" to set user-specific options.
#
# For explanations see
# http://dev.mysql.com/doc/mysql/en/server-system-variables.html

#
# * IMPORTANT: Additional settings that can override those from this file!
#   The files must end with '.cnf', otherwise they'll be ignored.
#

!includedir /etc/mysql/conf.d/
!includedir /etc/mysql/mysql.conf.d/
""",
    '/etc/mysql/conf.d/mysql.cnf': '[mysql]\n',
    '/etc/mysql/conf.d/mysqldump.cnf': '[mysqldump]\nquick\nquote-names\nmax_allowed_packet\t= 16M\n',
    '/etc/mysql/mysql.conf.d/mysql.cnf': '[mysql]\n',
    '/etc/mysql/mysql.conf.d/mysqld.cnf': """\
#
# The MySQL database server configuration file.
#
[mysqld]
#
# * Basic Settings
#
user\t\t= mysql
# pid-file\t= /var/run/mysqld/mysqld.pid
# socket\t= /var/run/mysqld/mysqld.sock
# port\t\t= 3306
# datadir\t= /var/lib/mysql
bind-address\t\t= 127.0.0.1
mysqlx-bind-address\t= 127.0.0.1
key_buffer_size\t\t= 16M
early-plugin-load = keyring_file.so
keyring_file_data = /var/lib/mysql-keyring/keyring
log_error = /var/log/mysql/error.log
max_binlog_size   = 100M
""",
}

# Red Hat's mysql-server: /etc/my.cnf includes /etc/my.cnf.d; the keyring in a file of its own, with another
# plugin on the same early-plugin-load line and the data file in [mysqld-8.0], loose- and dashes.
EL = {
    '/etc/my.cnf': """\
#
# This group is read both by the client and the server
# use it for options that affect everything
#
[client-server]

#
# include all files from the config directory
#
!includedir /etc/my.cnf.d

""",
    '/etc/my.cnf.d/client.cnf': """\
#
# These two groups are read by the client library
# Use it for options that affect all clients, but not the server
#


[client]

# This group is not read by mysql client library,
# If you use the same .cnf file for MySQL and MariaDB,
# use it for MariaDB-only client options
[client-mariadb]
""",
    '/etc/my.cnf.d/mysql-server.cnf': """\
#
# This group are read by MySQL server.
# Use it for options that only the server (but not clients) should see
#
# Settings user and group are ignored when systemd is used.

[mysqld]
datadir=/var/lib/mysql
socket=/var/lib/mysql/mysql.sock
log-error=/var/log/mysql/mysqld.log
pid-file=/run/mysqld/mysqld.pid
""",
    '/etc/my.cnf.d/zz-keyring.cnf': """\
# keyring for InnoDB tablespace encryption (OPS-1234)
[mysqld]
early_plugin_load = keyring_file.so;audit_log.so
audit_log_format = JSON

[mysqld-8.0]
loose-keyring-file-data = /var/lib/mysql-keyring/keyring
""",
}

# mysqld_multi: one file, an instance per [mysqldN] group.
MULTI_CNF = """\
[mysqld_multi]
mysqld     = /usr/bin/mysqld_safe
mysqladmin = /usr/bin/mysqladmin
user       = multi_admin

[mysqld]
plugin-load-add = audit_log.so

[mysqld1]
socket     = /var/run/mysqld/mysqld1.sock
port       = 3306
pid-file   = /var/run/mysqld/mysqld1.pid
datadir    = /var/lib/mysql1
early-plugin-load = keyring_file.so
keyring_file_data = /var/lib/mysql-keyring/one

[mysqld2]
socket     = /var/run/mysqld/mysqld2.sock
port       = 3307
pid-file   = /var/run/mysqld/mysqld2.pid
datadir    = /var/lib/mysql2
early-plugin-load = keyring_file.so
keyring_file_data = /var/lib/mysql-keyring/two
"""
MULTI_MYSQLD1 = MULTI_CNF[MULTI_CNF.index('[mysqld1]'):MULTI_CNF.index('[mysqld2]')]

# mysqld_multi -> mysqld_safe -> mysqld: instance 2's group on the command line, as my_print_defaults spells it.
MULTI_ARGV2 = ['/usr/sbin/mysqld', '--basedir=/usr', '--datadir=/var/lib/mysql2', '--plugin-dir=/usr/lib/mysql/plugin',
               '--early-plugin-load=keyring_file.so', '--keyring_file_data=/var/lib/mysql-keyring/two',
               '--log-error=/var/lib/mysql2/db2.err', '--pid-file=/var/run/mysqld/mysqld2.pid',
               '--socket=/var/run/mysqld/mysqld2.sock', '--port=3307']

# systemd's mysqld@.service: ExecStart=/usr/sbin/mysqld --defaults-group-suffix=@%I.
SYSTEMD_CNF = """\
[mysqld]
log_error_verbosity = 2

[mysqld@a]
datadir = /var/lib/mysql-a
socket = /var/run/mysqld/mysqld-a.sock
port = 3306
early-plugin-load = keyring_file.so;audit_log.so   # audit early too
keyring-file-data = /var/lib/mysql-keyring/a

[mysqld@b]
datadir = /var/lib/mysql-b
socket = /var/run/mysqld/mysqld-b.sock
port = 3307
early-plugin-load = keyring_file.so
keyring-file-data = /var/lib/mysql-keyring/b
"""


def tree_of(files, path):
    """The option tree as keyring_info hands it over: [[path, text]] in read order (option_files.read_tree)."""
    def listdir(directory):
        return [os.path.basename(name) for name in files if os.path.dirname(name) == directory.rstrip('/')]
    return [[name, text] for name, text in read_tree(path, files.get, listdir)]


def facts_of(tree, **changes):
    facts = dict(version='8.0.36', datadir='/var/lib/mysql/', plugin_dir='/usr/lib/mysql/plugin/',
                 exe='/usr/sbin/mysqld', argv=['/usr/sbin/mysqld'], option_tree=tree,
                 keyring_file_data='/var/lib/mysql-keyring/keyring', global_manifest=None, global_config=None,
                 local_manifest=None, local_config=None)
    facts.update(changes)
    return facts


def debian_facts(**changes):
    values = dict(version='8.0.36-0ubuntu0.22.04.1')
    values.update(changes)
    return facts_of(tree_of(DEBIAN, '/etc/mysql/my.cnf'), **values)


def multi_facts(**changes):
    values = dict(datadir='/var/lib/mysql2/', argv=MULTI_ARGV2, keyring_file_data='/var/lib/mysql-keyring/two')
    values.update(changes)
    return facts_of([['/etc/my.cnf', MULTI_CNF]], **values)


def systemd_facts(text=SYSTEMD_CNF, **changes):
    values = dict(datadir='/var/lib/mysql-a/', argv=['/usr/sbin/mysqld', '--defaults-group-suffix=@a'],
                  keyring_file_data='/var/lib/mysql-keyring/a')
    values.update(changes)
    return facts_of([['/etc/my.cnf', text]], **values)


def applied(plan, facts):
    """{path: text after the edit} for each option file edit, checking that no line outside the instance's groups
    changes: the plugin settings of every other group are the same before and after."""
    texts = dict((path, text) for path, text in facts['option_tree'])
    result = {}
    for edit in plan['edits']:
        if edit['format'] != 'option_file':
            continue
        assert edit['remove_keyring_plugin'] == plan['groups']
        before = texts[edit['path']]
        after, changes = remove_keyring_plugin(before, edit['remove_keyring_plugin'])
        assert changes and all(change['group'] in plan['groups'] for change in changes)
        assert others(before, plan['groups']) == others(after, plan['groups'])
        result[edit['path']] = after
    return result


def others(text, groups):
    return [(s.group, s.name, s.value) for s in keyring_plugin_settings(text) if s.group not in groups]


def codes(plan):
    return [found['code'] for found in plan['problems']]


def json_edits(datadir, plugin_dir='/usr/lib/mysql/plugin/', exe='/usr/sbin/mysqld', group='mysql'):
    """The four component file edits of a host that has no global files yet."""
    return [
        dict(file='component_config', path=datadir + 'component_keyring_file.cnf', format='json',
             settings=dict(path=DESTINATION), defaults=dict(read_only=False), password=False,
             owner='root', group=group, mode='0640'),
        dict(file='component_manifest', path=datadir + 'mysqld.my', format='json',
             settings=dict(components='file://component_keyring_file'), defaults={}, password=False,
             owner='root', group=group, mode='0640'),
        dict(file='global_component_config', path=plugin_dir + 'component_keyring_file.cnf', format='json',
             settings=dict(read_local_config=True), defaults={}, password=False,
             owner='root', group='root', mode='0644'),
        dict(file='global_component_manifest', path=os.path.dirname(exe) + '/mysqld.my', format='json',
             settings=dict(read_local_manifest=True), defaults={}, password=False,
             owner='root', group='root', mode='0644'),
    ]


def test_debian_single_instance_the_whole_plan():
    facts = debian_facts()
    plan = plan_plugin_switch(facts, DESTINATION, 'mysql')
    mysqld_cnf = '/etc/mysql/mysql.conf.d/mysqld.cnf'
    assert plan == dict(
        edits=json_edits('/var/lib/mysql/') + [
            dict(file='option_file', path=mysqld_cnf, format='option_file',
                 remove_keyring_plugin=['mysqld', 'server', 'mysqld-8.0'])],
        problems=[],
        warnings=["/var/lib/mysql/mysqld.my is in the data directory, which the server's OS user owns: that user "
                  "can replace it, and MySQL loads the components it names at the next start; on a single-instance "
                  "host a root-owned global manifest (/usr/sbin/mysqld.my) that loads file://component_keyring_file "
                  "itself is the hardened alternative"],
        settings=[
            dict(file=mysqld_cnf, line=16, group='mysqld', option='early_plugin_load', value='keyring_file.so',
                 mine=True),
            dict(file=mysqld_cnf, line=17, group='mysqld', option='keyring_file_data',
                 value='/var/lib/mysql-keyring/keyring', mine=True)],
        groups=['mysqld', 'server', 'mysqld-8.0'],
        instance='single',
        component_files=dict(manifest='/var/lib/mysql/mysqld.my',
                             config='/var/lib/mysql/component_keyring_file.cnf'))
    assert applied(plan, facts) == {mysqld_cnf: DEBIAN[mysqld_cnf].replace(
        'early-plugin-load = keyring_file.so\nkeyring_file_data = /var/lib/mysql-keyring/keyring\n', '')}


def test_el_the_other_plugin_stays_and_every_spelling_goes():
    facts = facts_of(tree_of(EL, '/etc/my.cnf'), exe='/usr/libexec/mysqld', plugin_dir='/usr/lib64/mysql/plugin',
                     argv=['/usr/libexec/mysqld', '--basedir=/usr'])
    plan = plan_plugin_switch(facts, DESTINATION, 'mysql')
    keyring_cnf = '/etc/my.cnf.d/zz-keyring.cnf'
    assert plan['problems'] == [] and plan['instance'] == 'single'
    assert plan['edits'] == json_edits('/var/lib/mysql/', '/usr/lib64/mysql/plugin/', '/usr/libexec/mysqld') + [
        dict(file='option_file', path=keyring_cnf, format='option_file',
             remove_keyring_plugin=['mysqld', 'server', 'mysqld-8.0'])]
    assert [(s['line'], s['group'], s['option'], s['value'], s['mine']) for s in plan['settings']] == [
        (3, 'mysqld', 'early_plugin_load', 'keyring_file.so;audit_log.so', True),
        (7, 'mysqld-8.0', 'keyring_file_data', '/var/lib/mysql-keyring/keyring', True)]
    assert applied(plan, facts) == {keyring_cnf: """\
# keyring for InnoDB tablespace encryption (OPS-1234)
[mysqld]
early_plugin_load = audit_log.so
audit_log_format = JSON

[mysqld-8.0]
"""}


def test_mysqld_multi_only_the_instances_group_is_edited():
    facts = multi_facts()
    plan = plan_plugin_switch(facts, DESTINATION, 'mysql')
    assert plan['instance'] == 'mysqld_multi:mysqld2'
    assert plan['groups'] == ['mysqld', 'server', 'mysqld-8.0', 'mysqld2']
    assert plan['problems'] == []          # the command line's plugin options are [mysqld2]'s
    assert plan['component_files'] == dict(manifest='/var/lib/mysql2/mysqld.my',
                                           config='/var/lib/mysql2/component_keyring_file.cnf')
    assert plan['edits'] == json_edits('/var/lib/mysql2/') + [
        dict(file='option_file', path='/etc/my.cnf', format='option_file',
             remove_keyring_plugin=['mysqld', 'server', 'mysqld-8.0', 'mysqld2'])]
    assert [(s['file'], s['line'], s['group'], s['option'], s['mine']) for s in plan['settings']] == [
        ('/etc/my.cnf', 14, 'mysqld1', 'early_plugin_load', False),
        ('/etc/my.cnf', 15, 'mysqld1', 'keyring_file_data', False),
        ('/etc/my.cnf', 22, 'mysqld2', 'early_plugin_load', True),
        ('/etc/my.cnf', 23, 'mysqld2', 'keyring_file_data', True),
        (None, 4, None, 'early_plugin_load', True),
        (None, 5, None, 'keyring_file_data', True)]
    text = applied(plan, facts)['/etc/my.cnf']
    assert text == MULTI_CNF.replace(
        'datadir    = /var/lib/mysql2\nearly-plugin-load = keyring_file.so\n'
        'keyring_file_data = /var/lib/mysql-keyring/two\n', 'datadir    = /var/lib/mysql2\n')
    assert MULTI_MYSQLD1 in text


def test_mysqld_multi_instance_1_is_found_by_its_datadir():
    argv = ['/usr/sbin/mysqld', '--datadir=/var/lib/mysql1', '--early-plugin-load=keyring_file.so',
            '--keyring_file_data=/var/lib/mysql-keyring/one']
    facts = multi_facts(datadir='/var/lib/mysql1', argv=argv, keyring_file_data='/var/lib/mysql-keyring/one')
    plan = plan_plugin_switch(facts, DESTINATION, 'mysql')
    assert plan['instance'] == 'mysqld_multi:mysqld1' and plan['problems'] == []
    text = applied(plan, facts)['/etc/my.cnf']
    assert '/var/lib/mysql-keyring/two' in text and '/var/lib/mysql-keyring/one' not in text


def test_systemd_instance_only_its_group_is_edited():
    facts = systemd_facts()
    plan = plan_plugin_switch(facts, DESTINATION, 'mysql')
    assert plan['instance'] == 'systemd:@a' and plan['problems'] == []
    assert plan['groups'] == mysqld_groups('8.0.36', '@a')
    assert plan['edits'][-1] == dict(file='option_file', path='/etc/my.cnf', format='option_file',
                                     remove_keyring_plugin=['mysqld', 'server', 'mysqld-8.0', 'mysqld@a',
                                                            'server@a', 'mysqld-8.0@a'])
    assert [(s['group'], s['mine']) for s in plan['settings']] == [
        ('mysqld@a', True), ('mysqld@a', True), ('mysqld@b', False), ('mysqld@b', False)]
    text = applied(plan, facts)['/etc/my.cnf']
    assert text == SYSTEMD_CNF.replace(
        'early-plugin-load = keyring_file.so;audit_log.so   # audit early too\n'
        'keyring-file-data = /var/lib/mysql-keyring/a\n',
        'early-plugin-load = audit_log.so   # audit early too\n')
    assert SYSTEMD_CNF[SYSTEMD_CNF.index('[mysqld@b]'):] in text


def test_a_stopped_server_is_planned_from_the_argv_the_caller_builds():
    facts = debian_facts(argv=['mysqld', '--defaults-file=/etc/mysql/my.cnf'], keyring_file_data=None)
    plan = plan_plugin_switch(facts, DESTINATION, 'mysql')
    assert plan['problems'] == [] and plan['instance'] == 'single'
    assert [edit['file'] for edit in plan['edits']] == ['component_config', 'component_manifest',
                                                        'global_component_config', 'global_component_manifest',
                                                        'option_file']


def test_global_files_that_defer_are_kept_and_not_written():
    facts = debian_facts(global_manifest={'read_local_manifest': True}, global_config={'read_local_config': True})
    plan = plan_plugin_switch(facts, DESTINATION, 'mysql')
    assert plan['problems'] == []
    assert [edit['file'] for edit in plan['edits']] == ['component_config', 'component_manifest', 'option_file']


def test_global_files_that_do_not_defer_are_problems_never_edits():
    facts = debian_facts(global_manifest={'components': 'file://component_keyring_file'},
                         global_config={'path': '/var/lib/mysql-keyring/component', 'read_only': False})
    plan = plan_plugin_switch(facts, DESTINATION, 'mysql')
    assert codes(plan) == ['global_manifest_loads_components', 'global_config_not_deferring']
    assert plan['problems'][0]['msg'] == (
        '/usr/sbin/mysqld.my does not defer to the data directory (no "read_local_manifest": true), so it loads '
        'components (file://component_keyring_file) for every instance on this host: replace it with '
        '{"read_local_manifest": true} and move its components into each data directory\'s mysqld.my, then run '
        'again')
    assert '/usr/lib/mysql/plugin/component_keyring_file.cnf does not defer' in plan['problems'][1]['msg']
    assert [edit['file'] for edit in plan['edits']] == ['component_config', 'component_manifest', 'option_file']


def test_a_local_manifest_already_loading_the_component_with_others_is_left_alone():
    merged = {'components': 'file://component_keyring_file, file://component_log_sink_json'}
    plan = plan_plugin_switch(debian_facts(local_manifest=merged), DESTINATION, 'mysql')
    assert plan['problems'] == []
    assert 'component_manifest' not in [edit['file'] for edit in plan['edits']]
    plan = plan_plugin_switch(debian_facts(local_manifest={'components': 'file://component_keyring_file'}),
                              DESTINATION, 'mysql')
    assert plan['problems'] == [] and plan['edits'][1]['file'] == 'component_manifest'     # no change: idempotent


def test_the_version_gate():
    assert codes(plan_plugin_switch(debian_facts(version='8.0.23'), DESTINATION, 'mysql')) == [
        'version_without_components']
    assert codes(plan_plugin_switch(debian_facts(version='8.0.24-log'), DESTINATION, 'mysql')) == []
    assert codes(plan_plugin_switch(debian_facts(version='8.4.3'), DESTINATION, 'mysql')) == []
    assert codes(plan_plugin_switch(debian_facts(version=''), DESTINATION, 'mysql')) == ['version_without_components']


def test_the_keystore_paths_compare_normalised():
    facts = debian_facts(keyring_file_data='/var/lib/mysql-keyring//keyring')
    assert codes(plan_plugin_switch(facts, DESTINATION, 'mysql')) == []


def test_the_command_line_wins_over_the_files_for_the_keystore():
    argv = ['/usr/sbin/mysqld', '--datadir=/var/lib/mysql2', '--early-plugin-load=keyring_file.so',
            '--keyring_file_data=/var/lib/mysql-keyring/two', '--loose-keyring-file-data=/var/lib/mysql-keyring/x']
    plan = plan_plugin_switch(multi_facts(argv=argv), DESTINATION, 'mysql')
    assert codes(plan) == ['keyring_plugin_on_command_line', 'keyring_data_file_differs']
    assert plan['problems'][0]['msg'].startswith(
        "the server's command line carries --loose-keyring-file-data=/var/lib/mysql-keyring/x, which")
    assert 'the command line (--loose-keyring-file-data=/var/lib/mysql-keyring/x)' in plan['problems'][1]['msg']


SHARED_CNF = """\
[mysqld]
early-plugin-load = keyring_file.so

[mysqld@a]
datadir = /var/lib/mysql-a
keyring-file-data = /var/lib/mysql-keyring/a

[mysqld@b]
datadir = /var/lib/mysql-b
keyring-file-data = /var/lib/mysql-keyring/b
"""

# (id, facts, code, what its message says): every problem code at least once.
PROBLEM_CASES = [
    ('plugin on a systemd unit', debian_facts(argv=['/usr/sbin/mysqld', '--early-plugin-load=keyring_file.so']),
     'keyring_plugin_on_command_line',
     ["the server's command line carries --early-plugin-load=keyring_file.so", 'service unit', 'wrapper script',
      'remove them there, then run again']),
    ('mysqld_multi argv not from the group',
     multi_facts(argv=MULTI_ARGV2 + ['--plugin-load-add=keyring_file=keyring_file.so']),
     'keyring_plugin_on_command_line', ['--plugin-load-add=keyring_file=keyring_file.so', 'remove them there']),
    ('systemd [mysqld]', systemd_facts(SHARED_CNF), 'keyring_plugin_in_shared_group',
     ['/etc/my.cnf:2 [mysqld] early_plugin_load', 'every MySQL instance on this host',
      "into each instance's own group ([mysqld@name] or [mysqldN]) first"]),
    ('mysqld_multi [server]',
     multi_facts(option_tree=[['/etc/my.cnf', MULTI_CNF], ['/etc/mysql/conf.d/k.cnf', '[server]\nkeyring_file\n']]),
     'keyring_plugin_in_shared_group', ['/etc/mysql/conf.d/k.cnf:2 [server] keyring_file']),
    ('INSTALL PLUGIN', facts_of([['/etc/my.cnf', '[mysqld]\ndatadir = /var/lib/mysql\n']]),
     'keyring_plugin_not_in_options',
     ['keyring_file_data /var/lib/mysql-keyring/keyring', '[mysqld] [server] [mysqld-8.0]', 'INSTALL PLUGIN',
      'keyops cannot change', 'UNINSTALL PLUGIN keyring_file', 'then run again']),
    ('SET PERSIST', debian_facts(keyring_file_data='/var/lib/mysql-keyring/persisted'), 'keyring_data_file_differs',
     ['/var/lib/mysql-keyring/persisted', '/etc/mysql/mysql.conf.d/mysqld.cnf:17 [mysqld] keyring_file_data',
      '/var/lib/mysql-keyring/keyring', 'mysqld-auto.cnf', 'RESET PERSIST keyring_file_data']),
    ('global manifest', debian_facts(global_manifest={}), 'global_manifest_loads_components',
     ['/usr/sbin/mysqld.my', 'components (none now)', '{"read_local_manifest": true}']),
    ('global config', debian_facts(global_config={'read_local_config': False, 'path': '/k'}),
     'global_config_not_deferring',
     ['/usr/lib/mysql/plugin/component_keyring_file.cnf', '{"read_local_config": true}', 'then run again']),
    ('local manifest', debian_facts(local_manifest={'components': 'file://component_keyring_encrypted_file'}),
     'local_manifest_loads_other',
     ['/var/lib/mysql/mysqld.my already loads file://component_keyring_encrypted_file', 'merge them by hand']),
    ('8.0.23', debian_facts(version='8.0.23'), 'version_without_components',
     ['MySQL 8.0.23', 'upgrade it to 8.0.24 or later first']),
    ('two [mysqldN] with one datadir',
     multi_facts(option_tree=[['/etc/my.cnf', MULTI_CNF + '\n[mysqld3]\ndatadir = /var/lib/mysql2/\n']]),
     'mysqld_multi_group_ambiguous', ['[mysqld2], [mysqld3]', 'datadir /var/lib/mysql2/']),
]


@pytest.mark.parametrize('facts, code, words', [case[1:] for case in PROBLEM_CASES],
                         ids=[case[0] for case in PROBLEM_CASES])
def test_each_problem_says_where_and_what_to_do(facts, code, words):
    plan = plan_plugin_switch(facts, DESTINATION, 'mysql')
    assert codes(plan) == [code]
    msg = plan['problems'][0]['msg']
    assert '\n' not in msg and all(word in msg for word in words), msg


def test_every_problem_code_is_exported_and_reached():
    assert sorted(set(case[2] for case in PROBLEM_CASES)) == sorted(PROBLEM_CODES)
    assert all(getattr(plugin_switch, name) in PROBLEM_CODES for name in dir(plugin_switch)
               if name.isupper() and name.startswith(('KEYRING_', 'GLOBAL_', 'LOCAL_', 'VERSION_', 'MYSQLD_MULTI_G')))


def test_no_edit_ever_targets_a_group_that_is_not_the_instances():
    layouts = [debian_facts(), multi_facts(), systemd_facts(), systemd_facts(SHARED_CNF),
               systemd_facts(datadir='/var/lib/mysql-b', argv=['/usr/sbin/mysqld', '--defaults-group-suffix=@b'],
                             keyring_file_data='/var/lib/mysql-keyring/b'),
               multi_facts(datadir='/var/lib/mysql1', argv=['/usr/sbin/mysqld'], keyring_file_data=None)]
    layouts += [case[1] for case in PROBLEM_CASES]
    for facts in layouts:
        plan = plan_plugin_switch(facts, DESTINATION, 'mysql')
        applied(plan, facts)        # asserts that every changed line is in plan['groups'], and no other group moves
        mine = set(plan['groups'])
        for setting in plan['settings']:
            assert setting['mine'] == (setting['group'] in mine or setting['file'] is None)
        assert len(plan['warnings']) == 1


def test_the_other_systemd_instance_gets_its_own_group_and_keystore():
    facts = systemd_facts(datadir='/var/lib/mysql-b', argv=['/usr/sbin/mysqld', '--defaults-group-suffix=@b'],
                          keyring_file_data='/var/lib/mysql-keyring/b')
    plan = plan_plugin_switch(facts, DESTINATION, 'mysql')
    assert plan['instance'] == 'systemd:@b' and plan['problems'] == []
    assert plan['component_files']['manifest'] == '/var/lib/mysql-b/mysqld.my'
    text = applied(plan, facts)['/etc/my.cnf']
    assert '/var/lib/mysql-keyring/a' in text and '/var/lib/mysql-keyring/b' not in text
