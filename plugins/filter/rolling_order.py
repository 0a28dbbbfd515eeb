# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: rolling_order
short_description: The order of a rolling keyring migration, as lines a change board reads
version_added: 0.4.0
description:
  - Takes the result of P(keyops.mysql.rolling_plan#filter) and returns one line per replication group, in wave
    order - each server with its role (source, replica, primary, secondary) and whether it reloads its keyring or
    restarts - then the standalone servers (all in the first wave) and the servers with nothing to do.
  - A host's way is read from its C(_keyring_migration_how) and C(_keyring_migration_action) variables, as the
    C(keyops.mysql.keyring_migration) role records them at its preflight.
positional: _input, hostvars
options:
  _input:
    description: The rolling plan.
    type: dict
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
'''

EXAMPLES = r'''
- name: Print the order of the rollout
  ansible.builtin.debug:
    msg: "{{ rolling | keyops.mysql.rolling_order(hostvars) }}"
  run_once: true
'''

RETURN = r'''
_value:
  description: The lines.
  type: list
  elements: str
  sample:
    - 'async async:db1 - wave 1: db2 (replica, restart); wave 2: db3 (replica, restart); wave 3: db1 (source, restart)'
    - 'standalone servers, all in wave 1: db9 (reload, no restart)'
'''

from ansible_collections.keyops.mysql.plugins.plugin_utils.rolling import order

HOW_VAR = '_keyring_migration_how'
ACTION_VAR = '_keyring_migration_action'


def way(host_vars):
    """What the server goes through, in a few words."""
    if host_vars.get(HOW_VAR) == 'restart':
        return 'restart'
    if host_vars.get(ACTION_VAR, 'none') == 'none':
        return 'copy only, no restart'
    return 'reload, no restart'


def rolling_order(plan, hostvars):
    return order(plan, dict((h, way(hostvars[h]) if h in hostvars else None) for h in plan['hosts']))


class FilterModule(object):
    def filters(self):
        return dict(rolling_order=rolling_order)
