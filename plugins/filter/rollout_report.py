# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: rollout_report
short_description: The keyring migration report's host lines and result, across batches and plays
version_added: 0.4.0
description:
  - Takes every host the report covers and each host's latest report line, and returns the report's C(hosts), its
    C(result) (V(success), V(in progress) while later batches are still to run, V(failed)) and where the rollout
    stopped.
  - A host of the current play in a later batch is V(pending), or V(not run) when the current batch's failures end
    the rollout (the play's C(max_fail_percentage) or C(any_errors_fatal), as ansible-core applies them).
  - The C(keyops.mysql.keyring_migration) role calls it once per batch, on the controller.
positional: _input, entries, play, rollout, batch_failed
options:
  _input:
    description: Every host the report covers, in order.
    type: list
    elements: str
    required: true
  entries:
    description: Host name to that host's latest report line (a dict naming the C(play) that wrote it), or null.
    type: dict
    required: true
  play:
    description: The id of the play writing the report (M(keyops.mysql.rollout_info)'s C(play)).
    type: str
    required: true
  rollout:
    description: M(keyops.mysql.rollout_info)'s result for the batch writing the report.
    type: dict
    required: true
  batch_failed:
    description: How many hosts of this batch failed.
    type: int
    default: 0
'''

EXAMPLES = r'''
- name: The report's hosts and result
  ansible.builtin.set_fact:
    report: "{{ ansible_play_hosts_all | keyops.mysql.rollout_report(entries, rollout.play, rollout, 1) }}"
  run_once: true
'''

RETURN = r'''
_value:
  description: C(result), C(hosts) (host name to report line), C(batch), C(batches), C(stopped_after_batch).
  type: dict
  sample: {result: in progress, batch: 1, batches: 2, stopped_after_batch: null,
           hosts: {db1: {status: ok}, db2: {status: pending, batch: 2, reason: in batch 2, after this one}}}
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence

from ansible_collections.keyops.mysql.plugins.plugin_utils.rollout import report


def rollout_report(hosts, entries, play, rollout, batch_failed=0):
    if not is_sequence(hosts) or not isinstance(entries, dict) or not isinstance(rollout, dict):
        raise AnsibleFilterError('rollout_report expects a list of hosts, a dict of entries and rollout_info\'s result')
    return report(list(hosts), entries, play, rollout, int(batch_failed))


class FilterModule(object):
    def filters(self):
        return dict(rollout_report=rollout_report)
