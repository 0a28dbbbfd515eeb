#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The action plugin of the same name does the work, on the controller: this file documents it.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: migration_report
short_description: Write the keyring migration role's report for the run, on the controller
version_added: 0.5.0
description:
  - The role C(keyops.mysql.keyring_migration) runs this once per batch (C(run_once)) to write the run's report,
    C(keyring-migration-<run id>.json) and C(.md) in O(dir), and a copy as C(keyring-migration-report.json) and
    C(.md); and when a server was paused, reloaded, restarted or gated, the run's timeline as an image, C(.svg)
    under both names, which the Markdown report links.
  - Each host of the batch gets its line from what the role recorded on it (its C(_keyring_migration_*) variables); a
    host of the batch that is no longer in the play (unreachable, or failed before it could report) is V(failed).
    Lines an earlier batch or play of the same run wrote stay; hosts of later batches are V(pending), or V(not run)
    when this batch's failures stop the rollout.
  - Returns the run's summary and each host's line (without its timeline) as custom stats (like
    C(ansible.builtin.set_stats)), the job artifacts in AWX / Automation Platform. No key material or password is
    written or returned.
  - Runs on the controller as an action plugin; it contacts no host. The Markdown comes from the role's template
    C(report.md.j2).
options:
  dir:
    description:
      - Controller directory for the report; created (mode 0750) when missing.
      - Empty or unset - C(keyops.mysql/) in the job's artifacts directory when C(ansible-runner) runs the playbook
        (AWX, Automation Platform; it sets C(AWX_ISOLATED_DATA_DIR)), else C(~/.ansible/keyops.mysql/reports).
    type: path
  run_id:
    description: The run's id, in the file name. Empty when the run was refused before it was named.
    type: str
  rollout:
    description: M(keyops.mysql.rollout_info)'s result for this batch.
    type: dict
  source:
    description: The run's source keystore, as the report shows it (its password, token and secret options are left out).
    type: dict
  destination:
    description: The run's destination keystore, as the report shows it (its password, token and secret options are left out).
    type: dict
  use_after:
    description: Which keystore the servers use afterwards.
    type: str
  pause_hosts:
    description: The hosts the run pauses together.
    type: list
    elements: str
  rollback:
    description: Whether the run is a rollback (its source and destination are the migration's, swapped).
    type: bool
    default: false
  only_on_failure:
    description: Write nothing unless a host of this batch failed (the role's preflight-only play).
    type: bool
    default: false
extends_documentation_fragment:
  - keyops.mysql.attributes
attributes:
  check_mode:
    support: full
    details: In check mode the report is the plan; it is written all the same.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Writing the report is never a change.
notes:
  - Internal to the role C(keyops.mysql.keyring_migration), whose per-host results it reads.
author:
  - keyops.mysql developers (@keyops)
'''

EXAMPLES = r'''
# The role keyops.mysql.keyring_migration runs it once per batch, on the controller.
- name: Write the run's report
  keyops.mysql.migration_report:
    dir: /var/tmp/keyring-reports
    run_id: change-4711
  run_once: true
  register: report
'''

RETURN = r'''
report:
  description: The JSON report's path on the controller.
  returned: always
  type: str
  sample: /home/dba/.ansible/keyops.mysql/reports/keyring-migration-20261202T101500Z-3f2a.json
result:
  description: The run's result so far - V(success), V(in progress) (later batches to run) or V(failed).
  returned: always
  type: str
  sample: in progress
run_id:
  description: The run's id.
  returned: always
  type: str
  sample: 20261202T101500Z-3f2a
timeline:
  description:
    - The picture of the run (SVG) on the controller - per replication group and server, when it was paused,
      reloading its keyring, restarting and waiting on its health gate, and how it ended. The Markdown report links
      it; a copy is C(keyring-migration-report.svg).
  returned: when a server was paused, reloaded, restarted or gated (never in check mode)
  type: str
  sample: /home/dba/.ansible/keyops.mysql/reports/keyring-migration-20261202T101500Z-3f2a.svg
written:
  description: Whether the report was written (V(false) with O(only_on_failure) and no failed host).
  returned: success
  type: bool
  sample: true
'''
