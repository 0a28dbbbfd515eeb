# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters the role's preflight runs once over every host: fleet_problems and problems_table."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.keyops.mysql.plugins.filter.fleet_problems import FLEET_CODES, FilterModule as Problems
from ansible_collections.keyops.mysql.plugins.filter.problems_table import FilterModule as Table

fleet_problems = Problems().filters()['fleet_problems']
problems_table = Table().filters()['problems_table']
DESTINATION = '/var/lib/mysql-keyring/new'


def report(uuid, problems=()):
    return dict(changed=False, server_uuid=uuid, plan=dict(action='switch', problems=list(problems)))


def hostvars(**reports):
    return dict((host, dict(preflight=value, inventory_hostname=host)) for host, value in reports.items())


def run(hosts, variables, pause_hosts=None):
    return fleet_problems(hosts, variables, 'preflight', DESTINATION, pause_hosts if pause_hosts is not None else hosts)


def codes(found):
    return dict((host, [p['code'] for p in problems]) for host, problems in found.items())


def test_a_healthy_fleet_has_no_problems():
    variables = hostvars(db1=report('u1'), db2=report('u2'))
    assert run(['db1', 'db2'], variables) == dict(db1=[], db2=[])


def test_each_hosts_own_problems_are_kept():
    own = dict(code='paused_by_someone_else', msg='keyring_operations is OFF')
    assert run(['db1'], hostvars(db1=report('u1', [own]))) == dict(db1=[own])


def test_unreachable_failed_and_missing_reports_are_problems_of_their_host():
    variables = hostvars(db1=dict(unreachable=True, msg='ssh: timed out'), db2=dict(failed=True, msg='Access denied'))
    found = run(['db1', 'db2', 'db3'], variables)
    assert codes(found) == dict(db1=['unreachable'], db2=['cannot_report'], db3=['not_reported'])
    assert found['db1'][0]['msg'] == 'unreachable: ssh: timed out'
    assert found['db2'][0]['msg'] == 'Access denied'


def test_two_hosts_at_one_address_writing_one_destination():
    variables = hostvars(a=report('u1'), b=report('u2'), c=report('u3'))
    variables['a']['ansible_host'] = variables['b']['ansible_host'] = '10.0.0.5'
    found = run(['a', 'b', 'c'], variables)
    assert codes(found) == dict(a=['shared_destination'], b=['shared_destination'], c=[])
    assert found['a'][0]['msg'] == 'the destination 10.0.0.5:%s is also written by b' % DESTINATION


def test_cloned_servers_share_a_server_uuid():
    found = run(['a', 'b', 'c'], hostvars(a=report('same'), b=report('same'), c=report('other')))
    assert codes(found) == dict(a=['cloned_server_uuid'], b=['cloned_server_uuid'], c=[])
    assert 'shared with b' in found['a'][0]['msg']


def test_mariadb_has_no_server_uuid_and_is_not_a_clone():
    assert codes(run(['a', 'b'], hostvars(a=report(None), b=report(None)))) == dict(a=[], b=[])


def test_pause_hosts_outside_the_play_stop_every_host():
    found = run(['a'], hostvars(a=report('u1')), pause_hosts=['a', 'ghost'])
    assert codes(found) == dict(a=['pause_host_not_in_play'])
    assert 'ghost' in found['a'][0]['msg']


def test_every_fleet_code_is_reached_here():
    with open(__file__) as handle:
        text = handle.read()
    assert all("'%s'" % code in text for code in FLEET_CODES)


def test_the_table_lists_each_problem_once_with_its_host_and_names_the_ready_hosts():
    table = problems_table(dict(db1=[dict(code='unreachable', msg='unreachable: timed out')], db2=[],
                                db10=[dict(code='cloned_server_uuid', msg='shared with db1')]))
    lines = table.splitlines()
    assert lines[0] == 'Preflight failed on 2 of 3 hosts; nothing was changed on any host.'
    assert lines[1].split() == ['host', 'problem', 'what', 'to', 'do']
    assert lines[2].split(None, 2) == ['db1', 'unreachable', 'unreachable: timed out']
    assert lines[3].split(None, 2) == ['db10', 'cloned_server_uuid', 'shared with db1']
    assert lines[2].index('unreachable') == lines[3].index('cloned_server_uuid')     # aligned columns
    assert lines[4] == 'Ready (not run because of the above): db2'


def test_under_serial_pause_hosts_of_later_batches_are_in_the_play():
    variables = hostvars(db1=report('u1'), db2=report('u2'))
    found = fleet_problems(['db1', 'db2'], variables, 'preflight', DESTINATION, ['db1', 'db2', 'db3', 'db4'],
                           ['db1', 'db2', 'db3', 'db4'])
    assert codes(found) == dict(db1=[], db2=[])
    found = fleet_problems(['db1', 'db2'], variables, 'preflight', DESTINATION, ['db1', 'db9'],
                           ['db1', 'db2', 'db3', 'db4'])
    assert codes(found) == dict(db1=['pause_host_not_in_play'], db2=['pause_host_not_in_play'])
