# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the role reads a play's batches (rollout_info) and reports across them (rollout_report)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.keyops.mysql.plugins.filter.rollout_report import FilterModule
from ansible_collections.keyops.mysql.plugins.plugin_utils.rollout import (
    batches, job_slicing_refusal, report, rollout, rollout_stops, strategy_refusal)

HOSTS = ['db1', 'db2', 'db3', 'db4', 'db5']
PLAY = 'play-2'


@pytest.mark.parametrize('serial, expected', [
    ([], [HOSTS]),
    (['0'], [HOSTS]),
    (['2'], [['db1', 'db2'], ['db3', 'db4'], ['db5']]),
    ([2], [['db1', 'db2'], ['db3', 'db4'], ['db5']]),
    (['1', '40%'], [['db1'], ['db2', 'db3'], ['db4', 'db5']]),
    (['100%'], [HOSTS]),
    (['10%'], [['db1'], ['db2'], ['db3'], ['db4'], ['db5']]),   # ansible-core never makes a batch of 0
])
def test_batches_are_cut_as_ansible_core_cuts_them(serial, expected):
    assert batches(HOSTS, serial) == expected


def test_batches_follow_the_plays_order_and_not_a_shuffle():
    assert batches(HOSTS, ['3'], 'reverse_sorted') == [['db5', 'db4', 'db3'], ['db2', 'db1']]
    assert batches(HOSTS, ['3'], 'shuffle') is None


def test_one_batch_answers_for_every_host_of_the_play_even_one_that_failed_before_the_role():
    facts = rollout(HOSTS, ['db1', 'db2', 'db4', 'db5'])      # db3 failed (unreachable) before the role ran
    assert facts['batched'] is False
    assert facts['run_hosts'] == HOSTS
    assert facts['batch'] == 1 and facts['batches'] == 1


def test_a_batch_answers_for_its_own_hosts_including_one_that_failed_in_it():
    facts = rollout(HOSTS, ['db3'], serial=['2'], max_fail_percentage=0.0)   # db4 already failed in batch 2
    assert facts['batched'] is True
    assert facts['batch'] == 2 and facts['batches'] == 3
    assert facts['run_hosts'] == ['db3', 'db4']
    assert facts['batch_of_host'] == dict(db1=1, db2=1, db3=2, db4=2, db5=3)


def test_a_shuffled_play_answers_for_the_batch_ansible_runs():
    facts = rollout(HOSTS, ['db4', 'db2'], serial=['2'], order='shuffle')
    assert facts['batched'] is True and facts['batch'] is None
    assert facts['run_hosts'] == ['db4', 'db2']


@pytest.mark.parametrize('strategy', ['free', 'ansible.builtin.free', 'host_pinned', 'mitogen_free'])
def test_strategies_without_a_barrier_are_refused_with_what_to_do(strategy):
    msg = strategy_refusal(strategy)
    assert strategy in msg and 'strategy linear' in msg and 'serial' in msg


@pytest.mark.parametrize('strategy', [None, 'linear', 'ansible.builtin.linear', 'debug', 'mitogen_linear'])
def test_strategies_with_a_barrier_are_accepted(strategy):
    assert strategy_refusal(strategy) is None


@pytest.mark.parametrize('failed, size, percentage, fatal, stops', [
    (0, 2, 0.0, False, False),
    (1, 2, 0.0, False, True),
    (1, 2, 50.0, False, False),      # ansible-core stops when the share is above the percentage, not at it
    (2, 3, 50.0, False, True),
    (1, 4, None, False, False),      # no max_fail_percentage: only a batch where every host failed stops
    (4, 4, None, False, True),
    (1, 4, None, True, True),
])
def test_a_batch_stops_the_rollout_as_ansible_core_decides(failed, size, percentage, fatal, stops):
    assert rollout_stops(failed, size, percentage, fatal) is stops


def line(status='ok', play=PLAY, **more):
    return dict(more, status=status, play=play)


def test_later_batches_are_pending_while_the_rollout_goes_on():
    facts = rollout(HOSTS[:4], ['db1', 'db2'], serial=['2'], max_fail_percentage=0.0)
    out = report(HOSTS[:4], dict(db1=line(), db2=line(), db3=None, db4=None), PLAY, facts, 0)
    assert out['result'] == 'in progress'
    assert [out['hosts'][h]['status'] for h in HOSTS[:4]] == ['ok', 'ok', 'pending', 'pending']
    assert out['hosts']['db3']['batch'] == 2
    assert out['stopped_after_batch'] is None


def test_a_failed_batch_that_ends_the_rollout_leaves_later_hosts_not_run():
    facts = rollout(HOSTS[:4], ['db1', 'db2'], serial=['2'], max_fail_percentage=0.0)
    out = report(HOSTS[:4], dict(db1=line('failed', reason='reload rejected'), db2=line(), db3=None, db4=None),
                 PLAY, facts, 1)
    assert out['result'] == 'failed'
    assert out['stopped_after_batch'] == 1
    assert out['hosts']['db3']['status'] == 'not run'
    assert 'stopped after batch 1' in out['hosts']['db3']['reason']
    assert out['hosts']['db1']['reason'] == 'reload rejected'


def test_the_last_batch_keeps_the_earlier_batches_lines():
    facts = rollout(HOSTS[:4], ['db3', 'db4'], serial=['2'], max_fail_percentage=0.0)
    out = report(HOSTS[:4], dict((h, line(copied=3)) for h in HOSTS[:4]), PLAY, facts, 0)
    assert out['result'] == 'success'
    assert all(entry['copied'] == 3 for entry in out['hosts'].values())


def test_an_earlier_play_line_is_kept_but_not_mistaken_for_this_plays():
    facts = rollout(['db3', 'db4'], ['db3'], serial=['1'], max_fail_percentage=0.0)
    entries = dict(db1=line(play='play-1'), db3=line(), db4=line(play='play-1'))   # db4: a stale line
    out = FilterModule().filters()['rollout_report'](['db1', 'db3', 'db4'], entries, PLAY, facts, 0)
    assert out['hosts']['db1']['play'] == 'play-1'        # another play's host: its own result
    assert out['hosts']['db4']['status'] == 'pending'     # this play's later batch, whatever an earlier play said


def test_a_shuffled_plays_other_hosts_are_pending_not_failed():
    facts = rollout(HOSTS[:4], ['db3', 'db1'], serial=['2'], order='shuffle')
    out = report(HOSTS[:4], dict(db1=line(), db3=line(), db2=None, db4=None), PLAY, facts, 0)
    assert [out['hosts'][h]['status'] for h in HOSTS[:4]] == ['ok', 'pending', 'ok', 'pending']
    assert out['hosts']['db2']['reason'] == 'in a later batch' and out['result'] == 'in progress'


def test_a_host_of_this_batch_without_a_line_failed_before_it_could_report():
    facts = rollout(HOSTS[:2], ['db1'])
    out = report(HOSTS[:2], dict(db1=line(), db2=None), PLAY, facts, 1)
    assert out['hosts']['db2']['status'] == 'failed'
    assert out['result'] == 'failed'


# What AWX passes a job: a slice of a sliced job template runs in a workflow job named after the template.
SLICE = dict(awx_job_id=42, awx_job_template_name='Keyring migration', awx_workflow_job_id=41,
             awx_workflow_job_name='Keyring migration', awx_job_launch_type='workflow')


def test_a_slice_of_a_sliced_awx_job_is_refused_with_what_to_do():
    msg = job_slicing_refusal(SLICE)
    assert 'AWX job 42' in msg and '"Keyring migration"' in msg
    assert 'set Job Slicing to 1' in msg and 'keyring_migration_allow_job_slicing: true' in msg
    # Tower's names, which AWX still passes, are read the same way.
    tower = dict((k.replace('awx_', 'tower_'), v) for k, v in SLICE.items())
    assert job_slicing_refusal(tower) == msg


@pytest.mark.parametrize('awx_vars', [
    {},                                                                   # not AWX
    dict(awx_job_id=7, awx_job_template_name='Keyring migration'),        # a job of its own
    dict(SLICE, awx_workflow_job_name='Quarterly keyring rotation'),     # a node of a user's workflow
])
def test_jobs_that_are_not_slices_run(awx_vars):
    assert job_slicing_refusal(awx_vars) is None


def test_a_slice_runs_when_the_user_says_every_group_is_within_one_slice():
    assert job_slicing_refusal(SLICE, allowed=True) is None
