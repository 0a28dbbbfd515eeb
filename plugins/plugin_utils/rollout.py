# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""How a play rolls the role out: its batches, the one running now, and whether a failure stops the rollout.

Pure functions over what the rollout_info action reads from the play, so unit tests reach every decision.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.utils.helpers import pct_to_int

# Strategies without a barrier between hosts: the role's fleet checks, the restarting procedure's "every server is
# paused" and the report would each read other hosts' facts before those hosts set them.
_UNSYNCHRONISED_STRATEGIES = ('free', 'host_pinned')

# The orders the inventory gives a play's hosts in, as ansible-core's InventoryManager.get_hosts applies them.
_ORDERS = {
    'inventory': list,
    'reverse_inventory': lambda hosts: list(reversed(hosts)),
    'sorted': sorted,
    'reverse_sorted': lambda hosts: sorted(hosts, reverse=True),
}


def strategy_refusal(strategy):
    """A one-line refusal for a strategy the role cannot run under, or None."""
    name = (strategy or 'linear').rsplit('.', 1)[-1]
    if name.endswith(_UNSYNCHRONISED_STRATEGIES):
        return ('the play runs with strategy %s, which lets hosts run ahead of each other: the role checks the '
                'fleet as a whole and keeps hosts in step, so run it with strategy linear (the default) and use '
                'serial for batches' % strategy)
    return None


def job_slicing_refusal(awx_vars, allowed=False):
    """A one-line refusal when this run is one slice of an AWX / Automation Platform sliced job, or None.

    AWX runs a job template with Job Slicing above 1 as a workflow job that carries the template's name, one job per
    slice, each with only its slice's hosts in the inventory, in parallel. No extra variable names the slice; a job
    in a workflow named after its own template is how a slice is told apart (awx_* or tower_* variables, which AWX
    passes to every job).
    """
    def awx(name):
        return awx_vars.get('awx_' + name, awx_vars.get('tower_' + name))
    workflow, template = awx('workflow_job_name'), awx('job_template_name')
    if allowed or workflow is None or template is None or workflow != template:
        return None
    return ('AWX job %s is one slice of the sliced job template "%s" (Job Slicing above 1): the slices run at once, '
            'each with part of the inventory, so a replication group or a keystore shared by several servers can be '
            'split between jobs that cannot see each other; set Job Slicing to 1 on the job template (the role '
            'batches with keyring_migration_batch_size), or, if every replication group and shared keystore lies '
            'within one slice, set keyring_migration_allow_job_slicing: true' % (awx('job_id'), template))


def batches(hosts, serial, order='inventory'):
    """The play's batches, as ansible-core's PlaybookExecutor cuts them; None when the order is shuffled."""
    if order not in _ORDERS:
        return None
    remaining = _ORDERS[order](hosts)
    total = len(remaining)
    sizes = list(serial or ()) or [-1]
    cut = []
    item = 0
    while remaining:
        size = pct_to_int(sizes[item], total)
        if size <= 0:
            cut.append(remaining)
            break
        cut.append(remaining[:size])
        remaining = remaining[size:]
        item = min(item + 1, len(sizes) - 1)
    return cut


def rollout(play_hosts_all, play_batch, serial=None, order='inventory', max_fail_percentage=None,
            any_errors_fatal=False):
    """What this batch of the play is: its number, its hosts, the whole plan, and what stops the rollout.

    ``run_hosts`` are the hosts this run of the role answers for: every host of the play when it runs in one batch
    (a host that failed before the role is then reported as such, and stops the run), else the current batch.
    """
    plan = batches(list(play_hosts_all), serial, order)
    number = None
    if plan:
        for index, hosts in enumerate(plan):
            if play_batch and set(play_batch) <= set(hosts):
                number = index + 1
                break
    if number is None:   # a shuffled order, or hosts the plan does not know: the batch Ansible runs is the truth
        plan = None
        batched = set(play_batch) != set(play_hosts_all)
        run_hosts = list(play_batch) if batched else list(play_hosts_all)
    else:
        batched = len(plan) > 1
        run_hosts = plan[number - 1] if batched else list(play_hosts_all)
    return dict(
        batched=batched,
        batch=number,
        batches=len(plan) if plan else None,
        batch_of_host=dict((host, index + 1) for index, hosts in enumerate(plan or ()) for host in hosts),
        run_hosts=run_hosts,
        max_fail_percentage=max_fail_percentage,
        any_errors_fatal=bool(any_errors_fatal),
    )


def rollout_stops(failed, batch_size, max_fail_percentage=None, any_errors_fatal=False):
    """Whether ansible-core ends the play after a batch in which ``failed`` of ``batch_size`` hosts failed."""
    if failed <= 0:
        return False
    if any_errors_fatal or failed >= batch_size:
        return True
    return max_fail_percentage is not None and failed / float(batch_size) > max_fail_percentage / 100.0


NOT_REPORTED = dict(status='failed', reason='unreachable, or stopped before it could report')


def report(hosts, entries, play_id, facts, batch_failed=0):
    """The run's report lines, across the batches and plays that wrote one, and its result.

    ``hosts``: every host the report covers, in order; ``entries``: host -> its latest line (None if it has none),
    each naming the ``play`` that wrote it; ``facts``: rollout_info's result for the batch writing the report;
    ``batch_failed``: how many of this batch's hosts failed. A host of this play in a later batch is ``pending``,
    or ``not run`` when this batch's failures end the rollout (ansible-core's max_fail_percentage rule).
    """
    stops = rollout_stops(batch_failed, len(facts.get('run_hosts') or ()) or 1, facts.get('max_fail_percentage'),
                          facts.get('any_errors_fatal'))
    batch = facts.get('batch')
    batch_of_host = facts.get('batch_of_host') or {}
    run_hosts = set(facts.get('run_hosts') or ())
    lines = {}
    for host in hosts:
        entry = entries.get(host)
        if entry and entry.get('play') == play_id or entry and host not in batch_of_host and host not in run_hosts:
            lines[host] = entry
        elif host in run_hosts or (batch is not None and batch_of_host.get(host, 0) <= batch):
            # this batch's, or an earlier batch's (a shuffled play's batches are unknown: its hosts are pending)
            lines[host] = dict(NOT_REPORTED, batch=batch_of_host.get(host))
        elif stops:
            lines[host] = dict(status='not run', batch=batch_of_host.get(host),
                               reason='the rollout stopped after batch %s, which had %d failed host%s'
                               % (batch, batch_failed, '' if batch_failed == 1 else 's'))
        else:
            lines[host] = dict(status='pending', batch=batch_of_host.get(host),
                               reason='in batch %s, after this one' % batch_of_host[host] if host in batch_of_host
                               else 'in a later batch')
    statuses = set(line.get('status') for line in lines.values())
    result = ('failed' if statuses - set(('ok', 'pending')) else 'in progress' if 'pending' in statuses
              else 'success')
    return dict(result=result, hosts=lines, batch=batch, batches=facts.get('batches'),
                stopped_after_batch=batch if stops and (facts.get('batches') or 0) > (batch or 0) else None)
