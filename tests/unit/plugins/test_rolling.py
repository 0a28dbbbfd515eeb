# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling order: groups from what servers report, replicas before sources, at most max_unavailable a step."""

from ansible_collections.keyops.mysql.plugins.filter.rolling_order import rolling_order
from ansible_collections.keyops.mysql.plugins.plugin_utils.rolling import (
    CYCLE, NOT_IN_PLAY, OFFLINE_MODE_LOGIN, SPANS_BATCHES, UNKNOWN, order, rolling_plan)


def standalone(uuid):
    return dict(server_uuid=uuid, gtid_executed='', channels=[], group=None, replicas_connected=[])


def replica(uuid, source_uuid, source_host='10.0.0.1'):
    report = standalone(uuid)
    report['channels'] = [dict(channel='', source_uuid=source_uuid, source_host=source_host, source_port=3306)]
    return report


def source(uuid, connected):
    report = standalone(uuid)
    report['replicas_connected'] = connected
    return report


def gr_member(uuid, members, primary, name='grp'):
    report = standalone(uuid)
    report['group'] = dict(name=name, single_primary=True, member_state='ONLINE',
                           members=[dict(uuid=u, host=u, port=3306, state='ONLINE',
                                         role='PRIMARY' if u == primary else 'SECONDARY') for u in members])
    return report


def async_group():
    return {'db1': source('u1', ['10.0.0.2', '10.0.0.3']), 'db2': replica('u2', 'u1'), 'db3': replica('u3', 'u1')}


def gr_group():
    uuids = ['g1', 'g2', 'g3']
    return dict(('gr%d' % i, gr_member('g%d' % i, uuids, 'g1')) for i in (1, 2, 3))


def test_replicas_go_first_one_at_a_time_and_groups_go_in_parallel():
    reports = dict(async_group(), **gr_group())
    reports['solo'] = standalone('s1')
    hosts = ['db1', 'db2', 'db3', 'gr1', 'gr2', 'gr3', 'solo']
    plan = rolling_plan(hosts, reports)
    assert not any(plan['problems'].values())
    assert plan['groups']['async:db1']['steps'] == [['db2'], ['db3'], ['db1']]
    assert plan['groups']['gr:grp']['steps'] == [['gr2'], ['gr3'], ['gr1']]
    assert [w['members'] for w in plan['waves']] == [['db2', 'gr2', 'solo'], ['db3', 'gr3'], ['db1', 'gr1']]
    # The replica's gate compares with what its source executed: the source is noted in the replica's wave.
    assert plan['waves'][0]['sources'] == ['db1']
    assert plan['waves'][2]['sources'] == []
    assert plan['hosts']['db1']['role'] == 'source' and plan['hosts']['db1']['replicas'] == 2
    assert plan['hosts']['db2']['role'] == 'replica' and plan['hosts']['db2']['source'] == 'db1'
    assert plan['hosts']['gr1']['role'] == 'primary' and plan['hosts']['gr2']['role'] == 'secondary'
    assert plan['hosts']['solo']['group'] == 'solo' and plan['hosts']['solo']['step'] == 0


def test_max_unavailable_changes_replicas_together_but_never_a_source_with_them():
    plan = rolling_plan(['db1', 'db2', 'db3'], async_group(), max_unavailable=3)
    assert plan['groups']['async:db1']['steps'] == [['db2', 'db3'], ['db1']]


def test_a_chain_goes_from_the_leaf_up():
    reports = {'a': source('ua', ['b']), 'b': replica('ub', 'ua'), 'c': replica('uc', 'ub')}
    reports['b']['replicas_connected'] = ['c']
    plan = rolling_plan(['a', 'b', 'c'], reports)
    assert plan['groups']['async:a']['steps'] == [['c'], ['b'], ['a']]


def test_hosts_without_work_take_no_step_but_stay_in_their_group():
    plan = rolling_plan(['db1', 'db2', 'db3'], async_group(), work={'db1': True, 'db2': False, 'db3': True})
    assert plan['groups']['async:db1']['steps'] == [['db3'], ['db1']]
    assert plan['hosts']['db2']['step'] is None


def test_a_source_outside_the_play_is_a_problem_of_its_replica():
    plan = rolling_plan(['db2'], {'db2': replica('u2', 'u1', '10.9.9.9')})
    assert [p['code'] for p in plan['problems']['db2']] == [NOT_IN_PLAY]
    assert '10.9.9.9:3306' in plan['problems']['db2'][0]['msg']


def test_a_replica_outside_the_play_is_a_problem_of_its_source():
    plan = rolling_plan(['db1', 'db2'], {'db1': source('u1', ['10.0.0.2', '10.0.0.3']), 'db2': replica('u2', 'u1')})
    assert [p['code'] for p in plan['problems']['db1']] == [NOT_IN_PLAY]
    assert plan['problems']['db2'] == []


def test_a_gr_member_outside_the_play_is_a_problem_of_every_member_in_it():
    reports = gr_group()
    del reports['gr3']
    plan = rolling_plan(['gr1', 'gr2'], reports)
    assert [p['code'] for p in plan['problems']['gr1']] == [NOT_IN_PLAY]
    assert [p['code'] for p in plan['problems']['gr2']] == [NOT_IN_PLAY]


def test_a_replica_that_never_connected_is_matched_by_address():
    reports = {'db1': source('u1', []), 'db2': replica('u2', None, '10.0.0.1')}
    plan = rolling_plan(['db1', 'db2'], reports, addresses={'db1': {'ansible_host': '10.0.0.1'}})
    assert plan['groups']['async:db1']['steps'] == [['db2'], ['db1']]


def test_a_circle_is_a_problem():
    reports = {'a': replica('ua', 'ub'), 'b': replica('ub', 'ua')}
    reports['a']['replicas_connected'] = ['b']
    reports['b']['replicas_connected'] = ['a']
    plan = rolling_plan(['a', 'b'], reports)
    assert CYCLE in [p['code'] for p in plan['problems']['a']]


def test_unreadable_channels_are_a_problem():
    report = standalone('u1')
    report['channels'] = None
    plan = rolling_plan(['db1'], {'db1': report})
    assert [p['code'] for p in plan['problems']['db1']] == [UNKNOWN]


def test_a_group_split_across_batches_is_a_problem():
    plan = rolling_plan(['db1', 'db2', 'db3'], async_group(), batches=[['db1', 'db2'], ['db3']])
    assert all(SPANS_BATCHES in [p['code'] for p in plan['problems'][h]] for h in ('db1', 'db2', 'db3'))


def test_multi_primary_members_are_peers():
    reports = gr_group()
    for r in reports.values():
        r['group']['single_primary'] = False
        for m in r['group']['members']:
            m['role'] = 'PRIMARY'
    plan = rolling_plan(['gr1', 'gr2', 'gr3'], reports, max_unavailable=1)
    assert plan['groups']['gr:grp']['steps'] == [['gr1'], ['gr2'], ['gr3']]


def test_hosts_without_reports_are_standalone():
    plan = rolling_plan(['x', 'y'], {'x': None})
    assert [w['members'] for w in plan['waves']] == [['x', 'y']]


def test_a_failed_member_holds_back_its_group_and_the_budget_holds_back_the_others():
    from ansible_collections.keyops.mysql.plugins.plugin_utils.rolling import held_back
    reports = dict(async_group(), **gr_group())
    hosts = ['db1', 'db2', 'db3', 'gr1', 'gr2', 'gr3']
    plan = rolling_plan(hosts, reports)
    failures = {'db2': 'gate failed'}
    assert 'async:db1 stopped after db2' in held_back(plan, 'db3', failures, hosts, 50)
    assert held_back(plan, 'gr3', failures, hosts, 50) == ''
    assert 'more than keyring_migration_max_fail_percentage 0' in held_back(plan, 'gr3', failures, hosts, 0)
    assert held_back(plan, 'gr3', {}, hosts, 0) == ''


def test_a_replica_counted_twice_by_a_stale_dump_thread_is_one_replica():
    reports = async_group()
    reports['db1']['replicas_connected'] = ['10.0.0.2', '10.0.0.2', '10.0.0.3']
    assert rolling_plan(['db1', 'db2', 'db3'], reports)['problems']['db1'] == []


def test_the_order_check_mode_prints_names_each_groups_waves_roles_and_ways():
    reports = dict(async_group(), **gr_group())
    reports['solo'] = standalone('s1')
    reports['idle'] = standalone('s2')
    hosts = ['db1', 'db2', 'db3', 'gr1', 'gr2', 'gr3', 'solo', 'idle']
    plan = rolling_plan(hosts, reports, work=dict((h, h != 'idle') for h in hosts), max_unavailable=2)
    ways = dict((h, 'restart') for h in hosts)
    ways['solo'] = 'reload, no restart'
    assert order(plan, ways) == [
        'async async:db1 - wave 1: db2 (replica, restart), db3 (replica, restart); wave 2: db1 (source, restart)',
        'group replication gr:grp - wave 1: gr2 (secondary, restart), gr3 (secondary, restart); '
        'wave 2: gr1 (primary, restart)',
        'standalone servers, all in wave 1: solo (reload, no restart)',
        'nothing to do (no wave): idle',
    ]


def test_the_order_filter_reads_each_hosts_way_from_the_roles_plan():
    plan = rolling_plan(['db1', 'db2', 'db3'], async_group())
    hostvars = {'db1': dict(_keyring_migration_how='restart', _keyring_migration_action='switch'),
                'db2': dict(_keyring_migration_how='reload', _keyring_migration_action='switch'),
                'db3': dict(_keyring_migration_how='online', _keyring_migration_action='none')}
    assert rolling_order(plan, hostvars) == [
        'async async:db1 - wave 1: db2 (replica, reload, no restart); wave 2: db3 (replica, copy only, no restart); '
        'wave 3: db1 (source, restart)']


def test_a_gr_login_that_offline_mode_would_disconnect_is_refused_before_any_pause():
    # Seen on 9.7.4: a rotation during the pause expels the member, offline_mode ON disconnects a login without
    # CONNECTION_ADMIN, and nothing can set keyring_operations ON again.
    reports = gr_group()
    for name, report in reports.items():
        report['group'].update(exit_state_action='OFFLINE_MODE', login_outlasts_offline_mode=name != 'gr2')
    reports['gr3']['group']['exit_state_action'] = 'READ_ONLY'
    reports['gr3']['group']['login_outlasts_offline_mode'] = False
    hosts = ['gr1', 'gr2', 'gr3']
    plan = rolling_plan(hosts, reports)
    assert dict((h, [p['code'] for p in plan['problems'][h]]) for h in hosts) == dict(
        gr1=[], gr2=[OFFLINE_MODE_LOGIN], gr3=[])
    assert 'GRANT CONNECTION_ADMIN' in plan['problems']['gr2'][0]['msg']
    # Nothing to do on it, no pause: no problem.
    assert not rolling_plan(hosts, reports, work=dict(gr1=True, gr2=False, gr3=True))['problems']['gr2']
