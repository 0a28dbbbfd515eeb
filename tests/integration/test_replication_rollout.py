# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The replication-aware rollout on real MySQL 9.7 replication: an asynchronous group (mysql1 source, mysql2 and
mysql3 replicas, binlog_encryption ON) and a single-primary Group Replication group (mysql4 primary, mysql5 and
mysql6 secondaries), from `tests.sandbox up --topology async:3,gr:3`.

The tests run in order on one fleet, each moving the servers on from where the one before left them:
1. Check mode prints the order per group (who goes in which wave, restarting) and changes nothing. Then
   restart_policy always, while a job on each group's source rotates the InnoDB master key every ~300 ms and a
   poller connects to every server every 100 ms: the poller never sees two members of a group down at once, a
   replica or secondary is down only before its source or primary is, the two groups are down side by side (in
   parallel, wave by wave), every server restarted exactly once, keyring_migration_before_primary ran for the source
   and the primary only, after their replicas and before they went down, and at the end replication runs with no
   error, CHECKSUM TABLE of the replicated encrypted table is equal on every member, every member is on the
   destination, and no key was lost. The report's timeline (and its picture) shows each server's restart where the
   poller saw it down.
2. The rotation hazard, forced, with the least-privileged login (keyops_migrate, not root): an async replica's and a
   GR secondary's keyrings are held paused (fault injection) while their sources rotate the master key, which stops
   the replica's applier with error 3185 and expels the GR member (ERROR, offline_mode ON); the run restarts the
   applier and has the member rejoin after ON, the report says so, and replication is healthy afterwards.
3. A replica whose applier was stopped beforehand fails its gate: its group stops (its source is held back and never
   changed), the GR group finishes (a failure budget that allows it), nothing is left paused, the run fails and the
   report names the server, the gate and what it saw.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import threading
import time
from xml.etree import ElementTree

import pymysql
import pytest

from ..conftest import REPO_ROOT

pytestmark = pytest.mark.integration
VARS = os.path.join(REPO_ROOT, 'tests', 'sandbox', 'demo', 'migration_vars.yml')
KEYSTORES = '/var/lib/mysql-keyring/'
ASYNC = ['mysql1', 'mysql2', 'mysql3']
GR = ['mysql4', 'mysql5', 'mysql6']
HOSTS = ASYNC + GR
GROUPS = dict(async1=ASYNC, gr1=GR)
TOPOLOGY = 'async:3,gr:3'


@pytest.fixture(scope='module')
def fleet(sandbox_fleet):
    own = sandbox_fleet(n=6, topology=TOPOLOGY, fresh=True)     # its own: the tests move every server on
    yield own
    own.down()


def connect(fleet, host, timeout=2):
    root = fleet.hosts[host]['keyops_sandbox_root']
    return pymysql.connect(unix_socket=root + '/run/mysqld/mysqld.sock', user='root', autocommit=True,
                           connect_timeout=timeout, read_timeout=30)


def query(fleet, host, sql):
    conn = connect(fleet, host)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def run(fleet, tmp_path, name, extra, background=False, playbook='keyops.mysql.migrate', options=()):
    extra_file = tmp_path / ('%s-vars.json' % name)
    extra_file.write_text(json.dumps(dict(extra, keyring_migration_report_dir=str(tmp_path / name))))
    argv = [fleet.ansible_bin('ansible-playbook'), '-i', str(fleet.inventory), '-e', '@' + VARS,
            '-e', '@%s' % extra_file, str(playbook)] + list(options)
    environment = fleet.ansible_env(ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.cache', 'collections'))
    proc = subprocess.Popen(argv, env=environment, cwd=fleet.state_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if background:
        return proc

    return finish(proc, tmp_path, name)


def finish(proc, tmp_path, name):
    out = proc.communicate(timeout=1200)[0]
    report_file = tmp_path / name / 'keyring-migration-report.json'
    report = json.loads(report_file.read_text()) if report_file.exists() else None
    return proc.returncode, out, report


def move(source, destination, **extra):
    return dict(extra, keyring_migration_source=dict(type='component_keyring_file', path=KEYSTORES + source),
                keyring_migration_destination=dict(type='component_keyring_file', path=KEYSTORES + destination))


class Poller(threading.Thread):
    """Connects to every server every 100 ms and records (time, host, up)."""

    def __init__(self, fleet, hosts):
        super(Poller, self).__init__(daemon=True)
        self.fleet, self.hosts, self.seen, self.stop = fleet, hosts, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            started = time.time()
            for host in self.hosts:
                try:
                    conn = connect(self.fleet, host, timeout=0.5)
                    conn.cursor().execute('SELECT 1')
                    conn.close()
                    self.seen.append((time.time(), host, True))
                except pymysql.MySQLError:
                    self.seen.append((time.time(), host, False))
            time.sleep(max(0.0, 0.1 - (time.time() - started)))

    def down_intervals(self):
        """host -> [(first seen down, last seen down)] for each run of failed looks."""
        intervals, current = {}, {}
        for at, host, up in self.seen:
            if not up:
                current.setdefault(host, [at, at])[1] = at
            elif host in current:
                intervals.setdefault(host, []).append(tuple(current.pop(host)))
        for host, span in current.items():
            intervals.setdefault(host, []).append(tuple(span))
        return intervals

    def down_together(self, members):
        """Looks at which two members of one group were both down (each host's latest look)."""
        latest, clashes = {}, []
        for at, host, up in self.seen:
            if host not in members:
                continue
            latest[host] = up
            down = sorted(h for h, ok in latest.items() if not ok)
            if len(down) > 1:
                clashes.append((at, down))
        return clashes


class Rotator(threading.Thread):
    """ROTATE INNODB MASTER KEY on whichever member of the group takes it (the source, the GR primary), every
    ~300 ms, reconnecting through restarts."""

    def __init__(self, fleet, members):
        super(Rotator, self).__init__(daemon=True)
        self.fleet, self.members, self.rotations, self.stop = fleet, members, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            for host in self.members:
                try:
                    query(self.fleet, host, 'ALTER INSTANCE ROTATE INNODB MASTER KEY')
                    self.rotations += 1
                    break
                except pymysql.MySQLError:
                    continue        # down, a replica's read-only refusal, or a GR secondary
            self.stop.wait(0.3)


def replication_health(fleet, host):
    """(receiver state, applier state, applier error) of each async channel, and the GR member state."""
    channels = query(fleet, host, "SELECT s.CHANNEL_NAME, s.SERVICE_STATE, a.SERVICE_STATE, "
                                  "(SELECT MAX(LAST_ERROR_NUMBER) FROM performance_schema.replication_applier_status_by_worker w "
                                  " WHERE w.CHANNEL_NAME = s.CHANNEL_NAME) "
                                  "FROM performance_schema.replication_connection_status s "
                                  "JOIN performance_schema.replication_applier_status a USING (CHANNEL_NAME) "
                                  "WHERE s.CHANNEL_NAME NOT LIKE 'group_replication%'")
    member = query(fleet, host, "SELECT MEMBER_STATE FROM performance_schema.replication_group_members "
                                "WHERE MEMBER_ID = @@server_uuid")
    return [tuple(c[1:]) for c in channels], (member[0][0] if member else None)


def wait_healthy(fleet, timeout=120):
    deadline = time.time() + timeout
    while True:
        health = dict((h, replication_health(fleet, h)) for h in HOSTS)
        ok = all(all(c == ('ON', 'ON', 0) for c in health[h][0]) for h in HOSTS) and all(
            health[h][1] == 'ONLINE' for h in GR) and all(len(health[h][0]) == 1 for h in ASYNC[1:])
        if ok or time.time() > deadline:
            return ok, health
        time.sleep(1)


def checksums(fleet, host):
    tables = sorted(fleet.hosts[host]['replicated_tables'])
    return dict((t, query(fleet, host, 'CHECKSUM TABLE %s' % t)[0][1]) for t in tables)


def state(fleet, host):
    return dict(
        data_file=query(fleet, host, "SELECT STATUS_VALUE FROM performance_schema.keyring_component_status "
                                     "WHERE STATUS_KEY = 'Data_file'")[0][0],
        keys=set(r[0] for r in query(fleet, host, 'SELECT KEY_ID FROM performance_schema.keyring_keys')),
        operations=query(fleet, host, 'SELECT @@GLOBAL.keyring_operations')[0][0],
        uptime=int(query(fleet, host, "SHOW GLOBAL STATUS LIKE 'Uptime'")[0][1]))


def primary(fleet):
    for host in GR:
        try:
            rows = query(fleet, host, "SELECT MEMBER_HOST FROM performance_schema.replication_group_members "
                                      "WHERE MEMBER_ROLE = 'PRIMARY'")
        except pymysql.MySQLError:
            continue
        for (member_host,) in rows:
            for candidate in GR:
                if fleet.hosts[candidate]['ansible_host'] == member_host or candidate == member_host:
                    return candidate
    return None


def test_restarts_roll_through_each_group_one_server_at_a_time_replicas_first(fleet, tmp_path):
    ok, health = wait_healthy(fleet)
    assert ok, health
    before = dict((h, state(fleet, h)) for h in HOSTS)
    gr_primary = primary(fleet)
    assert gr_primary in GR
    secondaries = [h for h in GR if h != gr_primary]
    r1 = move('component_keyring_file', 'component_keyring_file.r1', keyring_migration_restart_policy='always')

    # Check mode first: the order, per group, a change board reads - and nothing changes.
    code, out, _report = run(fleet, tmp_path, 'plan', r1, options=['--check'])
    assert code == 0, out[-6000:]
    assert ('async async:mysql1 - wave 1: mysql2 (replica, restart); wave 2: mysql3 (replica, restart); '
            'wave 3: mysql1 (source, restart)') in out, out[-6000:]
    assert ('wave 1: %s (secondary, restart); wave 2: %s (secondary, restart); wave 3: %s (primary, restart)'
            % (secondaries[0], secondaries[1], gr_primary)) in out, out[-6000:]
    for host in HOSTS:
        now = state(fleet, host)
        assert now['data_file'] == before[host]['data_file'] and now['uptime'] >= before[host]['uptime'], host

    # The user's hook before a source or primary is changed (a switchover, say): here it notes when it ran, and for
    # whom, on the controller.
    hook_notes = tmp_path / 'before-primary'
    hook_notes.mkdir()
    hook = tmp_path / 'before_primary.yml'
    hook.write_text(json.dumps([{'name': 'Note when the hook ran', 'delegate_to': 'localhost', 'become': False,
                                 'ansible.builtin.copy': dict(content='{{ now().timestamp() }}',
                                                              dest=str(hook_notes) + '/{{ inventory_hostname }}')}]))
    poller = Poller(fleet, HOSTS)
    rotators = [Rotator(fleet, ASYNC[:1]), Rotator(fleet, [gr_primary] + [h for h in GR if h != gr_primary])]
    poller.start()
    for rotator in rotators:
        rotator.start()
    try:
        code, out, report = run(fleet, tmp_path, 'always', dict(r1, keyring_migration_before_primary=str(hook)))
    finally:
        time.sleep(1)
        for thread in [poller] + rotators:
            thread.stop.set()
            thread.join(10)
    assert code == 0, (out[-8000:], report and dict((h, e['reason']) for h, e in report['hosts'].items()))
    assert all(r.rotations > 3 for r in rotators), [r.rotations for r in rotators]

    # Availability, as the poller saw it.
    down = poller.down_intervals()
    for group, members in GROUPS.items():
        assert poller.down_together(members) == [], (group, poller.down_together(members)[:5])
    for host in HOSTS:
        assert len(down.get(host, [])) == 1, (host, down.get(host))      # restarted exactly once
    # Replicas (and GR secondaries) were down only before their source (the primary at the start) went down; the
    # hook ran for the source and the primary only, after their replicas were back and before they went down.
    assert sorted(os.listdir(str(hook_notes))) == sorted([ASYNC[0], gr_primary])
    for source, members in ((ASYNC[0], ASYNC), (gr_primary, GR)):
        hook_ran = float((hook_notes / source).read_text())
        assert hook_ran < down[source][0][0], (source, hook_ran, down[source])
        for host in members:
            if host != source:
                assert down[host][0][1] < down[source][0][0], (host, down[host], source, down[source])
                assert down[host][0][1] < hook_ran, (host, down[host], hook_ran)

    ok, health = wait_healthy(fleet)
    assert ok, health
    for members in GROUPS.values():
        sums = [checksums(fleet, h) for h in members]
        assert all(s == sums[0] for s in sums), sums
    for host in HOSTS:
        after = state(fleet, host)
        assert after['data_file'] == KEYSTORES + 'component_keyring_file.r1', host
        assert before[host]['keys'] <= after['keys'], (host, before[host]['keys'] - after['keys'])
        assert after['operations'] == 1, host
    lines = report['hosts']
    assert report['result'] == 'success', report
    assert all(lines[h]['restarted'] and lines[h]['gate'] == 'passed' for h in HOSTS), lines
    assert [lines[h]['wave'] for h in ASYNC] == [3, 1, 2]
    assert lines[gr_primary]['wave'] == 3 and lines[gr_primary]['role'] == 'primary'

    # The groups went in parallel: in each wave, the async member and the GR member were down at the same time.
    for wave in (1, 2, 3):
        (a_down,), (g_down,) = [down[h] for h in HOSTS if lines[h]['wave'] == wave]
        assert max(a_down[0], g_down[0]) < min(a_down[1], g_down[1]), (wave, a_down, g_down)

    # The timeline shows each server's copy pause, then its restart where the poller saw it down, then its gate.
    for host in HOSTS:
        phases = [span['phase'] for span in lines[host]['timeline']]
        assert phases == ['paused', 'restarting', 'gate'], (host, lines[host]['timeline'])
        paused, restart, gate = lines[host]['timeline']
        (first_down, last_down), = down[host]
        assert paused['end'] <= restart['start'] and restart['end'] <= gate['start'] + 0.5, lines[host]['timeline']
        assert restart['start'] - 0.5 <= first_down and last_down <= restart['end'] + 0.5, (host, restart, down[host])
    # ... and its picture, linked from the Markdown report, names every server.
    report_dir = tmp_path / 'always'
    picture = ElementTree.parse(str(report_dir / 'keyring-migration-report.svg'))
    drawn = ' '.join(picture.getroot().itertext())
    assert all(host in drawn for host in HOSTS), drawn[:2000]
    assert '](keyring-migration-report.svg)' in (report_dir / 'keyring-migration-report.md').read_text()
    run_markdown = report_dir / ('keyring-migration-%s.md' % report['run_id'])
    assert '](keyring-migration-%s.svg)' % report['run_id'] in run_markdown.read_text()


def gr_member_state(fleet, host):
    rows = query(fleet, host, "SELECT MEMBER_STATE FROM performance_schema.replication_group_members "
                              "WHERE MEMBER_ID = @@server_uuid")
    return rows[0][0] if rows else None


def test_a_rotation_during_a_pause_stops_an_applier_or_expels_a_gr_member_and_the_run_recovers_it(fleet, tmp_path):
    # Every host's copy holds its pause for 3 s (fault injection, in the modules' environment). Wave 1 pauses an
    # async replica and a GR secondary together: that is where the rotations land.
    gr_primary = primary(fleet)
    secondary = [h for h in GR if h != gr_primary][0]
    playbook = tmp_path / 'held-pause.yml'
    playbook.write_text(json.dumps([dict(name='The role, each copy holding its pause for 3 s', hosts='mysql',
                                         gather_facts=False, environment=dict(KEYOPS_FAULT_INJECT='after_pause:sleep=3'),
                                         roles=['keyops.mysql.keyring_migration'])]))
    # The least-privileged login: what tests/sandbox/seed.py grants keyops_migrate (the keyring, the replication
    # tables, and on a group's hosts REPLICATION_SLAVE_ADMIN and GROUP_REPLICATION_ADMIN for the recovery), no SELECT
    # on the application's tables, so no verification queries.
    least = dict(login_unix_socket='/run/mysqld/mysqld.sock', login_user='keyops_migrate',
                 login_password='{{ mysql_accounts.migration.password }}')
    proc = run(fleet, tmp_path, 'hazard', move('component_keyring_file.r1', 'component_keyring_file.r2',
                                               keyring_migration_login=least, keyring_migration_verify_queries=[]),
               background=True, playbook=playbook)
    deadline = time.time() + 300
    paused = set()
    while paused != set(['mysql2', secondary]):
        assert time.time() < deadline and proc.poll() is None, 'mysql2 and %s were never paused together' % secondary
        paused = set(h for h in ('mysql2', secondary)
                     if query(fleet, h, 'SELECT @@GLOBAL.keyring_operations')[0][0] == 0)
        time.sleep(0.05)
    query(fleet, 'mysql1', 'ALTER INSTANCE ROTATE INNODB MASTER KEY')
    query(fleet, gr_primary, 'ALTER INSTANCE ROTATE INNODB MASTER KEY')
    saw_stopped = saw_expelled = False
    until = time.time() + 2.5
    while time.time() < until and not (saw_stopped and saw_expelled):
        saw_stopped = saw_stopped or any(c[1] == 'OFF' and c[2] == 3185 for c in replication_health(fleet, 'mysql2')[0])
        saw_expelled = saw_expelled or gr_member_state(fleet, secondary) == 'ERROR'
        time.sleep(0.05)
    code, out, report = finish(proc, tmp_path, 'hazard')
    assert saw_stopped, 'the rotation did not stop the paused replica\'s applier (3185)'
    assert saw_expelled, 'the rotation did not expel the paused GR secondary'
    assert code == 0, (out[-8000:], report and dict((h, e['reason']) for h, e in report['hosts'].items()))
    assert report['hosts']['mysql2']['replication_recovered'] == [''], report['hosts']['mysql2']
    assert report['hosts'][secondary]['replication_recovered'] == ['group_replication_applier'], \
        report['hosts'][secondary]
    ok, health = wait_healthy(fleet)
    assert ok, health
    # The GR error set offline_mode ON (exit_state_action OFFLINE_MODE); the recovery set it OFF again.
    assert query(fleet, secondary, 'SELECT @@GLOBAL.offline_mode')[0][0] == 0
    for host in ('mysql2', secondary):
        after = state(fleet, host)
        assert after['data_file'] == KEYSTORES + 'component_keyring_file.r2' and after['operations'] == 1, host
        # The server applied the rotation: a new INNODBKey of its own.
        assert len([k for k in after['keys'] if k.startswith('INNODBKey')]) > 1, (host, after['keys'])


def test_a_replica_that_fails_its_gate_stops_its_group_and_the_other_group_finishes(fleet, tmp_path):
    query(fleet, 'mysql3', 'STOP REPLICA SQL_THREAD')
    try:
        before = dict((h, state(fleet, h)) for h in HOSTS)
        code, out, report = run(fleet, tmp_path, 'gate', move('component_keyring_file.r2', 'component_keyring_file.r3',
                                                              keyring_migration_gate_timeout=10,
                                                              keyring_migration_max_fail_percentage=50))
        assert code != 0, out[-4000:]
        lines = report['hosts']
        assert lines['mysql3']['status'] == 'failed' and lines['mysql3']['gate'] == 'failed', lines['mysql3']
        assert "channel '' applier" in lines['mysql3']['reason'] and 'applier OFF' in lines['mysql3']['reason']
        assert lines['mysql1']['status'] == 'held back' and 'mysql3 failed' in lines['mysql1']['reason']
        assert state(fleet, 'mysql1')['data_file'] == before['mysql1']['data_file']     # never changed
        assert state(fleet, 'mysql1')['uptime'] >= before['mysql1']['uptime']
        for host in GR + ['mysql2']:
            assert lines[host]['status'] == 'ok', (host, lines[host])
            assert state(fleet, host)['data_file'] == KEYSTORES + 'component_keyring_file.r3', host
        assert report['result'] != 'success'
        assert all(state(fleet, h)['operations'] == 1 for h in HOSTS)        # nothing left paused
    finally:
        query(fleet, 'mysql3', 'START REPLICA SQL_THREAD')
    ok, health = wait_healthy(fleet)
    assert ok, health
