# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: fleet_problems
short_description: Every host's preflight problems, with the checks across hosts
version_added: 0.3.0
description:
  - Takes the hosts of a play and, for each, the result of its preflight M(keyops.mysql.keyring_info) task (with
    O(keyops.mysql.keyring_info#module:plan)), and returns each host's problems, each a C(code) and a one-line C(msg).
  - Adds what no single host can see - two hosts that would write the same keystore file (same address, same
    destination path), two servers with the same C(server_uuid) (cloned servers, whose InnoDB master key ids
    collide), pause hosts that are not in the play - and turns an unreachable host, a failed report, or a host
    with no report into a problem of that host.
  - The C(keyops.mysql.keyring_migration) role calls it once per run, on the controller.
positional: _input, hostvars, result_var, destination_path, pause_hosts, play_hosts, extra
options:
  _input:
    description:
      - The hosts checked together - the play's (C(ansible_play_hosts_all)), or one batch's under C(serial).
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars), or any mapping of host name to that host's variables.
    type: dict
    required: true
  result_var:
    description: The name of the variable each host registered its preflight report in.
    type: str
    required: true
  destination_path:
    description: The destination keystore's path.
    type: str
    required: true
  pause_hosts:
    description: The hosts the role pauses; each must be in the play.
    type: list
    elements: str
    default: []
  play_hosts:
    description: Every host of the play (under C(serial), the hosts of every batch); the hosts checked by default.
    type: list
    elements: str
  extra:
    description:
      - More problems to add, host name to a list of C(code), C(msg) - the replication problems of
        P(keyops.mysql.rolling_plan#filter).
    type: dict
'''

EXAMPLES = r'''
- name: Every host's problems
  ansible.builtin.set_fact:
    problems_by_host: >-
      {{ ansible_play_hosts_all | keyops.mysql.fleet_problems(hostvars, 'preflight', '/var/lib/mysql-keyring/new',
                                                               ansible_play_hosts_all) }}
  run_once: true
'''

RETURN = r'''
_value:
  description: Host name to the list of that host's problems (empty when it is ready), in the play's host order.
  type: dict
  sample: {db1: [], db2: [{code: cloned_server_uuid, msg: server_uuid 3c1f... is shared with db3 (cloned servers)}]}
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence

from ansible_collections.keyops.mysql.plugins.module_utils.host_plan import problem as _problem

NOT_REPORTED = 'not_reported'
UNREACHABLE = 'unreachable'
CANNOT_REPORT = 'cannot_report'
SHARED_DESTINATION = 'shared_destination'
CLONED_SERVER_UUID = 'cloned_server_uuid'
PAUSE_HOST_NOT_IN_PLAY = 'pause_host_not_in_play'

FLEET_CODES = (NOT_REPORTED, UNREACHABLE, CANNOT_REPORT, SHARED_DESTINATION, CLONED_SERVER_UUID,
               PAUSE_HOST_NOT_IN_PLAY)


def own_problems(report):
    """The host's own problems, from its registered preflight report (None: it never got that far)."""
    if not report:
        return [_problem(NOT_REPORTED, 'failed before its preflight finished')]
    if report.get('unreachable'):
        return [_problem(UNREACHABLE, 'unreachable: %s' % (report.get('msg') or 'no reason given'))]
    if report.get('failed'):
        return [_problem(CANNOT_REPORT, report.get('msg') or 'cannot report the server')]
    return list((report.get('plan') or {}).get('problems') or ())


def _group(hosts, key_of):
    """{key: [hosts]} for the hosts that have a key."""
    groups = {}
    for host in hosts:
        key = key_of(host)
        if key:
            groups.setdefault(key, []).append(host)
    return groups


def fleet_problems(hosts, hostvars, result_var, destination_path, pause_hosts=None, play_hosts=None, extra=None):
    if not is_sequence(hosts):
        raise AnsibleFilterError('fleet_problems expects the list of the play\'s hosts')
    hosts = list(hosts)
    reports = dict((host, hostvars[host].get(result_var) if host in hostvars else None) for host in hosts)
    found = dict((host, own_problems(reports[host])) for host in hosts)
    reported = [host for host in hosts if reports[host] and not reports[host].get('unreachable')
                and not reports[host].get('failed')]

    def destination_of(host):
        # A Vault mount is one for every host that names it; a file is one per host.
        vault_mount = (reports[host].get('plan') or {}).get('destination_id')
        return vault_mount or '%s:%s' % (hostvars[host].get('ansible_host') or host, destination_path)

    for destination, sharing in _group(reported, destination_of).items():
        for host in sharing if len(sharing) > 1 else ():
            others = ', '.join(h for h in sharing if h != host)
            found[host].append(_problem(SHARED_DESTINATION, 'the destination %s is also written by %s'
                                        % (destination, others)))
    for uuid, sharing in _group(reported, lambda host: reports[host].get('server_uuid')).items():
        for host in sharing if len(sharing) > 1 else ():
            others = ', '.join(h for h in sharing if h != host)
            found[host].append(_problem(CLONED_SERVER_UUID, 'server_uuid %s is shared with %s (cloned servers: '
                                        'their InnoDB master key ids collide)' % (uuid, others)))
    for host in hosts:
        found[host].extend((extra or {}).get(host) or ())
    in_play = hosts if play_hosts is None else list(play_hosts)
    strangers = [host for host in pause_hosts or () if host not in in_play]
    if strangers:
        for host in hosts:
            found[host].append(_problem(PAUSE_HOST_NOT_IN_PLAY, 'keyring_migration_pause_hosts names hosts that are '
                                        'not in this play: %s' % ', '.join(strangers)))
    return found


class FilterModule(object):
    def filters(self):
        return dict(fleet_problems=fleet_problems)
