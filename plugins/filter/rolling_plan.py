# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: rolling_plan
short_description: The rolling order of a keyring migration, from each server's place in replication
version_added: 0.4.0
description:
  - Takes the hosts of a run and, for each, the result of its preflight M(keyops.mysql.keyring_info) task (with
    O(keyops.mysql.keyring_info#module:replication=true)), and returns the replication groups, each host's place in
    its group, the waves of the rollout and each host's problems.
  - A group is a set of hosts joined by replication (an asynchronous replica and its source, matched by the
    source's C(server_uuid); the members of a Group Replication group). Within a group the replicas and GR
    secondaries go before their source or primary, at most O(max_unavailable) at a time, and a source never with
    its replicas; groups go in parallel (wave I(i) is the I(i)-th step of every group).
  - A group whose members are not all in the run, replication in a circle, or replication state the login may not
    read is a problem of the hosts concerned.
  - The C(keyops.mysql.keyring_migration) role calls it once per run, on the controller.
positional: _input, hostvars, result_var, max_unavailable, serial
options:
  _input:
    description: The hosts of the run, in play order.
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
  max_unavailable:
    description: How many servers of one group may be changed at a time.
    type: int
    default: 1
  serial:
    description:
      - The batch size the hosts will be migrated in (as C(serial) takes it); a group split across two batches is
        then a problem of its members. V(0) or omitted - one batch.
    type: raw
'''

EXAMPLES = r'''
- name: The rolling order
  ansible.builtin.set_fact:
    rolling: "{{ ansible_play_hosts_all | keyops.mysql.rolling_plan(hostvars, 'preflight', 1) }}"
  run_once: true
'''

RETURN = r'''
_value:
  description:
    - C(groups) (group id to its kind - C(async), C(group_replication) or C(standalone) - its C(members) in order and
      its C(steps)), C(hosts) (host to its C(group), C(role) - C(source), C(replica), C(primary), C(secondary),
      C(member) or C(standalone) - C(step), C(source), C(channels), C(gr_group), C(replicas)), C(waves) (each wave's
      C(members), and the C(sources) whose executed GTIDs its replicas are gated on) and C(problems) (host to its
      list of C(code), C(msg)).
  type: dict
  sample:
    groups: {'async:db1': {kind: async, members: [db2, db1], steps: [[db2], [db1]]}}
    waves: [{members: [db2], sources: [db1]}, {members: [db1], sources: []}]
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence

from ansible_collections.keyops.mysql.plugins.plugin_utils.rollout import batches
from ansible_collections.keyops.mysql.plugins.plugin_utils.rolling import rolling_plan as _rolling_plan


def has_work(report):
    """Whether the host's preflight found keys to copy, a keystore to create or a server to switch or restart."""
    if not report or report.get('failed') or report.get('unreachable'):
        return False
    migration = report.get('migration') or {}
    return bool(migration.get('migrated_count') or migration.get('destination_created')
                or (report.get('plan') or {}).get('action', 'none') != 'none')


def rolling_plan(hosts, hostvars, result_var, max_unavailable=1, serial=None):
    if not is_sequence(hosts):
        raise AnsibleFilterError('rolling_plan expects the list of the run\'s hosts')
    hosts = list(hosts)
    results = dict((h, hostvars[h].get(result_var) if h in hostvars else None) for h in hosts)
    reports = dict((h, (r or {}).get('replication')) for h, r in results.items())
    plan = None
    if serial not in (None, '', 0, '0', '100%'):
        plan = batches(hosts, list(serial) if is_sequence(serial) else [serial])
    return _rolling_plan(hosts, reports, work=dict((h, has_work(r)) for h, r in results.items()),
                         addresses=dict((h, dict(ansible_host=hostvars[h].get('ansible_host', h)))
                                        for h in hosts if h in hostvars),
                         max_unavailable=max_unavailable, batches=plan)


class FilterModule(object):
    def filters(self):
        return dict(rolling_plan=rolling_plan)
