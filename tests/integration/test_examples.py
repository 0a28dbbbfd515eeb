# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every task in every module's EXAMPLES, run as written on real sandbox hosts over SSH.

Users copy EXAMPLES into their playbooks, so each example runs unchanged: the test only prepares the host so
that the paths and accounts the example names exist (a keyring_file plugin keystore where the example reads
one, a root-owned keystore for keyring_files_owner to fix, a paused server for "resume"), then checks what
the example did (files, owners, keys, keyring_operations) and that running it again changes nothing.

An example without a scenario below fails `test_every_example_has_a_scenario`, so a new example can never be
left untested silently.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os
import re

import pytest
import yaml

from ..conftest import REPO_ROOT

pytestmark = pytest.mark.integration
MODULES_DIR = os.path.join(REPO_ROOT, 'plugins', 'modules')
MYSQL_CLI = ['mysql', '-uroot', '--batch', '--skip-column-names', '-e']


def module_examples():
    """[(module, index, task)] for every task of every module's EXAMPLES, parsed as YAML."""
    found = []
    for name in sorted(os.listdir(MODULES_DIR)):
        if not name.endswith('.py') or name.startswith('_'):
            continue
        with open(os.path.join(MODULES_DIR, name)) as f:
            tree = ast.parse(f.read())
        examples = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
                    and any(getattr(t, 'id', None) == 'EXAMPLES' for t in node.targets)]
        assert examples, '%s has no EXAMPLES' % name
        for index, task in enumerate(yaml.safe_load(examples[0])):
            found.append((name[:-3], index, task))
    return found


EXAMPLES = module_examples()


def _operations_is(value):
    return {'name': 'keyring_operations reads %s' % value,
            'ansible.builtin.command': {'argv': MYSQL_CLI + ['SELECT @@GLOBAL.keyring_operations']},
            'register': 'operations', 'changed_when': False,
            'failed_when': "operations.stdout != '%s'" % value}


def _resume_server():
    # Whatever an example or a failed check left, the server must leave the test running with keyring_operations ON.
    return {'name': 'Resume the server whatever happened',
            'ansible.builtin.command': {'argv': MYSQL_CLI + ['SET GLOBAL keyring_operations = ON']},
            'changed_when': False}


def _inspect(path, register, keystore_type, password=None):
    keystore = {'type': keystore_type, 'path': path}
    if password:
        keystore['password'] = password
    return {'name': 'Read %s' % path, 'keyops.mysql.keyring_info': {'server': False, 'keystores': [keystore]},
            'register': register}


PLUGIN_KEYSTORE = '/var/lib/mysql-keyring/keyring'
COMPONENT_KEYSTORE = '/var/lib/mysql-keyring/component_keyring_file'
ENCRYPTED_KEYSTORE = '/var/lib/mysql-keyring/component_keyring_encrypted_file'
COMPONENT_CONFIG = '/var/lib/mysql/component_keyring_file.cnf'


def _config_names_component_keystore(what):
    """Checks that COMPONENT_CONFIG names COMPONENT_KEYSTORE, as the example left it, still mysql:mysql 0640."""
    return [{'name': 'Read it', 'ansible.builtin.slurp': {'src': COMPONENT_CONFIG}, 'register': 'config'},
            {'name': what, 'ansible.builtin.stat': {'path': COMPONENT_CONFIG}, 'register': 'config_stat'},
            {'name': 'Checked', 'ansible.builtin.assert': {'that': [
                'example is changed',
                "(config.content | b64decode | from_json) == {'path': '%s', 'read_only': false}" % COMPONENT_KEYSTORE,
                "config_stat.stat.pw_name == 'mysql' and config_stat.stat.mode == '0640'"]}}]


# (module, example name) -> where it runs, what the host needs first, what it must have done, what to undo.
# plugin1 holds the 8.0 keyring_file plugin vector at /var/lib/mysql-keyring/keyring and no running server
# (9.7 cannot load the plugin): the offline examples run there. mysql1 runs MySQL 9.7 with
# component_keyring_file at /var/lib/mysql-keyring/component_keyring_file, the socket /run/mysqld/mysqld.sock
# and root@localhost over the socket (the modules log in as the OS user, root, as the examples assume).
SCENARIOS = {
    ('keyring_files_owner', 'Give the keystore and its directory back to mysql'): dict(
        host='mysql1',
        setup=[{'name': 'A keystore and directory that root restored',
                'ansible.builtin.file': {'path': '{{ item }}', 'owner': 'root', 'group': 'root'},
                'loop': ['/var/lib/mysql-keyring', COMPONENT_KEYSTORE]}],
        check=[{'name': 'Stat them', 'ansible.builtin.stat': {'path': '{{ item }}'}, 'loop':
                ['/var/lib/mysql-keyring', COMPONENT_KEYSTORE], 'register': 'owned'},
               {'name': 'Both belong to mysql again', 'ansible.builtin.assert': {'that': [
                   'example is changed',
                   "owned.results | map(attribute='stat.pw_name') | unique == ['mysql']",
                   "owned.results | map(attribute='stat.gr_name') | unique == ['mysql']"]}},
               {'name': 'The server can write its keystore again',
                'ansible.builtin.command': {'argv': MYSQL_CLI + ['ALTER INSTANCE ROTATE INNODB MASTER KEY']},
                'changed_when': True}],
        cleanup=[{'name': 'Keystore back to mysql whatever happened',
                  'ansible.builtin.file': {'path': '{{ item }}', 'owner': 'mysql', 'group': 'mysql'},
                  'loop': ['/var/lib/mysql-keyring', COMPONENT_KEYSTORE]}]),
    ('keyring_config', 'Point component_keyring_file at the new keystore'): dict(
        host='mysql1',
        setup=[{'name': 'A configuration naming another keystore (nothing reloads it before the example)',
                'ansible.builtin.copy': {'dest': COMPONENT_CONFIG, 'owner': 'mysql', 'group': 'mysql', 'mode': '0640',
                                         'content': '{"path": "/var/lib/mysql-keyring/old", "read_only": false}\n'}}],
        check=_config_names_component_keystore('It names the keystore and stays mysql:mysql 0640')),
    ('keyring_config', 'Put the component configuration back as it was before a switch'): dict(
        host='mysql1',
        setup=[{'name': 'A configuration a switch rewrote (nothing reloads it before the example)',
                'ansible.builtin.copy': {'dest': COMPONENT_CONFIG, 'owner': 'mysql', 'group': 'mysql', 'mode': '0640',
                                         'content': '{"path": "/var/lib/mysql-keyring/new", "read_only": false}\n'}},
               {'name': 'The backup the switch made of it first',
                'ansible.builtin.copy': {'dest': COMPONENT_CONFIG + '.4121.2026-12-02@05:06:46~', 'owner': 'mysql',
                                         'group': 'mysql', 'mode': '0640',
                                         'content': '{"path": "%s", "read_only": false}\n' % COMPONENT_KEYSTORE}}],
        check=_config_names_component_keystore('It is the backup again, still mysql:mysql 0640'),
        cleanup=[{'name': 'Remove the backup',
                  'ansible.builtin.file': {'path': COMPONENT_CONFIG + '.4121.2026-12-02@05:06:46~',
                                           'state': 'absent'}}]),
    ('keyring_config', 'Make the manifest load the component'): dict(
        host='mysql1',
        check=[{'name': 'Read it', 'ansible.builtin.slurp': {'src': '/var/lib/mysql/mysqld.my'},
                'register': 'manifest'},
               {'name': 'It loads the component', 'ansible.builtin.assert': {'that': [
                   "(manifest.content | b64decode | from_json) == {'components': 'file://component_keyring_file'}"]}}]),
    ('keyring_config', 'Point the keyring_file plugin at another file'): dict(
        host='plugin1',
        setup=[{'name': 'Its directory', 'ansible.builtin.file': {'path': '/etc/mysql/conf.d', 'state': 'directory',
                                                                  'mode': '0755'}},
               {'name': 'An option file with the plugin on the old keystore, and another section',
                'ansible.builtin.copy': {'dest': '/etc/mysql/conf.d/keyring.cnf', 'mode': '0644', 'content':
                                         '[mysqld]\nearly-plugin-load = keyring_file.so\n'
                                         'keyring-file-data = /var/lib/mysql-old/keyring\n\n'
                                         '[client]\nuser = root\n'}}],
        check=[{'name': 'Read it', 'ansible.builtin.slurp': {'src': '/etc/mysql/conf.d/keyring.cnf'},
                'register': 'options'},
               {'name': 'Only the [mysqld] line changed, in its own spelling', 'ansible.builtin.assert': {'that': [
                   'example is changed',
                   "(options.content | b64decode) == '[mysqld]\\nearly-plugin-load = keyring_file.so\\n"
                   "keyring-file-data = /var/lib/mysql-keyring/keyring\\n\\n[client]\\nuser = root\\n'"]}}],
        cleanup=[{'name': 'Remove the option file', 'ansible.builtin.file': {'path': '/etc/mysql/conf.d/keyring.cnf',
                                                                             'state': 'absent'}}]),
    ('keyring_config', "Take the keyring_file plugin out of the server's option file, keeping its other plugins"): dict(
        host='plugin1',
        setup=[{'name': 'Its directory', 'ansible.builtin.file': {'path': '/etc/mysql/conf.d', 'state': 'directory',
                                                                  'mode': '0755'}},
               {'name': 'An option file loading the plugin beside another one, and an instance group of its own',
                'ansible.builtin.copy': {'dest': '/etc/mysql/conf.d/keyring.cnf', 'mode': '0644', 'content':
                                         '[mysqld]\nearly-plugin-load = "keyring_file.so;keyring_udf.so"  # keys\n'
                                         'loose-keyring-file-data = /var/lib/mysql-keyring/keyring\n\n'
                                         '[mysqld@other]\nkeyring_file_data = /var/lib/other/keyring\n'}}],
        check=[{'name': 'Read it', 'ansible.builtin.slurp': {'src': '/etc/mysql/conf.d/keyring.cnf'},
                'register': 'options'},
               {'name': 'The plugin is out of [mysqld], the other plugin and the other group are as they were',
                'ansible.builtin.assert': {'that': [
                    'example is changed', 'example.backup_file | length > 0',
                    "(options.content | b64decode) == '[mysqld]\\nearly-plugin-load = \"keyring_udf.so\"  # keys\\n"
                    "\\n[mysqld@other]\\nkeyring_file_data = /var/lib/other/keyring\\n'"]}}],
        cleanup=[{'name': 'Find the option file and its backups',
                  'ansible.builtin.find': {'paths': '/etc/mysql/conf.d', 'patterns': 'keyring.cnf*'},
                  'register': 'made'},
                 {'name': 'Remove them', 'ansible.builtin.file': {'path': '{{ item.path }}', 'state': 'absent'},
                  'loop': "{{ made.files }}", 'loop_control': {'label': '{{ item.path }}'}}]),
    ('keyring_info', 'What keyring does this server use, and which keys does it hold?'): dict(
        host='mysql1',
        check=[{'name': 'The report matches the server', 'ansible.builtin.assert': {'that': [
            'example is not changed',
            'example.keyring_operations is true',
            "example.components | selectattr('Component_status', 'equalto', 'Active')"
            " | map(attribute='Data_file') | list == ['%s']" % COMPONENT_KEYSTORE,
            # the keyring_files_owner example rotates the master key, so the server may hold more keys
            "keyring_expected_keys | map(attribute='id') | difference(example['keys'] | map(attribute='key_id'))"
            " | length == 0"]}}]),
    ('keyring_info', 'Report the server, and what copying its keystore into an encrypted keystore would do'): dict(
        host='mysql1',
        vars={'vault_keyring_password': 'examples-test-passphrase'},
        setup=[{'name': 'No encrypted keystore', 'ansible.builtin.file': {'path': ENCRYPTED_KEYSTORE,
                                                                          'state': 'absent'}},
               _inspect(COMPONENT_KEYSTORE, 'source', 'component_keyring_file')],
        check=[{'name': 'Look for the encrypted keystore', 'ansible.builtin.stat': {'path': ENCRYPTED_KEYSTORE},
                'register': 'encrypted'},
               {'name': 'The server is reported with the plan: every key to copy, nothing written',
                'ansible.builtin.assert': {'that': [
                    'example is not changed',
                    'example.keyring_operations is true',
                    'not example.migration.failed and example.migration.changed',
                    'example.migration.destination_created',
                    'example.migration.migrated_count == source.keystores[0].key_count',
                    'example.migration.conflict_count == 0',
                    'not encrypted.stat.exists']}}]),
    ('keyring_info', 'Inspect a keystore file without a server'): dict(
        host='plugin1',
        check=[{'name': 'The file is reported, keys and layout, without key bytes', 'ansible.builtin.assert': {
            'that': [
                'example is not changed',
                'example.keystores | length == 1',
                'example.keystores[0].exists',
                "example.keystores[0].type == 'keyring_file'",
                'example.keystores[0].key_count > 0',
                "example.keystores[0]['keys'] | length == example.keystores[0].key_count",
                "example.keystores[0].details.version == '2.0'",
                'example.server_version is not defined']}}]),
    ('keyring_migrate', "Move the 8.0 keyring_file plugin's keys into component_keyring_file before an 8.4 upgrade"):
    dict(
        host='plugin1',
        setup=[{'name': 'No component keystore yet', 'ansible.builtin.file': {'path': COMPONENT_KEYSTORE,
                                                                              'state': 'absent'}},
               _inspect(PLUGIN_KEYSTORE, 'source_before', 'keyring_file'),
               {'name': 'Checksum of the source', 'ansible.builtin.stat': {
                   'path': PLUGIN_KEYSTORE, 'checksum_algorithm': 'sha256'}, 'register': 'source_stat_before'}],
        check=[_inspect(COMPONENT_KEYSTORE, 'destination', 'component_keyring_file'),
               {'name': 'Stat the source and destination', 'ansible.builtin.stat': {
                   'path': '{{ item }}', 'checksum_algorithm': 'sha256'},
                'loop': [PLUGIN_KEYSTORE, COMPONENT_KEYSTORE], 'register': 'files'},
               {'name': 'Every plugin key is in the new component keystore, owned by mysql; source unchanged',
                'ansible.builtin.assert': {'that': [
                    'example is changed and example.destination_created',
                    'example.migrated | length == source_before.keystores[0].key_count',
                    'destination.keystores[0].key_count == source_before.keystores[0].key_count',
                    "destination.keystores[0]['keys'] | sort(attribute='key_id,user_id')"
                    " == source_before.keystores[0]['keys'] | sort(attribute='key_id,user_id')",
                    'files.results[0].stat.checksum == source_stat_before.stat.checksum',
                    "files.results[1].stat.pw_name == 'mysql' and files.results[1].stat.gr_name == 'mysql'"]}}]),
    ('keyring_migrate', "Copy a running server's component keystore into an encrypted keystore while the server is paused"): dict(
        host='mysql1',
        vars={'vault_keyring_password': 'examples-test-passphrase'},
        setup=[{'name': 'No encrypted keystore yet', 'ansible.builtin.file': {'path': ENCRYPTED_KEYSTORE,
                                                                              'state': 'absent'}}],
        check=[_inspect(COMPONENT_KEYSTORE, 'source', 'component_keyring_file'),
               _inspect(ENCRYPTED_KEYSTORE, 'destination', 'component_keyring_encrypted_file',
                        '{{ vault_keyring_password }}'),
               _operations_is(1),
               {'name': 'The server was paused for the copy only; every key is in the encrypted keystore',
                'ansible.builtin.assert': {'that': [
                    'example is changed and example.destination_created',
                    "example.keyring_operations == {'before': true, 'during': false, 'after': true}",
                    'example.migrated | length == source.keystores[0].key_count',
                    "destination.keystores[0]['keys'] | sort(attribute='key_id,user_id')"
                    " == source.keystores[0]['keys'] | sort(attribute='key_id,user_id')"]}}],
        cleanup=[_resume_server(),
                 {'name': 'Remove the encrypted keystore', 'ansible.builtin.file': {
                     'path': ENCRYPTED_KEYSTORE, 'state': 'absent'}}]),
    ('rollout_info', "Read this play's batches"): dict(
        host='mysql1',
        check=[{'name': 'One batch of one host, under the default strategy', 'ansible.builtin.assert': {'that': [
            'not example.batched and example.batch == 1 and example.batches == 1',
            "example.run_hosts == ['mysql1'] and example.strategy == 'linear'"]}}]),
    ('migration_report', "Write the run's report"): dict(
        host='mysql1',
        check=[{'name': 'The report is on the controller, with a line for the host', 'ansible.builtin.assert': {'that': [
            "example.written and example.run_id == 'change-4711'",
            "example.report == '/var/tmp/keyring-reports/keyring-migration-change-4711.json'",
            "(lookup('ansible.builtin.file', example.report) | from_json).hosts.mysql1.verification == 'not run'",
            "lookup('ansible.builtin.file', '/var/tmp/keyring-reports/keyring-migration-report.md')"
            " is search('# Keyring migration report')"]}}],
        cleanup=[{'name': 'Remove the reports', 'ansible.builtin.file': {
            'path': '/var/tmp/keyring-reports', 'state': 'absent'}, 'delegate_to': 'localhost'}]),
    ('health_gate', 'Note what a source has executed, without waiting'): dict(
        host='mysql1',
        check=[{'name': 'Reported, neither waited nor failed', 'ansible.builtin.assert': {'that': [
            'source_state.passed and source_state is not changed',
            'source_state.status.server_uuid in source_state.status.gtid_executed',
            "source_state.gates | map(attribute='name') | list == ['keyring_operations']"]}}]),
    ('health_gate', 'Wait until a restarted server is healthy and has applied what the source had'): dict(
        host='mysql1',
        setup=[{'name': 'What the server has executed', 'keyops.mysql.health_gate': {
            'wait': False, 'login_unix_socket': '/run/mysqld/mysqld.sock'}, 'register': 'source_state'}],
        check=[{'name': 'Passed, the GTIDs checked', 'ansible.builtin.assert': {'that': [
            'example.passed and example is not changed',
            "'applied what its source had' in example.gates | map(attribute='name') | list"]}}]),
    ('keyring_operations', 'Pause keyring operations for an online key migration'): dict(
        host='mysql1',
        check=[_operations_is(0),
               {'name': 'The pause left its marker', 'ansible.builtin.find': {'paths': '/run/keyops-mysql'},
                'register': 'markers'},
               {'name': 'Paused, and marked as paused by keyops', 'ansible.builtin.assert': {'that': [
                   'example is changed and example.previous and not example.current',
                   'markers.matched == 1']}}],
        cleanup=[_resume_server(),
                 {'name': 'Remove the marker', 'ansible.builtin.file': {'path': '/run/keyops-mysql', 'state': 'absent'}}]),
    ('keyring_operations', 'Resume them'): dict(
        host='mysql1',
        setup=[{'name': 'A server keyops paused', 'keyops.mysql.keyring_operations': {
            'state': 'disabled', 'login_unix_socket': '/run/mysqld/mysqld.sock'}}],
        check=[_operations_is(1),
               {'name': 'Look for markers', 'ansible.builtin.find': {'paths': '/run/keyops-mysql'},
                'register': 'markers'},
               {'name': 'Resumed, and the marker is gone', 'ansible.builtin.assert': {'that': [
                   'example is changed and not example.previous and example.current',
                   'markers.matched == 0']}}],
        cleanup=[_resume_server()]),
    ('keyring_operations', "Resume a server an interrupted keyops run left paused, and leave a DBA's pause alone"): dict(
        host='mysql1',
        setup=[{'name': 'A server a DBA paused (no keyops marker)',
                'ansible.builtin.command': {'argv': MYSQL_CLI + ['SET GLOBAL keyring_operations = OFF']},
                'changed_when': False}],
        check=[_operations_is(0),
               {'name': 'Left paused, and said so', 'ansible.builtin.assert': {'that': [
                   'example is not changed and example.left_paused and not example.current']}}],
        cleanup=[_resume_server()]),
}


def test_every_example_has_a_scenario():
    missing = [(module, task.get('name')) for module, _i, task in EXAMPLES
               if (module, task.get('name')) not in SCENARIOS]
    stale = set(SCENARIOS) - set((module, task.get('name')) for module, _i, task in EXAMPLES)
    assert not missing, 'examples with no scenario in %s (add one, so they run): %s' % (__file__, missing)
    assert not stale, 'scenarios for examples that no longer exist: %s' % sorted(stale)
    assert len(EXAMPLES) >= 7


@pytest.fixture(scope='module')
def fleet(sandbox_fleet, monkeypatch_module):
    # A fleet of its own: the examples pause servers and rewrite keystores.
    monkeypatch_module.setenv('ANSIBLE_COLLECTIONS_PATH', os.path.join(REPO_ROOT, '.cache', 'collections'))
    own = sandbox_fleet(n=1, plugin_host=True, fresh=True)
    yield own
    own.down()


@pytest.fixture(scope='module')
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def example_playbook(module, task, scenario):
    """A play on the scenario's host: setup, the example as written, then again, then the checks; cleanup always."""
    example = dict(task)
    registered = example.setdefault('register', 'example')
    again = dict(task, name='The same example again', register='example_again')
    steps = list(scenario.get('setup', [])) + [example]
    if registered != 'example':
        steps.append({'name': 'Name the result example', 'ansible.builtin.set_fact': {
            'example': '{{ %s }}' % registered}})
    steps += list(scenario.get('check', [])) + [
        again,
        {'name': 'Running the example again changes nothing', 'ansible.builtin.assert': {'that': [
            'example_again is not changed']}}]
    block = {'name': 'Example: %s' % task['name'], 'block': steps}
    if scenario.get('cleanup'):
        block['always'] = scenario['cleanup']
    return [{'name': '%s example' % module, 'hosts': scenario['host'], 'gather_facts': False,
             'vars': scenario.get('vars', {}), 'tasks': [block]}]


@pytest.mark.parametrize('module,index,task', EXAMPLES,
                         ids=['%s-%d' % (module, index) for module, index, _t in EXAMPLES])
def test_example_runs_as_written(fleet, tmp_path, module, index, task):
    scenario = SCENARIOS.get((module, task.get('name')))
    assert scenario, 'example %d of %s (%r) has no scenario, so it is not run' % (index, module, task.get('name'))
    assert 'keyops.mysql.%s' % module in task, 'example %d of %s does not call keyops.mysql.%s by its FQCN' % (
        index, module, module)
    playbook = tmp_path / ('%s-%d.yml' % (module, index))
    playbook.write_text(yaml.safe_dump(example_playbook(module, task, scenario), sort_keys=False))
    res = fleet.playbook(str(playbook), timeout=600)
    output = res.stdout + res.stderr
    assert res.returncode == 0, output[-12000:]
    recap = re.findall(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', res.stdout, re.M)
    assert [host for host, _ok, _c, unreachable, failed in recap if unreachable == '0' and failed == '0'] == [
        scenario['host']], output
