# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's report: each host's line from what the role recorded on it, and the run's report across batches."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.keyops.mysql.plugins.plugin_utils.migration_report import host_line, report_directory, run_report, stats
from ansible_collections.keyops.mysql.plugins.plugin_utils.rollout import rollout as play_rollout

PLAY = 'play-2'


def rollout(*args, **kwargs):
    """rollout_info's result: the batches, and the play's id."""
    return dict(play_rollout(*args, **kwargs), play=PLAY)


OLD = '/var/lib/mysql-keyring/component_keyring_file'
NEW = OLD + '.migrated'
SETTINGS = dict(source=dict(type='component_keyring_file', path=OLD, password='s3cret'),
                destination=dict(type='component_keyring_encrypted_file', path=NEW, password='t0psecret'),
                use_after='destination', pause_hosts=['db1'], rollback=False)


def switched_online(**extra):
    """What the role records on a host switched without a restart, 3 keys copied, verified."""
    facts = dict(
        before=dict(data_files=[OLD], key_ids=['k1', 'k2', 'k3'], keyring_operations=True),
        info=dict(active_keystores=[OLD], keys=[{'key_id': 'k%d' % i} for i in (1, 2, 3)], keyring_operations=True),
        online_copy=dict(changed=True, migrated_count=3, already_present_count=0, paused=True, switched=True,
                         keyring_reloaded=True, keyring_operations=dict(before=True, during=False, after=True)),
        copy=dict(skipped=True), plan=dict(migrated_count=3), action='switch', how='reload', failure='',
        after=dict(active_keystores=[NEW], keys=[{'key_id': 'k%d' % i} for i in (1, 2, 3)],
                   keyring_operations=True, verify_queries=[{}, {}]))
    facts.update(extra)
    return facts


def test_a_host_switched_without_a_restart():
    line = host_line(switched_online(), 1, PLAY, False)
    assert line['status'] == 'ok' and line['verification'] == 'passed'
    assert (line['keystore_before'], line['keystore_after']) == (OLD, NEW)
    assert (line['copied'], line['already_present'], line['keys_listed_before'], line['keys_listed_after']) == (3, 0, 3, 3)
    assert line['paused'] and line['resumed'] and line['reloaded'] and line['switched_without_restart']
    assert not line['restarted'] and line['restart_reason'] == ''
    assert line['expected_pause'] == 'milliseconds: its own copy, and the rewrite of its component configuration'
    assert line['rollback'].startswith('keyops.mysql.rollback') and line['verify_queries'] == 2
    assert (line['batch'], line['play']) == (1, PLAY)


def test_check_mode_is_a_plan_nothing_paused_or_verified():
    line = host_line(switched_online(online_copy=dict(changed=True, migrated_count=3, paused=True, switched=True)),
                     1, PLAY, True)
    assert line['verification'] == 'check mode: not verified'
    assert not (line['paused'] or line['resumed'] or line['reloaded'] or line['switched_without_restart'])
    assert line['copied'] == 3


def test_a_re_run_with_nothing_to_do_reports_the_preflights_reading():
    facts = switched_online(online_copy=dict(skipped=True), action='none', how='online', plan=dict(migrated_count=0),
                            after=dict(skipped=True, changed=False))
    line = host_line(facts, 1, PLAY, False)
    assert line['verification'] == 'passed' and line['keys_listed_after'] == 3
    assert line['expected_pause'] == 'none' and not line['paused'] and line['copied'] == 0
    assert line['keystore_after'] == OLD


def test_the_restarting_procedure_and_its_put_back():
    facts = switched_online(online_copy=dict(skipped=True), how='restart', restarted=True, rolled_back=True,
                            failure='did not come back', failed_phase='migrate', after=None,
                            bulk_copy=dict(changed=True, migrated_count=3, already_present_count=1, paused=True,
                                           keyring_operations=dict(before=True, during=False, after=True)),
                            copy=dict(changed=True, migrated_count=1, already_present_count=4))
    line = host_line(facts, 2, PLAY, False)
    assert line['status'] == 'failed' and line['reason'] == 'did not come back'
    assert line['restarted'] and line['restart_reason'] == 'switched to the destination'
    assert line['paused'] and line['resumed'] and line['rolled_back']
    assert line['expected_pause'].startswith('milliseconds: its own copy while it runs; then the restart')
    assert line['verification'] == 'not run'
    assert line['keys_listed_after'] is None and line['keystore_after'] == OLD
    # 3 keys copied while it ran, 1 (a key the source gained meanwhile) while it was down; 1 there before.
    assert (line['copied'], line['already_present']) == (4, 1)


def test_a_server_restarted_to_load_new_keys_is_never_paused():
    facts = dict(before=dict(data_files=[NEW], key_ids=['k1']), action='restart', how='restart', restarted=True,
                 bulk_copy=dict(skipped=True), copy=dict(changed=True, migrated_count=2, already_present_count=1),
                 after=dict(active_keystores=[NEW], keys=[{'key_id': 'k1'}, {'key_id': 'k2'}, {'key_id': 'k3'}]))
    line = host_line(facts, 1, PLAY, False)
    assert not line['paused'] and (line['copied'], line['already_present']) == (2, 1)
    assert line['restart_reason'] == 'the server already used the destination, which got new keys'
    assert line['expected_pause'] == 'the restart (stop, copy, start)'


def test_check_mode_counts_the_restarting_procedures_keys_once():
    facts = dict(action='switch', how='restart', bulk_copy=dict(changed=True, migrated_count=3),
                 copy=dict(changed=True, migrated_count=3, already_present_count=0), plan=dict(migrated_count=3))
    assert host_line(facts, 1, PLAY, True)['copied'] == 3


def test_a_host_stopped_only_because_another_was_not_ready_is_not_run():
    assert host_line(dict(failure='stopped before any change', failed_phase='stopped'), 1, PLAY, False)[
        'status'] == 'not run'
    mine = host_line(dict(failure='no keystore', failed_phase='stopped', problems=[{'code': 'x'}]), 1, PLAY, False)
    assert mine['status'] == 'failed'


def test_conflicts_come_from_the_copy_or_the_plan():
    line = host_line(dict(check=dict(conflict_count=1, conflicts=[{'key_id': 'k9'}]), failure='conflict'),
                     1, PLAY, False)
    assert line['conflicts'] == 1 and line['conflicting_keys'] == ['k9']


def test_the_run_report_keeps_earlier_batches_and_leaves_later_ones_pending():
    hosts = ['db1', 'db2', 'db3', 'db4']
    first = run_report(None, dict(db1=switched_online(), db2=switched_online()), hosts,
                       rollout(hosts, ['db1', 'db2'], serial=['2'], max_fail_percentage=0.0),
                       False, 'run-1', SETTINGS, 'now')
    assert first['result'] == 'in progress' and first['batch'] == 1 and first['batches'] == 2
    assert [first['hosts'][h]['status'] for h in hosts] == ['ok', 'ok', 'pending', 'pending']
    # Batch 2 reads the report batch 1 wrote (as JSON on disk), and db4 never reported (unreachable).
    second = run_report(first, dict(db3=switched_online()), hosts,
                        rollout(hosts, ['db3', 'db4'], serial=['2'], max_fail_percentage=0.0),
                        False, 'run-1', SETTINGS, 'later')
    assert [second['hosts'][h]['status'] for h in hosts] == ['ok', 'ok', 'ok', 'failed']
    assert second['result'] == 'failed' and second['hosts']['db1']['batch'] == 1
    assert list(second['hosts']) == hosts


def test_a_failed_batch_stops_the_rollout_and_says_so():
    hosts = ['db1', 'db2', 'db3']
    doc = run_report(None, dict(db1=switched_online(failure='reload rejected', failed_phase='migrate')), hosts,
                     rollout(hosts, ['db1'], serial=['1'], max_fail_percentage=0.0),
                     False, 'run-2', SETTINGS, 'now')
    assert doc['stopped_after_batch'] == 1
    assert [doc['hosts'][h]['status'] for h in hosts] == ['failed', 'not run', 'not run']
    summary = stats(doc, '/reports/keyring-migration-run-2.json')
    lines = summary.pop('lines')
    assert summary == dict(run_id='run-2', result='failed', report='/reports/keyring-migration-run-2.json',
                           check_mode=False, stopped_after_batch=1, source=doc['source'],
                           destination=doc['destination'], use_after=doc['use_after'],
                           hosts=dict(db1='failed', db2='not run', db3='not run'))
    # Each host's line is in the artifacts, with why it failed, and without its timeline.
    assert lines['db1']['status'] == 'failed' and lines['db1']['reason'] == doc['hosts']['db1']['reason']
    assert 'reload rejected' in lines['db1']['reason']
    assert lines['db2']['status'] == 'not run'
    assert all('timeline' not in line for line in lines.values())


def test_no_password_in_the_report():
    doc = run_report(None, dict(db1=switched_online()), ['db1'], rollout(['db1'], ['db1']), False,
                     'run-3', SETTINGS, 'now')
    assert 'password' not in doc['source'] and 'password' not in doc['destination']
    assert 's3cret' not in repr(doc) and 't0psecret' not in repr(doc)
    summary = stats(doc, '/reports/r.json')
    assert 's3cret' not in repr(summary) and 't0psecret' not in repr(summary)


def test_the_report_goes_to_the_runner_artifacts_when_no_directory_is_given():
    assert report_directory('/srv/reports', dict(AWX_ISOLATED_DATA_DIR='/runner/artifacts/7')) == '/srv/reports'
    assert report_directory('', dict(AWX_ISOLATED_DATA_DIR='/runner/artifacts/7')) == '/runner/artifacts/7/keyops.mysql'
    assert report_directory(None, {}) == os.path.expanduser('~/.ansible/keyops.mysql/reports')


def test_a_line_gives_the_hosts_place_in_the_rollout_its_gate_and_why_it_was_held_back():
    place = dict(group='async:db1', role='replica', step=1)
    gate = dict(passed=True, waited=1.5, gates=[], replication_recovered=[''])
    line = host_line(switched_online(place=place, gate=gate), 1, PLAY, False, 'db2')
    assert (line['group'], line['role'], line['wave'], line['gate'], line['replication_recovered']) == (
        'async:db1', 'replica', 2, 'passed', [''])
    held = host_line(dict(held_back='held back: its replication group async:db1 stopped after db2 failed',
                          place=dict(group='async:db1', role='source', step=2)), 1, PLAY, False, 'db1')
    assert held['status'] == 'held back' and 'db2 failed' in held['reason'] and held['gate'] == 'not run'
    assert host_line({}, 1, PLAY, False, 'solo')['group'] == 'solo'


def test_the_timeline_holds_the_pause_the_reload_the_restart_and_the_gate_in_time_order():
    spans = [dict(phase='paused', start=10.0, end=10.012), dict(phase='reloading', start=10.02, end=10.03)]
    gate = dict(passed=True, waited=2.5, gates=[], timeline=[dict(phase='gate', start=31.0, end=33.5)])
    facts = switched_online(online_copy=dict(switched_online()['online_copy'], timeline=spans), gate=gate,
                            restart_started='20.5', restart_ended=30.25)
    line = host_line(facts, 1, PLAY, False)
    assert [(s['phase'], s['start'], s['end']) for s in line['timeline']] == [
        ('paused', 10.0, 10.012), ('reloading', 10.02, 10.03), ('restarting', 20.5, 30.25), ('gate', 31.0, 33.5)]


def test_a_restart_that_never_ended_is_a_span_of_no_length_and_check_mode_has_no_timeline():
    facts = switched_online(online_copy=dict(skipped=True), restart_started=5.0, restart_ended=None,
                            gate=dict(skipped=True, timeline=[dict(phase='gate', start=1, end=2)]))
    assert host_line(facts, 1, PLAY, False)['timeline'] == [dict(phase='restarting', start=5.0, end=5.0)]
    assert host_line(facts, 1, PLAY, True)['timeline'] == []
