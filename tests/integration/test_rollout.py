# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role rolled out in batches on a real 4-host MySQL 9.7 fleet, each server seen through its own general log.

The tests run in order on one fleet, each moving the servers on from where the one before left them:
1. keyops.mysql.migrate with keyring_migration_batch_size 2: no server restarts (same PID, Uptime grows), each
   server's keyring is OFF for at most 100 ms (SET ... OFF to SET ... ON in its general log), the second batch
   pauses only after the first resumed, encrypted tables read, no key lost; a re-run pauses and changes nothing.
2. The role in a user's own play with `serial: 2`: the same, batch by batch, with one report for the run.
3. A failure in batch 1 (a server given a keystore it cannot read): that server is back on its old keystore with
   every key, its batch mate finished, batch 2 never paused, the run failed, and the report says who and why.
4. restart_policy: always restarts each switched server exactly once.
5. keyops.mysql.rollback after a switch and a master key rotation on the destination: the server is back on the
   source, which now holds the rotated key, tables read; a host the migration never reached is left alone.
6. keyops.mysql.status: per host the keystore in use, the one the configuration names (a mismatch shown), the pause
   state and the configuration backups the switches left.
7. The restarting procedure with a server that does not come back (its new keystore unreadable, mode 0000): its configuration
   is put back from the backup made before the switch, it is started again on its old keystore with every key.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import sys

import pymysql
import pytest
import yaml

from ..conftest import REPO_ROOT

pytestmark = pytest.mark.integration
VARS = os.path.join(REPO_ROOT, 'tests', 'sandbox', 'demo', 'migration_vars.yml')
KEYSTORES = '/var/lib/mysql-keyring/'
HOSTS = ['mysql1', 'mysql2', 'mysql3', 'mysql4']
PAUSE_GOAL_S = 0.100


@pytest.fixture(scope='module')
def fleet(sandbox_fleet):
    own = sandbox_fleet(n=4, fresh=True)     # its own: the tests move every server to new keystores
    yield own
    own.down()


class Server(object):
    """A sandbox server, over its socket on the controller (the host's root is mounted here)."""

    def __init__(self, fleet, host):
        self.host = host
        self.root = fleet.hosts[host]['keyops_sandbox_root']
        self.tables = fleet.hosts[host]['encrypted_tables']

    def query(self, sql):
        conn = pymysql.connect(unix_socket=self.root + '/run/mysqld/mysqld.sock', user='root', autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        finally:
            conn.close()

    def value(self, sql):
        return self.query(sql)[0][0]

    def start_logging(self):
        """The general log, into mysql.general_log, emptied: every statement from now on, with its time."""
        for sql in ("SET GLOBAL general_log = OFF", "SET GLOBAL log_output = 'TABLE'", "TRUNCATE mysql.general_log",
                    "SET GLOBAL general_log = ON"):
            self.query(sql)

    def keyring_statements(self):
        """(epoch seconds, 'OFF' or 'ON') for every SET GLOBAL keyring_operations the server ran since logging began."""
        rows = self.query("SELECT UNIX_TIMESTAMP(event_time), argument FROM mysql.general_log WHERE command_type = "
                          "'Query' AND CONVERT(argument USING utf8mb4) LIKE 'SET GLOBAL keyring_operations%' "
                          "ORDER BY event_time")
        return [(float(at), 'OFF' if re.search(r'(OFF|0)\s*$', text.decode() if isinstance(text, bytes) else text,
                                               re.I) else 'ON') for at, text in rows]

    def state(self):
        return dict(pid=open(self.root + '/run/mysqld/mysqld.pid').read().strip(),
                    uptime=int(self.query("SHOW GLOBAL STATUS LIKE 'Uptime'")[0][1]),
                    data_file=self.query("SELECT STATUS_VALUE FROM performance_schema.keyring_component_status "
                                         "WHERE STATUS_KEY = 'Data_file'")[0][0],
                    keys=sorted(row[0] for row in self.query('SELECT key_id FROM performance_schema.keyring_keys')),
                    operations=self.value('SELECT @@GLOBAL.keyring_operations'),
                    rows=dict((table, self.value('SELECT COUNT(*) FROM %s' % table)) for table in self.tables))


def servers(fleet):
    return [Server(fleet, host) for host in HOSTS]


def pause_windows(statements):
    """Each OFF -> ON interval, in seconds."""
    windows, off_at = [], None
    for at, value in statements:
        if value == 'OFF':
            off_at = at
        elif off_at is not None:
            windows.append((off_at, at))
            off_at = None
    return windows


def run(fleet, tmp_path, name, playbook='keyops.mysql.migrate', extra=None, inventories=(), **env):
    extra_file = tmp_path / ('%s-vars.json' % name)
    extra_file.write_text(json.dumps(dict(extra or {}, keyring_migration_report_dir=str(tmp_path / name))))
    argv = [fleet.ansible_bin('ansible-playbook'), '-i', str(fleet.inventory)]
    for inventory in inventories:
        argv += ['-i', str(inventory)]
    argv += ['-e', '@' + VARS, '-e', '@%s' % extra_file, str(playbook)]
    res = subprocess.run(argv, env=fleet.ansible_env(ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.cache',
                                                                                           'collections'), **env),
                         cwd=fleet.state_dir, capture_output=True, text=True, timeout=900, check=False)
    recap = dict((host, dict(changed=int(changed), failed=int(failed))) for host, changed, failed in re.findall(
        r'^(mysql\d)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)', res.stdout, re.M))
    report_file = tmp_path / name / 'keyring-migration-report.json'
    report = json.loads(report_file.read_text()) if report_file.exists() else None
    return res, recap, report


def move(source, destination):
    return dict(keyring_migration_source=dict(type='component_keyring_file', path=KEYSTORES + source),
                keyring_migration_destination=dict(type='component_keyring_file', path=KEYSTORES + destination))


def test_batches_of_two_switch_without_a_restart_and_pause_one_batch_after_the_other(fleet, tmp_path):
    fleet_servers = servers(fleet)
    before = dict((s.host, s.state()) for s in fleet_servers)
    for server in fleet_servers:
        server.start_logging()

    res, recap, report = run(fleet, tmp_path, 'batches', extra=dict(keyring_migration_batch_size=2),
                             ANSIBLE_SHOW_CUSTOM_STATS='True')
    assert res.returncode == 0, res.stdout[-6000:]

    after = dict((s.host, s.state()) for s in fleet_servers)
    logged = dict((s.host, s.keyring_statements()) for s in fleet_servers)
    windows = dict((host, pause_windows(statements)) for host, statements in logged.items())
    for host in HOSTS:
        assert after[host]['pid'] == before[host]['pid'], host              # no restart
        assert after[host]['uptime'] >= before[host]['uptime'], host
        assert after[host]['data_file'] == KEYSTORES + 'component_keyring_file.migrated', host
        assert after[host]['keys'] == before[host]['keys'] and after[host]['rows'] == before[host]['rows'], host
        assert after[host]['operations'] == 1, host
        assert len(windows[host]) == 1 and logged[host][-1][1] == 'ON', (host, logged[host])
        off, on = windows[host][0]
        assert on - off <= PAUSE_GOAL_S, (host, on - off)
    # Batch 2 (mysql3, mysql4) paused only after batch 1 (mysql1, mysql2) had resumed.
    assert max(windows[h][0][1] for h in HOSTS[:2]) < min(windows[h][0][0] for h in HOSTS[2:]), windows

    assert report['result'] == 'success' and report['batches'] == 2 and report['run_id'], report
    assert dict((h, (e['status'], e['batch'], e['how'], e['restarted'], e['switched_without_restart']))
                for h, e in report['hosts'].items()) == dict(
        mysql1=('ok', 1, 'reload', False, True), mysql2=('ok', 1, 'reload', False, True),
        mysql3=('ok', 2, 'reload', False, True), mysql4=('ok', 2, 'reload', False, True))
    assert (tmp_path / 'batches' / ('keyring-migration-%s.json' % report['run_id'])).exists()
    # The summary AWX keeps as the job's artifacts (set_stats): the last batch's, every host in it.
    stats = res.stdout[res.stdout.index('CUSTOM STATS'):]
    assert report['run_id'] in stats and '"result": "success"' in stats
    assert all('"%s": "ok"' % host in stats for host in HOSTS), stats

    for server in fleet_servers:
        server.start_logging()
    res, recap, report = run(fleet, tmp_path, 'rerun', extra=dict(keyring_migration_batch_size=2))
    assert res.returncode == 0, res.stdout[-6000:]
    assert recap == dict((host, dict(changed=0, failed=0)) for host in HOSTS), res.stdout[-3000:]
    assert all(not s.keyring_statements() for s in fleet_servers)          # nothing paused
    assert dict((s.host, s.state()['pid']) for s in fleet_servers) == dict((h, after[h]['pid']) for h in HOSTS)


def test_the_role_in_a_users_own_serial_play(fleet, tmp_path):
    playbook = tmp_path / 'serial.yml'
    playbook.write_text(yaml.safe_dump([dict(
        name='A DBA\'s own play, two hosts at a time', hosts='mysql', gather_facts=False, serial=2,
        max_fail_percentage=0, roles=[dict(role='keyops.mysql.keyring_migration')])]))
    fleet_servers = servers(fleet)
    before = dict((s.host, s.state()) for s in fleet_servers)
    for server in fleet_servers:
        server.start_logging()

    res, recap, report = run(fleet, tmp_path, 'serial', playbook=playbook,
                             extra=move('component_keyring_file.migrated', 'component_keyring_file.serial'))
    assert res.returncode == 0, res.stdout[-6000:]
    windows = dict((s.host, pause_windows(s.keyring_statements())) for s in fleet_servers)
    for server in fleet_servers:
        state = server.state()
        assert state['pid'] == before[server.host]['pid'] and state['keys'] == before[server.host]['keys']
        assert state['data_file'] == KEYSTORES + 'component_keyring_file.serial'
        assert len(windows[server.host]) == 1
    assert max(windows[h][0][1] for h in HOSTS[:2]) < min(windows[h][0][0] for h in HOSTS[2:]), windows
    # One report for the run: batch 2 wrote it with batch 1's lines kept.
    assert report['result'] == 'success' and report['batch'] == 2 and report['batches'] == 2, report
    assert sorted(report['hosts']) == HOSTS and all(e['status'] == 'ok' for e in report['hosts'].values())
    assert len(list((tmp_path / 'serial').glob('keyring-migration-*.json'))) == 2   # the run's, and the latest copy


def test_a_failure_in_batch_one_rolls_that_server_back_and_never_pauses_batch_two(fleet, tmp_path):
    # mysql1's new keystore gets mode 0000: its server (user mysql) cannot read it, so the reload that would switch
    # it is rejected.
    unreadable = tmp_path / 'unreadable.yml'
    unreadable.write_text(yaml.safe_dump(dict(all=dict(hosts=dict(mysql1=dict(keyring_migration_mode='0000'))))))
    fleet_servers = servers(fleet)
    before = dict((s.host, s.state()) for s in fleet_servers)
    for server in fleet_servers:
        server.start_logging()

    res, recap, report = run(fleet, tmp_path, 'failure', inventories=[unreadable],
                             extra=dict(move('component_keyring_file.serial', 'component_keyring_file.third'),
                                        keyring_migration_batch_size=2))
    assert res.returncode != 0, res.stdout[-6000:]
    after = dict((s.host, s.state()) for s in fleet_servers)
    logged = dict((s.host, s.keyring_statements()) for s in fleet_servers)
    # mysql1: rolled back, running on its old keystore with every key, not restarted, keyring ON.
    assert after['mysql1']['data_file'] == KEYSTORES + 'component_keyring_file.serial'
    assert after['mysql1']['keys'] == before['mysql1']['keys'] and after['mysql1']['rows'] == before['mysql1']['rows']
    assert after['mysql1']['pid'] == before['mysql1']['pid'] and after['mysql1']['operations'] == 1
    # mysql2, its batch mate, finished; batch 2 was never paused and is where it was.
    assert after['mysql2']['data_file'] == KEYSTORES + 'component_keyring_file.third'
    for host in HOSTS[2:]:
        assert logged[host] == [], (host, logged[host])
        assert after[host]['data_file'] == KEYSTORES + 'component_keyring_file.serial'
        assert after[host]['pid'] == before[host]['pid']
    statuses = dict((h, e['status']) for h, e in report['hosts'].items())
    assert statuses == dict(mysql1='failed', mysql2='ok', mysql3='not run', mysql4='not run'), report
    assert report['result'] == 'failed' and report['stopped_after_batch'] == 1
    assert 'reload' in report['hosts']['mysql1']['reason'].lower(), report['hosts']['mysql1']
    assert 'stopped after batch 1' in report['hosts']['mysql3']['reason']


def test_restart_policy_always_restarts_each_switched_server_exactly_once(fleet, tmp_path):
    # mysql3 and mysql4, still on the .serial keystore, move with a restart each.
    fleet_servers = [s for s in servers(fleet) if s.host in ('mysql3', 'mysql4')]
    error_log_starts = dict((s.host, ready_count(s)) for s in fleet_servers)
    res, recap, report = run(fleet, tmp_path, 'always',
                             extra=dict(move('component_keyring_file.serial', 'component_keyring_file.fourth'),
                                        keyring_migration_hosts='mysql3,mysql4',
                                        keyring_migration_restart_policy='always'))
    assert res.returncode == 0, res.stdout[-6000:]
    for server in fleet_servers:
        assert ready_count(server) == error_log_starts[server.host] + 1, server.host     # started once more
        assert server.state()['data_file'] == KEYSTORES + 'component_keyring_file.fourth'
        entry = report['hosts'][server.host]
        assert (entry['how'], entry['restarted'], entry['status']) == ('restart', True, 'ok'), entry


def test_rollback_after_a_rotation_returns_to_the_source_with_the_rotated_key(fleet, tmp_path):
    keystores = move('component_keyring_file.fourth', 'component_keyring_file.fifth')
    res, recap, report = run(fleet, tmp_path, 'forward', extra=dict(keystores, keyring_migration_hosts='mysql3'))
    assert res.returncode == 0 and report['hosts']['mysql3']['status'] == 'ok', res.stdout[-6000:]
    mysql3, mysql4 = [s for s in servers(fleet) if s.host in ('mysql3', 'mysql4')]
    mysql3.query('ALTER INSTANCE ROTATE INNODB MASTER KEY')     # a key only the destination (.fifth) holds
    rotated = mysql3.state()
    assert rotated['data_file'] == KEYSTORES + 'component_keyring_file.fifth'
    untouched = mysql4.state()
    for server in (mysql3, mysql4):
        server.start_logging()

    res, recap, report = run(fleet, tmp_path, 'rollback', playbook='keyops.mysql.rollback',
                             extra=dict(keystores, keyring_migration_hosts='mysql3,mysql4'))
    assert res.returncode == 0, res.stdout[-6000:]
    back = mysql3.state()
    assert back['data_file'] == KEYSTORES + 'component_keyring_file.fourth'
    assert back['keys'] == rotated['keys'] and back['rows'] == rotated['rows'] and back['pid'] == rotated['pid']
    assert len(pause_windows(mysql3.keyring_statements())) == 1
    # mysql4 never left .fourth, and .fifth was never made there: nothing to do, not even a pause.
    now = mysql4.state()
    assert mysql4.keyring_statements() == [] and now == dict(untouched, uptime=now['uptime'])
    assert report['rollback'] is True and report['result'] == 'success', report
    assert report['source']['path'] == KEYSTORES + 'component_keyring_file.fifth'
    assert (report['hosts']['mysql3']['action'], report['hosts']['mysql3']['switched_without_restart']) == (
        'switch', True)
    assert (report['hosts']['mysql4']['action'], report['hosts']['mysql4']['copied']) == ('none', 0)


def test_status_shows_configured_and_active_keystores_pauses_and_backups(fleet, tmp_path):
    mysql4 = Server(fleet, 'mysql4')
    config = mysql4.root + fleet.hosts['mysql4']['keyring_component_config']
    original = open(config).read()
    # What a run stopped between the rewrite and the reload leaves: the configuration names another keystore.
    with open(config, 'w') as handle:
        handle.write(json.dumps(dict(json.loads(original), path=KEYSTORES + 'component_keyring_file.elsewhere')))
    mysql4.query('SET GLOBAL keyring_operations = OFF')      # a DBA's pause, without a keyops marker
    try:
        res, _recap, _report = run(fleet, tmp_path, 'status', playbook='keyops.mysql.status')
    finally:
        with open(config, 'w') as handle:
            handle.write(original)
        mysql4.query('SET GLOBAL keyring_operations = ON')
    assert res.returncode == 0, res.stdout[-4000:]
    # The default callback prints each host's result as JSON: `ok: [mysql1] => {` ... `}`.
    shown_task = res.stdout[res.stdout.index('TASK [Show the keyring of each server]'):]
    shown = dict((host, json.loads(body)['msg']) for host, body in
                 re.findall(r'^ok: \[(mysql\d)\] => (\{.*?^\})$', shown_task, re.M | re.S))
    assert shown['mysql4']['configured'] == KEYSTORES + 'component_keyring_file.elsewhere'
    assert shown['mysql4']['uses'] == KEYSTORES + 'component_keyring_file.fourth'
    assert shown['mysql4']['configuration_matches'] is False
    assert (shown['mysql4']['keyring_operations'], shown['mysql4']['paused_by_keyops']) == ('OFF', None)
    assert shown['mysql1']['configuration_matches'] is True and shown['mysql1']['keyring_operations'] == 'ON'
    # mysql1 was switched twice and rolled back once: each rewrite kept a backup of the configuration beside it.
    assert len(shown['mysql1']['config_backups']) >= 2, shown['mysql1']
    assert all(path.startswith(fleet.hosts['mysql1']['keyring_component_config'] + '.')
               for path in shown['mysql1']['config_backups'])


def test_a_server_that_does_not_come_back_from_a_restart_is_put_back(fleet, tmp_path):
    unreadable = tmp_path / 'unreadable.yml'
    unreadable.write_text(yaml.safe_dump(dict(all=dict(hosts=dict(mysql2=dict(keyring_migration_mode='0000'))))))
    mysql2 = Server(fleet, 'mysql2')
    config = mysql2.root + fleet.hosts['mysql2']['keyring_component_config']
    before = mysql2.state()
    assert before['data_file'] == KEYSTORES + 'component_keyring_file.third'
    original = open(config).read()
    starts = ready_count(mysql2)

    res, recap, report = run(fleet, tmp_path, 'no-comeback', inventories=[unreadable],
                             extra=dict(move('component_keyring_file.third', 'component_keyring_file.sixth'),
                                        keyring_migration_hosts='mysql2', keyring_migration_restart_policy='always'))
    assert res.returncode != 0 and recap['mysql2']['failed'] == 1, res.stdout[-6000:]
    after = mysql2.state()
    assert after['data_file'] == KEYSTORES + 'component_keyring_file.third'
    assert after['keys'] == before['keys'] and after['rows'] == before['rows'] and after['operations'] == 1
    assert open(config).read() == original
    assert ready_count(mysql2) == starts + 2        # restarted onto the destination, then again onto its old keystore
    entry = report['hosts']['mysql2']
    assert (entry['status'], entry['rolled_back'], entry['how']) == ('failed', True, 'restart'), entry
    assert 'did not come back' in entry['reason'] and 'runs on no keyring' in entry['reason'], entry['reason']
    assert 'put back from the backups' in entry['reason']


def ready_count(server):
    """How many times the server has started: 'ready for connections' lines in its error log."""
    path = server.query('SELECT @@GLOBAL.log_error')[0][0]
    path = path if path.startswith('/') else server.query('SELECT @@GLOBAL.datadir')[0][0] + path.lstrip('./')
    with open(server.root + path, errors='replace') as log:
        return sum(1 for line in log if 'ready for connections' in line and 'port: 3306' in line)


def test_strategy_free_is_refused_on_every_host_before_anything_is_read(tmp_path):
    # No server is needed: the role's first task reads the play and refuses it.
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump(dict(all=dict(hosts=dict((h, dict(ansible_connection='local'))
                                                                 for h in ('db1', 'db2', 'db3'))))))
    playbook = tmp_path / 'free.yml'
    playbook.write_text(yaml.safe_dump([dict(
        name='A play with strategy free', hosts='all', gather_facts=False, strategy='free',
        vars=dict(keyring_migration_report_dir=str(tmp_path / 'report'), **move('a', 'b')),
        roles=[dict(role='keyops.mysql.keyring_migration')])]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.cache', 'collections'),
               ANSIBLE_NOCOLOR='1', ANSIBLE_HOME=str(tmp_path / 'ansible-home'))
    res = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(inventory),
                          str(playbook)], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 2, res.stdout[-4000:]
    recap = re.findall(r'^(db\d)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)', res.stdout, re.M)
    assert sorted(recap) == [('db1', '0', '1'), ('db2', '0', '1'), ('db3', '0', '1')], res.stdout[-4000:]
    report = json.loads((tmp_path / 'report' / 'keyring-migration-report.json').read_text())
    assert all('strategy free' in entry['reason'] and 'serial' in entry['reason']
               for entry in report['hosts'].values()), report
