# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shipped playbooks run through ansible-runner, the engine AWX and Automation Platform run jobs with, the way
AWX runs them, on real MySQL 9.7 servers:

- a private data directory with the project (extensions/awx/project, its one-line wrappers of the FQCN playbooks),
  the inventory, the job template's extra variables in env/extravars and AWX's job variables (awx_job_id, ...);
- the credential as AWX injects it: extensions/awx/credential_type.yml's extra_vars injector rendered with the
  credential's inputs (a least-privileged MySQL login, the destination keystore's password) into a file under env/,
  passed with `-e @file`;
- cancellation through ansible-runner's cancel callback, as AWX's Cancel button does (the runner kills the job's
  process group).

What a user of AWX sees is asserted: no password and no key byte in any job event or artifact file; the run's
summary and every host's line in the stats event's artifact data (AWX's job artifacts); the report written into the
job's artifacts directory; a Check job is the plan and changes nothing; a job cancelled while every server is paused
leaves them paused, and the same job launched again converges - every server ON, every key in the destination, the
source unchanged; a slice of a sliced job template is refused before anything changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import sys
import threading
import time

import ansible_runner
import jinja2.sandbox
import pytest
import yaml

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore

from ..conftest import REPO_ROOT
from .test_faults import host_path, markers
from .test_secrets import secrets_of

pytestmark = pytest.mark.integration

SOURCE = '/var/lib/mysql-keyring/component_keyring_file'
DESTINATION = '/var/lib/mysql-keyring/component_keyring_encrypted_file.runner'
DESTINATION_PASSWORD = 'Runner-Destination-Passw0rd'
# The job template's extra variables (extensions/awx/job_template.example.yml): the servers keep their source, the
# keys are copied into an encrypted keystore whose password only the credential holds.
JOB_VARS = dict(
    keyring_migration_hosts='mysql',
    keyring_migration_source=dict(type='component_keyring_file', path=SOURCE),
    keyring_migration_destination=dict(type='component_keyring_encrypted_file', path=DESTINATION),
    keyring_migration_login=dict(login_unix_socket='/run/mysqld/mysqld.sock'),
    keyring_migration_use_after='source',
    # The least-privileged login may not read the application's tables.
    keyring_migration_verify_encrypted_tables=0,
    keyring_migration_verify_binary_logs=False,
)
# What AWX adds to every job's extra variables (awx/main/models/unified_jobs.py awx_meta_vars).
AWX_VARS = dict(awx_job_id=1201, awx_job_launch_type='manual', awx_job_template_id=7,
                awx_job_template_name='MySQL keyring migration', awx_inventory_name='mysql fleet')
HOLD_PAUSE = 20     # seconds each copy holds its pause in the cancelled job (fault injection)


@pytest.fixture(scope='module')
def fleet(sandbox_fleet):
    # Fresh: the cancelled job holds every server paused, which a shared fleet's other tests must not meet.
    own = sandbox_fleet(n=2, fresh=True)
    yield own
    own.down()


def credential_vars(fleet):
    """The credential's extra variables, rendered as AWX renders its injectors (a sandboxed Jinja environment)."""
    with open(os.path.join(REPO_ROOT, 'extensions', 'awx', 'credential_type.yml')) as f:
        kind = yaml.safe_load(f)
    account = fleet.hosts[fleet.group('mysql')[0]]['mysql_accounts']['migration']
    inputs = dict(login_user=account['user'], login_password=account['password'],
                  destination_password=DESTINATION_PASSWORD)
    env = jinja2.sandbox.ImmutableSandboxedEnvironment()

    def render(node):
        if isinstance(node, dict):
            return dict((k, render(v)) for k, v in node.items())
        return env.from_string(node).render(**inputs)
    return render(kind['injectors']['extra_vars'])


def private_data_dir(fleet, tmp_path, name, hold_pause=False, extra=None):
    """An AWX-style private data directory: project, inventory, env/extravars, and the credential's file."""
    pdd = tmp_path / name
    shutil.copytree(os.path.join(REPO_ROOT, 'extensions', 'awx', 'project'), str(pdd / 'project'))
    (pdd / 'inventory').mkdir()
    # The sandbox's inventory is JSON under a comment header, which json cannot read and YAML can.
    inventory = yaml.safe_load(fleet.inventory.read_text())
    if hold_pause:
        # Each copy holds its pause at the fault-injection point after_pause, through the host's sshd (AcceptEnv):
        # a shipped playbook has no `environment` to set it in.
        inventory['all']['vars']['ansible_ssh_extra_args'] = '-o SetEnv=KEYOPS_FAULT_INJECT=after_pause:sleep=%d' % (
            HOLD_PAUSE)
    (pdd / 'inventory' / 'hosts.json').write_text(json.dumps(inventory))
    (pdd / 'env').mkdir()
    (pdd / 'env' / 'extravars').write_text(yaml.safe_dump(dict(JOB_VARS, **dict(AWX_VARS, **(extra or {})))))
    credential = pdd / 'env' / 'tmp-credential'
    credential.write_text(yaml.safe_dump(credential_vars(fleet)))
    credential.chmod(0o400)
    return pdd, credential


def run_job(fleet, pdd, credential, ident, cancel_when=None, check=False):
    """ansible_runner.run as AWX calls it (a job template of job type Check adds --check); returns (runner,
    events)."""
    events = []
    env = dict(ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.cache', 'collections'),
               ANSIBLE_HOME=str(fleet.ansible_home), ANSIBLE_NOCOLOR='1',
               PATH='%s%s%s' % (os.path.dirname(sys.executable), os.pathsep, os.environ.get('PATH', '')))
    runner = ansible_runner.run(
        private_data_dir=str(pdd), playbook='migrate.yml', ident=ident,
        cmdline='-e @%s%s' % (credential, ' --check' if check else ''),
        envvars=env, quiet=True, timeout=900, event_handler=lambda event: events.append(event) or True,
        cancel_callback=cancel_when)
    return runner, events


def artifacts_text(pdd, ident):
    """Every byte the job left in its artifacts directory: job events, stdout, status, the report files."""
    blobs = []
    for root, _dirs, files in os.walk(str(pdd / 'artifacts' / ident)):
        for name in files:
            with open(os.path.join(root, name), 'rb') as f:
                blobs.append((os.path.join(root, name), f.read()))
    return blobs


def assert_no_secret(fleet, pdd, ident, events):
    forms = secrets_of(fleet) | set([DESTINATION_PASSWORD.encode()])
    outputs = artifacts_text(pdd, ident) + [('event %d' % i, json.dumps(e).encode()) for i, e in enumerate(events)]
    assert len(outputs) > 50, 'the job left too few events to judge'
    hits = [(where, form[:6]) for where, blob in outputs for form in forms if form in blob]
    assert not hits, hits[:5]


def stats_artifacts(events):
    stats = [e for e in events if e.get('event') == 'playbook_on_stats']
    assert len(stats) == 1, [e.get('event') for e in events][-5:]
    return stats[0]['event_data'].get('artifact_data') or {}


def keyring_operations(fleet, host):
    return fleet.query(host, 'SELECT @@GLOBAL.keyring_operations')[0][0]


def destination_keys(fleet, host):
    store = open_keystore('component_keyring_encrypted_file', str(host_path(fleet, host, DESTINATION)),
                          password=DESTINATION_PASSWORD)
    return dict(((k.key_id, k.user_id), (k.key_type, k.data)) for k in store.load())


def source_keys(fleet, host):
    store = open_keystore('component_keyring_file', str(host_path(fleet, host, SOURCE)))
    return dict(((k.key_id, k.user_id), (k.key_type, k.data)) for k in store.load())


def test_a_check_job_is_the_plan_and_changes_nothing(fleet, tmp_path):
    # The plan job template (job type Check, extensions/awx/job_template.example.yml), before the migration.
    hosts = fleet.group('mysql')
    pdd, credential = private_data_dir(fleet, tmp_path, 'plan')
    runner, events = run_job(fleet, pdd, credential, 'plan', check=True)
    assert runner.status == 'successful', ''.join(runner.stdout.readlines()[-60:])
    artifact = stats_artifacts(events)['keyring_migration']
    assert artifact['check_mode'] is True and artifact['result'] == 'success'
    assert all(line['copied'] >= 3 for line in artifact['lines'].values()), artifact['lines']
    assert not any(host_path(fleet, h, DESTINATION).exists() for h in hosts)
    assert [keyring_operations(fleet, h) for h in hosts] == [1] * len(hosts)
    assert_no_secret(fleet, pdd, 'plan', events)


def test_a_job_cancelled_while_the_servers_are_paused_then_launched_again_converges(fleet, tmp_path):
    hosts = fleet.group('mysql')
    source_before = dict((h, host_path(fleet, h, SOURCE).read_bytes()) for h in hosts)
    pdd, credential = private_data_dir(fleet, tmp_path, 'cancelled', hold_pause=True)

    # The Cancel button, pressed once every server is paused (each copy holds its pause for HOLD_PAUSE s).
    all_paused = threading.Event()
    stop = threading.Event()

    def watch():
        while not stop.is_set() and not all_paused.is_set():
            if all(keyring_operations(fleet, h) == 0 for h in hosts):
                all_paused.set()
            time.sleep(0.1)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        runner, events = run_job(fleet, pdd, credential, 'cancelled', cancel_when=all_paused.is_set)
    finally:
        stop.set()
        watcher.join()
    cancelled_at = time.time()
    assert all_paused.is_set(), 'the servers were never all paused (job status %s)' % runner.status
    assert runner.status == 'canceled', runner.status
    # The job is gone and the servers are still paused: what the next job must finish.
    assert [keyring_operations(fleet, h) for h in hosts] == [0] * len(hosts)
    assert_no_secret(fleet, pdd, 'cancelled', events)

    # Launched again at once, without the held pause, as an operator relaunches a cancelled job.
    pdd2, credential2 = private_data_dir(fleet, tmp_path, 'relaunched')
    runner, events = run_job(fleet, pdd2, credential2, 'relaunched')
    assert runner.status == 'successful', ''.join(runner.stdout.readlines()[-60:])
    artifact = stats_artifacts(events)['keyring_migration']
    assert artifact['result'] == 'success' and artifact['hosts'] == dict((h, 'ok') for h in hosts), artifact
    assert artifact['run_id'] == 'awx-job-1201'
    assert sorted(artifact['lines']) == hosts and all(line['status'] == 'ok' for line in artifact['lines'].values())
    # The killed job's modules still ran on the hosts, holding their pauses: the relaunch waited for them to end
    # (they resume their servers themselves) instead of taking their pauses over and resuming under them.
    assert not any(line['resumed_interrupted_run'] for line in artifact['lines'].values()), artifact['lines']
    # The report is in the job's artifacts directory (the default under ansible-runner), and it says the same.
    report_dir = pdd2 / 'artifacts' / 'relaunched' / 'keyops.mysql'
    report = json.loads((report_dir / 'keyring-migration-awx-job-1201.json').read_text())
    assert report['result'] == 'success' and artifact['report'] == str(report_dir / 'keyring-migration-awx-job-1201.json')
    assert_no_secret(fleet, pdd2, 'relaunched', events)

    # Whatever the killed job's modules still do on the hosts, they end: then every server is ON, keyops left no
    # pause marker, every source key is in the destination with its bytes, and the source is unchanged.
    time.sleep(max(0, cancelled_at + HOLD_PAUSE + 5 - time.time()))
    assert [keyring_operations(fleet, h) for h in hosts] == [1] * len(hosts)
    assert all(not names for names in markers(fleet).values()), markers(fleet)
    for h in hosts:
        expected = source_keys(fleet, h)
        assert len(expected) >= 3
        got = destination_keys(fleet, h)
        assert dict((k, got.get(k)) for k in expected) == expected, h
        assert host_path(fleet, h, SOURCE).read_bytes() == source_before[h], h
        assert set(k for k, _o in fleet.query(h, 'SELECT KEY_ID, KEY_OWNER FROM performance_schema.keyring_keys')) >= \
            set(k for k, _o in expected)

    # A third launch changes nothing and pauses nothing.
    pdd3, credential3 = private_data_dir(fleet, tmp_path, 'again')
    runner, events = run_job(fleet, pdd3, credential3, 'again')
    assert runner.status == 'successful'
    assert runner.stats['changed'] == {}, runner.stats['changed']
    lines = stats_artifacts(events)['keyring_migration']['lines']
    assert all(line['copied'] == 0 and line['action'] == 'none' for line in lines.values()), lines


def test_a_slice_of_a_sliced_job_template_is_refused_before_anything_changes(fleet, tmp_path):
    hosts = fleet.group('mysql')
    before = dict((h, sorted(p.name for p in host_path(fleet, h, os.path.dirname(SOURCE)).iterdir())) for h in hosts)
    # AWX runs a job template with Job Slicing 2 as a workflow job named after the template, one job per slice.
    pdd, credential = private_data_dir(fleet, tmp_path, 'slice', extra=dict(
        awx_job_id=1305, awx_workflow_job_id=1304, awx_workflow_job_name=AWX_VARS['awx_job_template_name'],
        awx_job_launch_type='workflow'))
    runner, events = run_job(fleet, pdd, credential, 'slice')
    assert runner.status == 'failed'
    failures = [e['event_data']['res'].get('msg', '') for e in events if e.get('event') == 'runner_on_failed']
    assert failures and all('set Job Slicing to 1' in msg for msg in failures), failures
    # The first task refuses it; the role's rescue writes the report and fails each host with the same line.
    assert [e['event_data'].get('task') for e in events if e.get('event') == 'runner_on_failed'][0] == (
        "Preflight | Read the play's batches")
    assert dict((h, sorted(p.name for p in host_path(fleet, h, os.path.dirname(SOURCE)).iterdir()))
                for h in hosts) == before
    assert [keyring_operations(fleet, h) for h in hosts] == [1] * len(hosts)
