# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role in situations the molecule scenarios do not cover, on a real MySQL 9.7 host.

- Check mode: nothing on the host changes (no pause, no file, no switch, no restart), and the report is still
  written, as the plan.
- A run of keyops.mysql.migrate killed after it rewrote a server's keyring configuration but before it restarted
  the server: the next run must finish the switch (restart onto the destination) and then change nothing.
  Without that, the server would go on using the source with its configuration on the destination, and whatever
  restarted it later would move it to a keystore lacking the keys created meanwhile.
- Refused at preflight, before any change: a server on neither the source nor the destination, with either
  `use_after` (after the run it would be on neither, which the role cannot verify); a switch to the
  keyring_file plugin on a server that has none (8.4 and later: it would not start again); a server that must
  restart when only keyring_migration_restart_command says how (it must be stopped and started); a switch
  that would rewrite a global manifest or component configuration deferring to the datadir's; one server under
  two inventory names (the same destination, the same server_uuid); a symbolic link the server's OS user planted
  at the component configuration in the data directory, or beside the destination keystore (its .backup), pointing
  at a root-only file, which must come out of the run with its owner, mode and content, shown nowhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess

import pytest
import yaml

from ..conftest import REPO_ROOT

pytestmark = pytest.mark.integration
SOURCE = '/var/lib/mysql-keyring/component_keyring_file'
DESTINATION = '/var/lib/mysql-keyring/component_keyring_file.migrated'
VARS = os.path.join(REPO_ROOT, 'tests', 'sandbox', 'demo', 'migration_vars.yml')
MYSQL = ['mysql', '-uroot', '--batch', '--skip-column-names', '-e']


@pytest.fixture(scope='module')
def fleet(sandbox_fleet):
    own = sandbox_fleet(n=1, fresh=True)
    yield own
    own.down()


def migrate(fleet, tmp_path, name, *args):
    argv = [fleet.ansible_bin('ansible-playbook'), '-i', str(fleet.inventory), '-e', '@' + VARS, *args,
            '-e', 'keyring_migration_report_dir=%s' % (tmp_path / name), 'keyops.mysql.migrate']
    res = subprocess.run(
        argv,
        env=fleet.ansible_env(ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.cache', 'collections')),
        cwd=fleet.state_dir, capture_output=True, text=True, timeout=900, check=False)
    recap = re.findall(r'^mysql1\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', res.stdout, re.M)
    report = json.loads((tmp_path / name / 'keyring-migration-report.json').read_text())
    return res, recap, report


def one(fleet, argv):
    result = fleet.command('mysql1', argv)['mysql1']
    assert result.get('rc') == 0, result
    return result['stdout']


def data_file(fleet):
    """The keystore the server's component uses."""
    return one(fleet, MYSQL + ["SELECT STATUS_VALUE FROM performance_schema.keyring_component_status "
                               "WHERE STATUS_KEY = 'Data_file'"])


def untouched(fleet, *files):
    """What a run refused at preflight leaves as it was: the server (its PID and keyring_operations), the keystore
    directory, and these files."""
    return {'pid': one(fleet, ['cat', '/run/mysqld/mysqld.pid']),
            'keyring_operations': one(fleet, MYSQL + ['SELECT @@GLOBAL.keyring_operations']),
            'keystores': one(fleet, ['ls', '-l', '/var/lib/mysql-keyring']),
            'files': one(fleet, ['cat', *files]) if files else None}


def codes(entry):
    """The problem codes the report gives a host (the role decides on codes, never on message text)."""
    return [problem['code'] for problem in entry.get('problems') or ()]


def test_check_mode_changes_nothing_and_writes_the_plan(fleet, tmp_path):
    config = fleet.hosts['mysql1']['keyring_component_config']
    before = {'config': one(fleet, ['cat', config]), 'pid': one(fleet, ['cat', '/run/mysqld/mysqld.pid']),
              'keystores': one(fleet, ['ls', '/var/lib/mysql-keyring'])}
    res, recap, report = migrate(fleet, tmp_path, 'check', '--check')
    assert res.returncode == 0 and recap and recap[0][1:] == ('0', '0'), res.stdout[-8000:]
    after = {'config': one(fleet, ['cat', config]), 'pid': one(fleet, ['cat', '/run/mysqld/mysqld.pid']),
             'keystores': one(fleet, ['ls', '/var/lib/mysql-keyring'])}
    assert after == before
    assert one(fleet, MYSQL + ['SELECT @@GLOBAL.keyring_operations']) == '1'
    assert one(fleet, ['sh', '-c', 'ls /run/keyops-mysql 2>/dev/null || true']) == ''    # no pause marker
    entry = report['hosts']['mysql1']
    assert report['check_mode'] is True and report['result'] == 'success', report
    assert entry['copied'] == len(fleet.hosts['mysql1']['keyring_expected_keys']) and entry['action'] == 'switch'
    assert (entry['paused'], entry['restarted'], entry['verification']) == (False, False, 'check mode: not verified')
    assert 'Check mode: nothing was changed' in (tmp_path / 'check' / 'keyring-migration-report.md').read_text()


def test_a_run_killed_between_config_rewrite_and_reload_is_finished_by_the_next_run(fleet, tmp_path):
    config = fleet.hosts['mysql1']['keyring_component_config']
    key_ids = sorted(one(fleet, MYSQL + ['SELECT key_id FROM performance_schema.keyring_keys']).split())
    # What the killed run left: the server paused (with keyops' marker), the keys copied, the configuration
    # rewritten to the destination, and no restart.
    subprocess.run(
        [fleet.ansible_bin('ansible'), '-i', str(fleet.inventory), 'mysql1', '-m', 'keyops.mysql.keyring_operations',
         '-a', json.dumps({'state': 'disabled', 'login_unix_socket': '/run/mysqld/mysqld.sock'})],
        env=fleet.ansible_env(ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.cache', 'collections')),
        cwd=fleet.state_dir, capture_output=True, text=True, timeout=300, check=True)
    subprocess.run(
        [fleet.ansible_bin('ansible'), '-i', str(fleet.inventory), 'mysql1', '-m', 'keyops.mysql.keyring_migrate',
         '-a', json.dumps({'source': {'type': 'component_keyring_file', 'path': SOURCE},
                           'destination': {'type': 'component_keyring_file', 'path': DESTINATION}})],
        env=fleet.ansible_env(ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.cache', 'collections')),
        cwd=fleet.state_dir, capture_output=True, text=True, timeout=300, check=True)
    # Byte for byte what the role's switch writes (its old settings, path replaced, to_json, newline), so the
    # next run finds nothing to rewrite there.
    one(fleet, ['/usr/bin/python3', '-c', 'import json, sys; c = json.load(open(sys.argv[1])); c["path"] = sys.argv[2]; '
                'open(sys.argv[1], "w").write(json.dumps(c) + "\\n")', config, DESTINATION])
    assert one(fleet, MYSQL + ['SELECT @@GLOBAL.keyring_operations']) == '0'

    res, recap, report = migrate(fleet, tmp_path, 'first')
    assert res.returncode == 0 and recap and recap[0][1:] == ('0', '0'), res.stdout[-8000:]
    entry = report['hosts']['mysql1']
    # Finished without a restart: the server, still on the source in memory, reloads its keyring.
    assert entry['restarted'] is False and entry['resumed_interrupted_run'] is True, entry
    assert entry['how'] == 'reload' and entry['reloaded'] is True and entry['switched_without_restart'] is True, entry
    assert entry['keystore_after'] == DESTINATION and entry['verification'] == 'passed', entry
    assert data_file(fleet) == DESTINATION
    assert sorted(one(fleet, MYSQL + ['SELECT key_id FROM performance_schema.keyring_keys']).split()) == key_ids
    assert one(fleet, MYSQL + ['SELECT @@GLOBAL.keyring_operations']) == '1'
    assert one(fleet, ['find', '/run/keyops-mysql', '-type', 'f']) == ''

    res, recap, report = migrate(fleet, tmp_path, 'again')
    assert res.returncode == 0 and recap and recap[0] == ('0', '0', '0'), res.stdout[-8000:]
    assert report['hosts']['mysql1']['restarted'] is False


@pytest.mark.parametrize('use_after', ['source', 'destination'])
def test_a_server_on_neither_keystore_is_refused_before_any_change(fleet, tmp_path, use_after):
    # The previous test left the server on DESTINATION; SOURCE still exists. Copy SOURCE to a new keystore.
    uses = data_file(fleet)
    assert uses not in (SOURCE, SOURCE + '.neither')
    before = untouched(fleet)
    endpoints = {'keyring_migration_source': {'type': 'component_keyring_file', 'path': SOURCE},
                 'keyring_migration_destination': {'type': 'component_keyring_file', 'path': SOURCE + '.neither'},
                 'keyring_migration_use_after': use_after}
    res, recap, report = migrate(fleet, tmp_path, use_after, '-e', json.dumps(endpoints))
    assert res.returncode != 0 and recap and recap[0][0] == '0', res.stdout[-8000:]
    assert 'the server uses neither the source nor the destination keystore (it uses %s)' % uses in res.stdout
    assert report['result'] != 'success', report
    entry = report['hosts']['mysql1']
    assert (entry['copied'], entry['paused'], entry['restarted']) == (0, False, False), entry
    assert untouched(fleet) == before
    assert one(fleet, MYSQL + ['SELECT @@GLOBAL.keyring_operations']) == '1'


def test_a_switch_to_the_keyring_file_plugin_on_a_server_without_it_is_refused_before_any_change(fleet, tmp_path):
    # MySQL 9.7 has no keyring_file plugin: after such a switch the server would not start.
    uses = data_file(fleet)
    before = untouched(fleet, '/etc/mysql/my.cnf')
    endpoints = {'keyring_migration_source': {'type': 'component_keyring_file', 'path': uses},
                 'keyring_migration_destination': {'type': 'keyring_file', 'path': '/var/lib/mysql-keyring/keyring'},
                 'keyring_migration_option_file': '/etc/mysql/my.cnf'}
    res, recap, report = migrate(fleet, tmp_path, 'to-plugin', '-e', json.dumps(endpoints))
    assert res.returncode != 0 and recap and recap[0][0] == '0', res.stdout[-8000:]
    assert re.search(r'the server is MySQL 9\.7\.\d+, which has no keyring_file plugin \(removed in 8\.4\)', res.stdout)
    entry = report['hosts']['mysql1']
    assert codes(entry) == ['keyring_file_plugin_removed'], entry
    assert (entry['copied'], entry['paused'], entry['restarted']) == (0, False, False), entry
    assert untouched(fleet, '/etc/mysql/my.cnf') == before
    assert one(fleet, MYSQL + ['SELECT @@GLOBAL.keyring_operations']) == '1'


def test_a_server_to_restart_with_only_a_restart_command_is_refused_before_any_change(fleet, tmp_path):
    uses = data_file(fleet)
    before = untouched(fleet)
    endpoints = {'keyring_migration_source': {'type': 'component_keyring_file', 'path': uses},
                 'keyring_migration_destination': {'type': 'component_keyring_file', 'path': uses + '.restarted'},
                 # The restart is the pause: stopped, given what the source gained, started. A restart command
                 # cannot leave the server down for the copy.
                 'keyring_migration_stop_command': '', 'keyring_migration_start_command': '',
                 'keyring_migration_restart_command': '/usr/local/sbin/mysql-service restart',
                 'keyring_migration_restart_policy': 'always'}
    res, recap, report = migrate(fleet, tmp_path, 'restart-command', '-e', json.dumps(endpoints))
    assert res.returncode != 0 and recap and recap[0][0] == '0', res.stdout[-8000:]
    assert 'set keyring_migration_stop_command and keyring_migration_start_command' in res.stdout, res.stdout[-5000:]
    entry = report['hosts']['mysql1']
    assert codes(entry) == ['cannot_stop_and_start'], entry
    assert (entry['copied'], entry['paused'], entry['restarted']) == (0, False, False), entry
    assert untouched(fleet) == before


def test_a_switch_that_would_rewrite_global_files_deferring_to_the_datadir_is_refused(fleet, tmp_path):
    # The sandbox's global manifest and configuration defer to the datadir's (read_local_manifest,
    # read_local_config), as on a host with one keystore per instance.
    uses = data_file(fleet)
    manifest, config = '/usr/sbin/mysqld.my', '/usr/lib/mysql/plugin/component_keyring_file.cnf'
    before = untouched(fleet, manifest, config)
    endpoints = {'keyring_migration_source': {'type': 'component_keyring_file', 'path': uses},
                 'keyring_migration_destination': {'type': 'component_keyring_file', 'path': uses + '.global'},
                 'keyring_migration_component_manifest': manifest, 'keyring_migration_component_config': config}
    res, recap, report = migrate(fleet, tmp_path, 'global', '-e', json.dumps(endpoints))
    assert res.returncode != 0 and recap and recap[0][0] == '0', res.stdout[-8000:]
    assert ("keyring_migration_component_config %s defers to the configuration file in the data directory "
            "(read_local_config)" % config) in res.stdout, res.stdout[-5000:]
    assert ("keyring_migration_component_manifest %s defers to the manifest in the data directory "
            "(read_local_manifest)" % manifest) in res.stdout
    assert report['hosts']['mysql1']['copied'] == 0
    assert codes(report['hosts']['mysql1']) == ['component_config_defers', 'component_manifest_defers']
    assert untouched(fleet, manifest, config) == before
    assert one(fleet, MYSQL + ['SELECT @@GLOBAL.keyring_operations']) == '1'


def test_two_inventory_names_for_one_server_are_refused_before_any_change(fleet, tmp_path):
    # One server under two inventory names (or two cloned servers): both would write the same destination, and
    # their server_uuid (the InnoDB master key ids' prefix) is the same.
    inventory = yaml.safe_load(fleet.inventory.read_text())
    hosts = inventory['all']['children']['mysql']['hosts']
    hosts['mysql1_alias'] = dict(hosts['mysql1'])
    aliased = tmp_path / 'inventory.yml'
    aliased.write_text(yaml.safe_dump(inventory))
    before = untouched(fleet)
    res, recap, report = migrate(fleet, tmp_path, 'alias', '-i', str(aliased))
    assert res.returncode != 0 and recap and recap[0][0] == '0', res.stdout[-8000:]
    address = hosts['mysql1']['ansible_host']
    for name, other in (('mysql1', 'mysql1_alias'), ('mysql1_alias', 'mysql1')):
        assert report['hosts'][name]['status'] == 'failed' and report['hosts'][name]['copied'] == 0
        assert codes(report['hosts'][name]) == ['shared_destination', 'cloned_server_uuid']
        assert 'the destination %s:%s is also written by %s' % (address, DESTINATION, other) in res.stdout
        assert re.search(r'server_uuid [0-9a-f-]{36} is shared with %s \(cloned servers' % other, res.stdout)
    assert untouched(fleet) == before


VICTIM = '/root/keyops-victim'
VICTIM_CONTENT = 'root:victim-secret-hash:19000:0:99999:7:::'


@pytest.mark.parametrize('planted', ['component_config', 'destination_backup'])
def test_a_link_the_server_user_planted_is_refused_and_its_target_untouched(fleet, tmp_path, planted):
    # The data directory and the keystore directory belong to mysql: as mysql (a link owned by mysql), point the
    # component configuration the switch rewrites, or a .backup beside the destination, at a root-only file.
    uses = data_file(fleet)
    destination = uses + '.hostile'
    config = fleet.hosts['mysql1']['keyring_component_config']
    target = config if planted == 'component_config' else destination + '.backup'
    one(fleet, ['sh', '-c', 'umask 077 && printf %s "$1" > "$2" && chmod 0600 "$2"', 'sh', VICTIM_CONTENT, VICTIM])
    if planted == 'component_config':
        one(fleet, ['mv', config, config + '.real'])
    one(fleet, ['sh', '-c', 'ln -s "$1" "$2" && chown -h mysql:mysql "$2"', 'sh', VICTIM, target])
    victim_before = one(fleet, ['stat', '-c', '%U:%G %a %s', VICTIM])
    before = untouched(fleet)
    try:
        endpoints = {'keyring_migration_source': {'type': 'component_keyring_file', 'path': uses},
                     'keyring_migration_destination': {'type': 'component_keyring_file', 'path': destination}}
        res, recap, report = migrate(fleet, tmp_path, planted, '-e', json.dumps(endpoints))
        output = res.stdout + res.stderr + json.dumps(report)
        assert res.returncode != 0 and recap and recap[0][0] == '0', res.stdout[-8000:]
        assert '%s: is a symbolic link owned by mysql' % target in res.stdout, res.stdout[-5000:]
        assert 'victim-secret-hash' not in output
        assert report['hosts']['mysql1']['copied'] == 0
        assert codes(report['hosts']['mysql1']) == (
            ['switch_file_unreadable'] if planted == 'component_config' else ['copy_refused'])
        assert untouched(fleet) == before
        assert one(fleet, ['stat', '-c', '%U:%G %a %s', VICTIM]) == victim_before == 'root:root 600 %d' % len(
            VICTIM_CONTENT)
        assert one(fleet, ['cat', VICTIM]) == VICTIM_CONTENT
    finally:
        one(fleet, ['rm', '-f', target])
        if planted == 'component_config':
            one(fleet, ['mv', config + '.real', config])
