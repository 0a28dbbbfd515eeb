# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: rolling_held_back
short_description: Why a host must not start its step of a rolling keyring migration now
version_added: 0.4.0
description:
  - Takes the result of P(keyops.mysql.rolling_plan#filter) and a host, and returns why the host is held back - a
    member of its replication group failed (the group stops), or more of the batch failed than the failure budget
    allows (every group stops before its next step) - or an empty string when it may go.
  - A host's failure is read from its C(_keyring_migration_failure) variable, as the C(keyops.mysql.keyring_migration)
    role records it.
positional: _input, host, hostvars, batch, max_fail_percentage
options:
  _input:
    description: The rolling plan.
    type: dict
    required: true
  host:
    description: The host about to start its step.
    type: str
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
  batch:
    description: The hosts of this batch (C(ansible_play_batch)).
    type: list
    elements: str
    required: true
  max_fail_percentage:
    description: The share of the batch's hosts (in percent) that may fail before every group stops.
    type: float
    default: 0
'''

EXAMPLES = r'''
- name: Hold back a host whose group stopped
  ansible.builtin.set_fact:
    held_back: "{{ rolling | keyops.mysql.rolling_held_back(inventory_hostname, hostvars, ansible_play_batch, 0) }}"
'''

RETURN = r'''
_value:
  description: Why the host is held back, or an empty string.
  type: str
  sample: 'held back: its replication group async:db1 stopped after db2 failed'
'''

from ansible_collections.keyops.mysql.plugins.plugin_utils.rolling import held_back

FAILURE_VAR = '_keyring_migration_failure'


def rolling_held_back(plan, host, hostvars, batch, max_fail_percentage=0):
    failures = dict((h, (hostvars[h].get(FAILURE_VAR) if h in hostvars else '') or '') for h in plan['hosts'])
    return held_back(plan, host, failures, list(batch), max_fail_percentage)


class FilterModule(object):
    def filters(self):
        return dict(rolling_held_back=rolling_held_back)
