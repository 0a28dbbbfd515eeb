# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling order of a migration, from what each server says about its place in replication.

Pure: the role's fleet check calls rolling_plan() (through the keyops.mysql.rolling_plan filter) on the controller
with every host's keyring_info replication report, and unit tests call it with made-up reports.

- A replication group is a set of hosts joined by replication: an asynchronous replica and the source it replicates
  from (matched by the source's server_uuid, or its address when the replica never connected), and the members of
  one Group Replication group. A host joined to no other is a group of its own.
- Within a group, a server goes only after every server that depends on it: the replicas of a source before it,
  the secondaries of a single-primary GR group before its primary; at most max_unavailable at a time, and servers
  of different ranks never together (a source is never changed with its replicas).
- Groups go in parallel: wave i is the i-th step of every group.
- A group whose members are not all in the play, or whose order cannot be told (replication in a circle), is a
  problem of every member in the play: the preflight stops before anything changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

NOT_IN_PLAY = 'replication_member_not_in_play'
CYCLE = 'replication_cycle'
UNKNOWN = 'replication_unknown'
SPANS_BATCHES = 'replication_group_spans_batches'
OFFLINE_MODE_LOGIN = 'replication_login_lacks_connection_admin'
CODES = (NOT_IN_PLAY, CYCLE, UNKNOWN, SPANS_BATCHES, OFFLINE_MODE_LOGIN)


def _problem(code, msg):
    return dict(code=code, msg=msg)


class _Groups:
    """Union-find over host names."""

    def __init__(self, hosts):
        self.parent = dict((h, h) for h in hosts)

    def find(self, host):
        while self.parent[host] != host:
            self.parent[host] = self.parent[self.parent[host]]
            host = self.parent[host]
        return host

    def join(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _address(host, hostvars):
    vars_ = hostvars.get(host) or {}
    return set([host, str(vars_.get('ansible_host', host))])


def rolling_plan(hosts, reports, work=None, addresses=None, max_unavailable=1, batches=None):
    """The groups, each host's place, the waves and the problems.

    hosts: the hosts of the run, in play order. reports: host -> keyring_info's replication report (None when the
    host has none). work: host -> whether the host has something to copy, switch or restart (hosts without work are
    in their group but take no step). addresses: host -> its inventory variables (ansible_host), to match a replica
    to a source it never connected to. batches: the play's batches (lists of hosts) under serial.

    Returns dict(groups={id: dict(kind, members, steps)}, hosts={host: dict(group, role, rank, step, source,
    channels, gr_group, replicas)}, waves=[dict(members, sources)], problems={host: [problem]}).
    """
    work = dict((h, True) for h in hosts) if work is None else work
    addresses = addresses or {}
    max_unavailable = max(1, int(max_unavailable or 1))
    problems = dict((h, []) for h in hosts)
    reports = dict((h, reports.get(h)) for h in hosts)
    by_uuid = dict((r['server_uuid'], h) for h, r in reports.items() if r and r.get('server_uuid'))
    by_address = {}
    for h in hosts:
        for a in _address(h, addresses):
            by_address.setdefault(a, h)
    groups = _Groups(hosts)
    info = dict((h, dict(role='standalone', source=None, sources=[], channels=[], gr_group=None, replicas=0,
                         dependents=set())) for h in hosts)

    for h in hosts:
        report = reports[h]
        if report is None:
            continue
        if report.get('channels') is None:
            problems[h].append(_problem(UNKNOWN, '%s: the login may not read its replication channels '
                                        '(performance_schema.replication_connection_status): grant SELECT on the '
                                        'performance_schema replication tables' % h))
        for channel in report.get('channels') or ():
            info[h]['channels'].append(channel['channel'])
            source = by_uuid.get(channel.get('source_uuid')) or by_address.get(channel.get('source_host'))
            where = '%s:%s' % (channel.get('source_host'), channel.get('source_port'))
            if source is None:
                msg = ("%s replicates (channel '%s') from %s, which is not in this play: add it, so that its "
                       "replicas go before it" % (h, channel['channel'], where))
                problems[h].append(_problem(NOT_IN_PLAY, msg))
                continue
            info[h]['sources'].append(source)
            info[source]['dependents'].add(h)
            info[source]['replicas'] += 1
            groups.join(h, source)
        group = report.get('group')
        if group:
            info[h]['gr_group'] = group['name']
            if (work.get(h) and group.get('exit_state_action') == 'OFFLINE_MODE'
                    and group.get('login_outlasts_offline_mode') is False):
                problems[h].append(_problem(OFFLINE_MODE_LOGIN, (
                    '%s: a master key rotation that reaches this Group Replication member while its keyring is '
                    'paused makes it leave the group and turn offline_mode ON (group_replication_exit_state_action '
                    'OFFLINE_MODE), which disconnects this login before it can set keyring_operations ON again: '
                    'GRANT CONNECTION_ADMIN ON *.* to the login (directly, not through a role), or set '
                    'group_replication_exit_state_action to READ_ONLY') % h))
            for member in group.get('members') or ():
                peer = by_uuid.get(member['uuid'])
                if peer is None:
                    problems[h].append(_problem(NOT_IN_PLAY, '%s: member %s:%s (%s) of its Group Replication group '
                                                '%s is not in this play: add it' % (h, member['host'], member['port'],
                                                                                    member['state'], group['name'])))
                    continue
                groups.join(h, peer)
            primaries = [by_uuid.get(m['uuid']) for m in group.get('members') or () if m.get('role') == 'PRIMARY']
            if group.get('single_primary', True) and h in primaries:
                info[h]['role'] = 'primary'
                for member in group.get('members') or ():
                    peer = by_uuid.get(member['uuid'])
                    if peer is not None and peer != h:
                        info[h]['dependents'].add(peer)
            else:
                info[h]['role'] = 'secondary' if group.get('single_primary', True) else 'member'
    for h in hosts:
        # One host per replica: a replica that reconnected can leave its old dump thread behind for a while.
        connected = (reports[h] or {}).get('replicas_connected')
        connected = None if connected is None else sorted(set(connected))
        if connected is not None and len(connected) > info[h]['replicas']:
            problems[h].append(_problem(NOT_IN_PLAY, '%s: %d replica(s) are connected to it (from %s) and only %d '
                                        'of them are in this play: add every replica, so that they go before it'
                                        % (h, len(connected), ', '.join(connected) or '?', info[h]['replicas'])))
        if info[h]['role'] == 'standalone':
            if info[h]['dependents']:
                info[h]['role'] = 'source'
            elif info[h]['sources']:
                info[h]['role'] = 'replica'
        info[h]['source'] = info[h]['sources'][0] if len(info[h]['sources']) == 1 else None

    ranks = _ranks(hosts, info, problems)
    members = {}
    for h in hosts:
        members.setdefault(groups.find(h), []).append(h)
    out_groups, out_hosts, wave_members = {}, {}, {}
    for root, group_hosts in members.items():
        ordered = sorted(group_hosts, key=lambda x: (ranks.get(x, 0), hosts.index(x)))
        group_id = _group_id(ordered, info)
        steps = []
        for h in ordered:
            if not work.get(h):
                continue
            if steps and len(steps[-1]) < max_unavailable and ranks.get(steps[-1][-1], 0) == ranks.get(h, 0):
                steps[-1].append(h)
            else:
                steps.append([h])
        kind = 'group_replication' if any(info[h]['gr_group'] for h in ordered) else (
            'async' if len(ordered) > 1 else 'standalone')
        out_groups[group_id] = dict(kind=kind, members=ordered, steps=steps)
        for index, step in enumerate(steps):
            wave_members.setdefault(index, []).extend(step)
        for h in ordered:
            step = [i for i, s in enumerate(steps) if h in s]
            out_hosts[h] = dict(group=group_id, role=info[h]['role'], rank=ranks.get(h, 0),
                                step=step[0] if step else None, source=info[h]['source'],
                                sources=info[h]['sources'], channels=info[h]['channels'],
                                gr_group=info[h]['gr_group'], replicas=info[h]['replicas'])
        _check_batches(group_id, ordered, batches, problems)
    waves = []
    for index in sorted(wave_members):
        wave = sorted(wave_members[index], key=hosts.index)
        sources = sorted(set(s for h in wave for s in out_hosts[h]['sources'] if s not in wave), key=hosts.index)
        waves.append(dict(members=wave, sources=sources))
    return dict(groups=out_groups, hosts=out_hosts, waves=waves, problems=problems)


def _group_id(ordered, info):
    gr = sorted(set(info[h]['gr_group'] for h in ordered if info[h]['gr_group']))
    if gr:
        return 'gr:%s' % gr[0]
    top = ordered[-1]
    return top if len(ordered) == 1 else 'async:%s' % top


def _ranks(hosts, info, problems):
    """0 for a server nothing depends on, else one more than the highest of its dependents; a circle is a problem."""
    ranks, visiting = {}, set()

    def rank(h, path):
        if h in ranks:
            return ranks[h]
        if h in visiting:
            return None
        visiting.add(h)
        best = 0
        for d in sorted(info[h]['dependents']):
            r = rank(d, path + [h])
            if r is None:
                circle = ' -> '.join(path + [h, d])
                for member in set(path + [h, d]):
                    if not any(p['code'] == CYCLE for p in problems[member]):
                        problems[member].append(_problem(CYCLE, '%s: replication runs in a circle (%s); no server '
                                                         'can go last. Migrate these servers one at a time by hand, '
                                                         'or break the circle first' % (member, circle)))
                r = 0
            best = max(best, r + 1)
        visiting.discard(h)
        ranks[h] = best
        return best

    for h in hosts:
        rank(h, [])
    return ranks


def _check_batches(group_id, ordered, batches, problems):
    """Under serial, one group in two batches would change a source in one batch and its replicas in a later one."""
    if not batches or len(ordered) < 2:
        return
    where = set(i for i, batch in enumerate(batches) for h in ordered if h in batch)
    if len(where) > 1:
        for h in ordered:
            problems[h].append(_problem(SPANS_BATCHES, '%s: its replication group %s (%s) spans batches %s: make '
                                        'every batch hold whole groups (keyring_migration_batch_size, or order the '
                                        'inventory by group)' % (h, group_id, ', '.join(ordered),
                                                                 ', '.join(str(i + 1) for i in sorted(where)))))


def order(plan, ways):
    """The rollout as a reader wants it in check mode: one line per replication group, in wave order, each server
    with its role and its way (ways: host -> e.g. 'reload' or 'restart'); standalone servers together on one line;
    the servers with nothing to do last."""
    lines, standalone, idle = [], [], []
    for group_id, group in sorted(plan['groups'].items(), key=lambda item: _first_step(item[1])):
        idle.extend(h for h in group['members'] if plan['hosts'][h]['step'] is None)
        if not group['steps']:
            continue
        if group['kind'] == 'standalone':
            standalone.append('%s (%s)' % (group['steps'][0][0], ways.get(group['steps'][0][0]) or '?'))
            continue
        steps = ['wave %d: %s' % (index + 1, ', '.join('%s (%s, %s)' % (h, plan['hosts'][h]['role'],
                                                                        ways.get(h) or '?') for h in step))
                 for index, step in enumerate(group['steps'])]
        lines.append('%s %s - %s' % (group['kind'].replace('_', ' '), group_id, '; '.join(steps)))
    if standalone:
        lines.append('standalone servers, all in wave 1: %s' % ', '.join(standalone))
    if idle:
        lines.append('nothing to do (no wave): %s' % ', '.join(idle))
    return lines


def _first_step(group):
    """Sort key: groups with work first, by name."""
    return (not group['steps'], group['members'][0])


def held_back(plan, host, failures, batch, max_fail_percentage=0):
    """Why host must not start its step now ('' when it may): a member of its group failed (that group stops), or
    more of the batch failed than max_fail_percentage allows (every group stops before its next step).
    failures: host -> its failure ('' or None when it has none)."""
    place = plan['hosts'].get(host)
    if place is None:
        return ''
    members = plan['groups'][place['group']]['members']
    failed_members = [m for m in members if failures.get(m)]
    if failed_members:
        return 'held back: its replication group %s stopped after %s failed' % (
            place['group'], ', '.join(failed_members))
    failed = [h for h in batch if failures.get(h)]
    if failed and 100.0 * len(failed) / max(1, len(batch)) > float(max_fail_percentage or 0):
        return ('held back: %d of %d hosts failed (%s), more than keyring_migration_max_fail_percentage %s allows'
                % (len(failed), len(batch), ', '.join(failed), max_fail_percentage or 0))
    return ''
