# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults on a real 5-host fleet: processes killed at every point of an online run, a host failing mid-run, a key
the source gains between the copy and the stop, ansible-playbook killed while servers are paused, a server killed
while paused, a login without privileges.

Every case ends with: sources byte-identical, each destination either untouched or exactly old + source,
keyring_operations ON on every server, no pause marker and no temp file left.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.faults import ONLINE_POINTS

from ..conftest import REPO_ROOT

pytestmark = pytest.mark.integration
FAULTS = Path(__file__).parent / 'playbooks' / 'faults'
MYSQL = ['mysql', '-uroot', '--batch', '--skip-column-names', '-e']
# The role's tests here are of the restarting procedure (each server copied while it runs, paused for milliseconds;
# then stopped, given what its source gained, switched and started: the restart is the pause), which the role takes
# for what a server cannot reload; on the sandbox's 9.7, where every switch could reload, restart_policy: always
# takes it. The reloading way is in molecule's default scenario.
RESTARTING = {'keyring_migration_restart_policy': 'always'}


@pytest.fixture(scope='module')
def fleet(sandbox_fleet):
    os.environ['ANSIBLE_COLLECTIONS_PATH'] = os.path.join(REPO_ROOT, '.cache', 'collections')
    return sandbox_fleet(n=5)


def host_path(fleet, host, path):
    """A path inside a host's filesystem, seen from the controller (the host's root is an overlay here)."""
    return Path(fleet.hosts[host]['keyops_sandbox_root']) / path.lstrip('/')


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def play(fleet, name, extra, tmp_path, verbosity=0, args=(), background=False):
    extra_file = tmp_path / ('extra-%s.json' % name.replace('/', '-'))
    extra_file.write_text(json.dumps(extra))
    cmd = [fleet.ansible_bin('ansible-playbook'), '-i', str(fleet.inventory), str(FAULTS / name),
           '-e', '@%s' % extra_file] + list(args) + (['-' + 'v' * verbosity] if verbosity else [])
    if background:
        return subprocess.Popen(cmd, env=fleet.ansible_env(), cwd=fleet.state_dir, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return subprocess.run(cmd, env=fleet.ansible_env(), cwd=fleet.state_dir, capture_output=True, text=True,
                          timeout=900, check=False)


def operations(fleet):
    """keyring_operations of every mysql host, read with the mysql client over SSH."""
    results = fleet.command('mysql', MYSQL + ['SELECT @@GLOBAL.keyring_operations'])
    return {h: r.get('stdout') for h, r in results.items()}


def markers(fleet):
    return {h: sorted(p.name for p in host_path(fleet, h, '/run/keyops-mysql').glob('*'))
            for h in fleet.group('mysql') if host_path(fleet, h, '/run/keyops-mysql').is_dir()}


def temp_files(fleet, destination):
    return {h: [p.name for p in host_path(fleet, h, os.path.dirname(destination)).iterdir()
                if p.name.endswith('.keyops-tmp')] for h in fleet.group('mysql')}


def keys_of(fleet, host, path):
    return list(open_keystore('component_keyring_file', str(host_path(fleet, host, path))).load())


def data_file(fleet):
    results = fleet.command('mysql', MYSQL + ["SELECT STATUS_VALUE FROM performance_schema.keyring_component_status"
                                              " WHERE STATUS_KEY = 'Data_file'"])
    return {h: r.get('stdout') for h, r in results.items()}


def wait_until_all_paused(fleet, run):
    """Wait until the role, running in the background, has paused every server (each has keyops's marker)."""
    deadline = time.monotonic() + 120
    while sum(len(m) for m in markers(fleet).values()) < len(fleet.group('mysql')):
        if run.poll() is not None:
            raise AssertionError('the run ended before pausing every server:\n' + run.stdout.read()[-6000:])
        assert time.monotonic() < deadline, 'the servers were not all paused within 120 s'
        time.sleep(0.2)


def assert_converged(fleet, destination, sources_before):
    hosts = fleet.group('mysql')
    assert operations(fleet) == dict.fromkeys(hosts, '1')
    assert not any(markers(fleet).values()), markers(fleet)
    assert not any(temp_files(fleet, destination).values())
    for host in hosts:
        source = fleet.hosts[host]['keyring_path']
        assert sha(host_path(fleet, host, source)) == sources_before[host]


def test_online_copy_killed_at_every_point(fleet, tmp_path):
    destination = '/var/lib/mysql-keyring/online_killed'
    hosts = fleet.group('mysql')
    points = {'mysql1': 'after_pause', 'mysql2': 'mid_copy', 'mysql3': 'before_resume',
              'mysql4': 'before_temp_write', 'mysql5': 'after_fsync'}
    assert set(ONLINE_POINTS) <= set(points.values()), 'every point of an online run is killed at'
    sources = {h: sha(host_path(fleet, h, fleet.hosts[h]['keyring_path'])) for h in hosts}
    res = play(fleet, 'online_copy.yml', {'fault_destination': destination, 'fault_per_host': points}, tmp_path,
               args=['-e', 'fault="{{ fault_per_host[inventory_hostname] }}"'])
    assert res.returncode == 0, res.stdout[-6000:]
    # Every module was killed while the server was paused: each server is still OFF, with keyops's marker.
    assert operations(fleet) == dict.fromkeys(hosts, '0')
    assert all(len(markers(fleet).get(h, [])) == 1 for h in hosts), markers(fleet)
    for host in hosts:
        written = host_path(fleet, host, destination)
        if points[host] == 'before_resume':
            assert keys_of(fleet, host, destination) == keys_of(fleet, host, fleet.hosts[host]['keyring_path'])
        else:
            assert not written.exists()

    # The re-run sees keyops's markers, copies what is missing, and resumes every server.
    res = play(fleet, 'online_copy.yml', {'fault_destination': destination}, tmp_path)
    assert res.returncode == 0, res.stdout[-6000:]
    assert res.stdout.count("'resumed_interrupted_pause'") == 5 or res.stdout.count('resumed_interrupted_pause') >= 5
    for host in hosts:
        assert keys_of(fleet, host, destination) == keys_of(fleet, host, fleet.hosts[host]['keyring_path'])
    assert_converged(fleet, destination, sources)


def test_one_host_of_five_fails_mid_run(fleet, tmp_path):
    destination = '/var/lib/mysql-keyring/one_fails'
    hosts = fleet.group('mysql')
    sources = {h: sha(host_path(fleet, h, fleet.hosts[h]['keyring_path'])) for h in hosts}
    before = data_file(fleet)
    # mysql3's copy is killed while it holds its server paused; the other hosts do not wait for it.
    res = play(fleet, 'role.yml', dict(RESTARTING, **{'fault_destination': destination, 'keyring_migration_report_dir': str(tmp_path)}),
               tmp_path, args=['-e', '{"fault": "{{ \'before_temp_write\' if inventory_hostname == \'mysql3\' else \'\' }}"}'])
    assert res.returncode != 0
    report = json.loads((tmp_path / 'keyring-migration-report.json').read_text())
    assert report['result'] == 'failed' and report['hosts']['mysql3']['status'] == 'failed'
    assert [h for h in hosts if report['hosts'][h]['status'] == 'ok'] == [h for h in hosts if h != 'mysql3']
    # mysql3 was never stopped or switched, its destination never written, and the role resumed the pause its
    # killed copy left; every other server was switched, each on its own.
    assert data_file(fleet) == dict({h: destination for h in hosts}, mysql3=before['mysql3'])
    assert not host_path(fleet, 'mysql3', destination).exists()
    assert report['hosts']['mysql3']['restarted'] is False
    assert operations(fleet) == dict.fromkeys(hosts, '1') and not any(markers(fleet).values())
    for host in set(hosts) - {'mysql3'}:
        assert keys_of(fleet, host, destination) == keys_of(fleet, host, fleet.hosts[host]['keyring_path'])

    res = play(fleet, 'role.yml', dict(RESTARTING, **{'fault_destination': destination, 'keyring_migration_report_dir': str(tmp_path)}),
               tmp_path)
    assert res.returncode == 0, res.stdout[-6000:]
    report = json.loads((tmp_path / 'keyring-migration-report.json').read_text())
    assert report['result'] == 'success'
    assert data_file(fleet) == dict.fromkeys(hosts, destination)
    assert_converged(fleet, destination, sources)
    restore(fleet, tmp_path)


ROTATE_THEN_STOP = """#!/bin/sh
# The fault test's stop command on mysql2: a master key rotation lands in the source after the role copied it and
# before the server stops - the key only the copy made while the server is down can carry.
mysql -uroot -e 'ALTER INSTANCE ROTATE INNODB MASTER KEY' || exit 1
exec /usr/local/sbin/mysql-service stop
"""


def test_a_key_the_source_gains_between_the_copy_and_the_stop_is_copied_while_the_server_is_down(fleet, tmp_path):
    # Without the copy made while it is down, mysql2 would start on a destination without its new master key and
    # could not open its encrypted tables (the role's verification reads them).
    destination = '/var/lib/mysql-keyring/gained'
    hosts = fleet.group('mysql')
    source = fleet.hosts['mysql2']['keyring_path']
    script = host_path(fleet, 'mysql2', '/usr/local/sbin/rotate-then-stop')
    script.write_text(ROTATE_THEN_STOP)
    script.chmod(0o755)
    keys_before = set(keys_of(fleet, 'mysql2', source))
    extra = dict(RESTARTING, fault_destination=destination, keyring_migration_report_dir=str(tmp_path),
                 keyring_migration_stop_command="{{ '/usr/local/sbin/rotate-then-stop' if inventory_hostname == 'mysql2'"
                                                " else mysql_service ~ ' stop' }}")
    sources = {h: sha(host_path(fleet, h, fleet.hosts[h]['keyring_path'])) for h in hosts if h != 'mysql2'}
    res = play(fleet, 'role.yml', extra, tmp_path)
    assert res.returncode == 0, res.stdout[-6000:]
    new_keys = set(keys_of(fleet, 'mysql2', source)) - keys_before
    assert len(new_keys) == 1 and next(iter(new_keys)).key_id.startswith('INNODBKey-')
    assert new_keys <= set(keys_of(fleet, 'mysql2', destination))
    report = json.loads((tmp_path / 'keyring-migration-report.json').read_text())
    line = report['hosts']['mysql2']
    assert line['status'] == 'ok' and line['restarted'] and line['verification'] == 'passed'
    assert line['copied'] == len(keys_before) + 1 and line['paused'] and line['resumed']
    assert data_file(fleet) == dict.fromkeys(hosts, destination)
    assert operations(fleet) == dict.fromkeys(hosts, '1') and not any(markers(fleet).values())
    assert_converged(fleet, destination, dict(sources, mysql2=sha(host_path(fleet, 'mysql2', source))))
    script.unlink()
    restore(fleet, tmp_path)


def test_playbook_killed_while_servers_are_paused(fleet, tmp_path):
    # Each server is paused inside its own copy (keyring_migrate, online), on the host: the copy goes on without
    # the controller, finishes, and resumes its server. Nothing is left paused for keyops.mysql.resume to find.
    destination = '/var/lib/mysql-keyring/playbook_killed'
    hosts = fleet.group('mysql')
    sources = {h: sha(host_path(fleet, h, fleet.hosts[h]['keyring_path'])) for h in hosts}
    extra = dict(RESTARTING, fault_destination=destination, keyring_migration_report_dir=str(tmp_path),
                 fault='mid_copy:sleep=20')
    run = play(fleet, 'role.yml', extra, tmp_path, background=True)
    wait_until_all_paused(fleet, run)
    os.killpg(run.pid, signal.SIGKILL)          # the operator's Ctrl-\, an OOM kill, a dead AWX node...
    run.wait()
    assert operations(fleet) == dict.fromkeys(hosts, '0')
    deadline = time.monotonic() + 120
    while operations(fleet) != dict.fromkeys(hosts, '1') or any(markers(fleet).values()):
        assert time.monotonic() < deadline, 'the copies did not resume their servers: %s %s' % (
            operations(fleet), markers(fleet))
        time.sleep(1)
    # No server was stopped or switched (that is the controller's next step), and each copy is complete.
    assert data_file(fleet) == {h: fleet.hosts[h]['keyring_path'] for h in hosts}
    for host in hosts:
        assert keys_of(fleet, host, destination) == keys_of(fleet, host, fleet.hosts[host]['keyring_path'])

    res = play(fleet, '../../../../playbooks/resume.yml', {'keyring_migration_login': {'login_unix_socket': '/run/mysqld/mysqld.sock'}}, tmp_path)
    assert res.returncode == 0, res.stdout[-6000:]
    assert 'changed=1' not in res.stdout                       # nothing left for it to resume

    res = play(fleet, 'role.yml', dict(RESTARTING, **{'fault_destination': destination, 'keyring_migration_report_dir': str(tmp_path)}),
               tmp_path)
    assert res.returncode == 0, res.stdout[-6000:]
    assert data_file(fleet) == dict.fromkeys(hosts, destination)
    assert_converged(fleet, destination, sources)
    restore(fleet, tmp_path)


def restore(fleet, tmp_path):
    """Put every server back on its own keystore (with the keys made meanwhile) for the next test."""
    res = play(fleet, 'restore.yml', {}, tmp_path)
    assert res.returncode == 0, res.stdout[-6000:]
    hosts = fleet.group('mysql')
    assert data_file(fleet) == {h: fleet.hosts[h]['keyring_path'] for h in hosts}


def test_a_server_killed_while_paused(fleet, tmp_path):
    destination = '/var/lib/mysql-keyring/server_killed'
    hosts = fleet.group('mysql')
    sources = {h: sha(host_path(fleet, h, fleet.hosts[h]['keyring_path'])) for h in hosts}
    extra = dict(RESTARTING, fault_destination=destination, keyring_migration_report_dir=str(tmp_path),
                 fault='mid_copy:sleep=6')
    run = play(fleet, 'role.yml', extra, tmp_path, background=True)
    wait_until_all_paused(fleet, run)
    pid = int(host_path(fleet, 'mysql2', '/run/mysqld/mysqld.pid').read_text())
    os.kill(pid, signal.SIGKILL)                # the server dies while paused (the hosts share our PID space)
    output = run.communicate(timeout=600)[0]
    # The run goes on: mysql2's copy is a file copy, and its switch restarts it (start, as it is down).
    assert run.returncode == 0, output[-6000:]
    report = json.loads((tmp_path / 'keyring-migration-report.json').read_text())
    assert report['result'] == 'success' and report['hosts']['mysql2']['restarted'] is True
    assert data_file(fleet) == dict.fromkeys(hosts, destination)
    assert_converged(fleet, destination, sources)
    restore(fleet, tmp_path)
