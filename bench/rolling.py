"""The replication-aware rollout's wall time (issue 17): 2 groups x 3 servers, every server restarted
(restart_policy: always), against one group alone and against the ideal.

The ideal of a group is what its servers cannot avoid, one after the other: for each member, its restart (stop,
copy while down, start) and its health gate - read from the run's own report (each host's timeline). Everything
else in the playbook's wall time is orchestration: Ansible's start, the preflight, the copies while the servers run,
the verification, the report. Two groups go in parallel, so two take about as long as one.

Each run has fresh fleets of its own (`tests.sandbox up --topology`), so no run inherits another's keystores.
"""

import json

from .harness import SandboxFleet, log, playbook_run

RESTART_ALWAYS = ['-e', 'keyring_migration_restart_policy=always']
PHASES_OF_THE_IDEAL = ('restarting', 'gate')


def group_ideal(lines, members):
    """Seconds a group's members spend restarting and gated, one after the other: the fastest the group can go."""
    return sum(span['end'] - span['start'] for host in members for span in lines[host].get('timeline') or ()
               if span['phase'] in PHASES_OF_THE_IDEAL)


def rollout_window(lines):
    """From the first span of any host to the last: the rollout proper, without the playbook's start and report."""
    spans = [span for line in lines.values() for span in line.get('timeline') or ()]
    return max(s['end'] for s in spans) - min(s['start'] for s in spans) if spans else None


def one_run(workdir, kind, groups):
    """keyops.mysql.migrate, every server restarted, on a fresh fleet of `groups` groups of 3 of `kind`."""
    tag = 'rolling-%s-%dx3' % (kind, groups)
    fleet = SandboxFleet(3 * groups, workdir / tag, topology=','.join(['%s:3' % kind] * groups))
    try:
        res = playbook_run(fleet, 3 * groups + 5, workdir, tag, extra_args=RESTART_ALWAYS)
    finally:
        fleet.down()
    report = json.loads((workdir / ('report-%s' % tag) / 'keyring-migration-report.json').read_text())
    lines = report['hosts']
    members = {}
    for host, line in lines.items():
        members.setdefault(line['group'], []).append(host)
    ideals = dict((group, group_ideal(lines, hosts)) for group, hosts in members.items())
    row = dict(kind=kind, groups=groups, hosts=len(lines), restarts=res['restarts'], wall_s=res['wall_s'],
               rollout_s=rollout_window(lines), ideal_s=max(ideals.values()), ideal_by_group_s=ideals,
               controller_cpu_s=res['controller_cpu_s'],
               phases_s=dict((host, [(s['phase'], round(s['end'] - s['start'], 3)) for s in line.get('timeline') or ()])
                             for host, line in lines.items()))
    log('rolling %s %d x 3: wall %.1f s, rollout %.1f s, ideal %.1f s (%d restarts)'
        % (kind, groups, row['wall_s'], row['rollout_s'] or 0, row['ideal_s'], row['restarts']))
    return row


def rolling(workdir, kinds=('async', 'gr')):
    """For each kind of group: one group of 3, then two groups of 3, each on its own fleet."""
    return [one_run(workdir, kind, groups) for kind in kinds for groups in (1, 2)]
