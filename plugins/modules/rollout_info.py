#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The action plugin of the same name does the work, on the controller: this file documents it.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: rollout_info
short_description: How the play rolls out - its batches, the current one, what stops it
version_added: 0.4.0
description:
  - Reads the play the task runs in, on the controller, and contacts no host. The role
    C(keyops.mysql.keyring_migration) runs it first in every batch, to know which hosts its fleet checks and
    report answer for.
  - Fails, with one line saying what to do, under a strategy that lets hosts run ahead of each other (C(free),
    C(host_pinned)).
  - The batches are computed as ansible-core cuts them from C(serial) and the play's C(order); with C(order=shuffle)
    only the current batch is known.
  - Fails, unless O(allow_job_slicing=true), when the run is one slice of an AWX / Automation Platform sliced job
    (Job Slicing above 1) - a job in a workflow named after its own job template, as AWX runs each slice. The slices
    run at once, each with part of the inventory, and could split a replication group or a shared keystore.
options:
  allow_job_slicing:
    description:
      - Run as a slice of a sliced AWX job. Only when every replication group and every keystore shared by several
        servers lies within one slice.
    type: bool
    default: false
extends_documentation_fragment:
  - keyops.mysql.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
notes:
  - Runs on the controller as an action plugin; it needs no connection to the host.
author:
  - keyops.mysql developers (@keyops)
'''

EXAMPLES = r'''
# rollout.batch of rollout.batches, and rollout.run_hosts: the hosts of this batch (every host, unbatched).
- name: Read this play's batches
  keyops.mysql.rollout_info:
  register: rollout
'''

RETURN = r'''
batched:
  description: Whether the play runs in more than one batch (C(serial)).
  returned: success
  type: bool
  sample: true
batch:
  description: The number of the batch running now, from 1; null when the order is shuffled.
  returned: success
  type: int
  sample: 1
batches:
  description: How many batches the play has; null when the order is shuffled.
  returned: success
  type: int
  sample: 2
batch_of_host:
  description: Each host of the play and the batch it runs in (empty when the order is shuffled).
  returned: success
  type: dict
  sample: {db1: 1, db2: 1, db3: 2, db4: 2}
run_hosts:
  description:
    - The hosts this run of the role answers for - every host of the play when it runs in one batch, else this
      batch's.
  returned: success
  type: list
  elements: str
  sample: [db1, db2]
max_fail_percentage:
  description: The play's C(max_fail_percentage), null when it has none.
  returned: success
  type: float
  sample: 0.0
any_errors_fatal:
  description: The play's C(any_errors_fatal).
  returned: success
  type: bool
  sample: false
play:
  description: An id of the play, different for every play of a playbook run.
  returned: success
  type: str
  sample: 0242ac11-0002-5c2e-8a6d-000000000012
strategy:
  description: The play's strategy.
  returned: always
  type: str
  sample: linear
'''
