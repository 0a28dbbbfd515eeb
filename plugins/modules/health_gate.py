#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: health_gate
short_description: Wait until a MySQL server is healthy in its replication topology, or only report its state
version_added: 0.4.0
description:
  - The gate a server passes after its keyring migration (a reload or a restart) before the next member of its
    replication group is changed, as the role C(keyops.mysql.keyring_migration) uses it.
  - "Polls the server until every gate holds or O(timeout) passes: it accepts connections; C(keyring_operations) is
    C(ON); each asynchronous channel it replicated through before (O(channels)) has its receiver and applier C(ON)
    with no error; it has executed every transaction of O(source_gtid_executed) (what its source had when it came
    back: GTID sets, not C(Seconds_Behind_Source)); as a Group Replication member of O(group) it is C(ONLINE); at
    least O(replicas) replicas are connected to it again."
  - Reads replication state only from C(performance_schema) (never C(SHOW SLAVE STATUS), which MySQL 8.4 removed).
  - A master key rotation that reached a replica while its keyring was paused stops its applier with error 3185, and
    C(keyring_operations=ON) alone does not restart it. With O(restart_stopped_applier=true) the gate restarts such an
    applier once (C(START REPLICA SQL_THREAD)) and says so in RV(replication_recovered); an applier stopped for any
    other reason is left alone and fails its gate.
  - With O(wait=false) it only reports (RV(status), RV(gates)) and never fails on a gate; the role uses it to note
    what a source has executed.
options:
  wait:
    description: Wait for the gates and fail when one does not pass in O(timeout); V(false) only reports.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for every gate (a server that is still starting counts as not yet connected).
    type: int
    default: 300
  channels:
    description: The asynchronous replication channels whose receiver and applier must be C(ON) with no error
      (the default channel is V('')).
    type: list
    elements: str
    default: []
  source_gtid_executed:
    description: A GTID set the server must have executed (its source's C(gtid_executed), read when this server
      came back).
    type: str
  group:
    description: The Group Replication group name the server must be an C(ONLINE) member of.
    type: str
  replicas:
    description: How many replicas must be connected to the server again (a source after its restart; counted from
      the binlog dump threads in C(performance_schema.threads)).
    type: int
    default: 0
  restart_stopped_applier:
    description:
      - Restart, once, an applier that stopped with error 3185 (a rotation during a keyring pause); a Group
        Replication member that the same made leave its group (C(ERROR)) rejoins it (C(STOP) and C(START
        GROUP_REPLICATION), which needs C(GROUP_REPLICATION_ADMIN)). The gate cannot tell whether C(offline_mode),
        which the group's error sets, was C(ON) before the pause, and leaves it; the member's gate then passes with
        C(offline_mode) as it is. M(keyops.mysql.keyring_migrate) knows, and sets it back itself.
    type: bool
    default: true
  poll_interval:
    description: Seconds between two looks at the server.
    type: float
    default: 0.5
extends_documentation_fragment:
  - keyops.mysql.mysql
  - keyops.mysql.attributes
  - keyops.mysql.attributes.action_group
attributes:
  check_mode:
    support: full
    details: In check mode the gate reports the server's state once and neither waits nor restarts an applier.
  diff_mode:
    support: none
  idempotent:
    support: full
notes:
  - "The login user needs C(SELECT) on C(performance_schema.replication_connection_status),
    C(replication_connection_configuration), C(replication_applier_status), C(replication_applier_status_by_worker),
    C(replication_applier_status_by_coordinator), C(replication_group_members) and C(threads), and
    C(REPLICATION_SLAVE_ADMIN) to restart an applier. A table it may not read is reported as unknown."
seealso:
  - module: keyops.mysql.keyring_info
  - name: Replication tables in the Performance Schema
    description: Where every gate reads its state.
    link: https://dev.mysql.com/doc/refman/8.4/en/performance-schema-replication-tables.html
author:
  - keyops.mysql developers (@keyops)
'''

EXAMPLES = r'''
- name: Note what a source has executed, without waiting
  keyops.mysql.health_gate:
    wait: false
    login_unix_socket: /run/mysqld/mysqld.sock
  register: source_state

# On a replica, with the source's state registered on the source as above (hostvars[source].source_state), and
# channels: [''] for its default channel.
- name: Wait until a restarted server is healthy and has applied what the source had
  keyops.mysql.health_gate:
    source_gtid_executed: "{{ source_state.status.gtid_executed }}"
    timeout: 300
    login_unix_socket: /run/mysqld/mysqld.sock
'''

RETURN = r'''
passed:
  description: Whether every gate held (with O(wait=false), at the one look).
  returned: success
  type: bool
  sample: true
waited:
  description: Seconds from the first look to the last.
  returned: success
  type: float
  sample: 2.5
gates:
  description: Each gate at the last look - its name, whether it held, what the server showed, and what to do.
  returned: success
  type: list
  elements: dict
  sample: [{name: "channel '' applier", ok: true, saw: applier ON, fix: "START REPLICA SQL_THREAD FOR CHANNEL ''"}]
status:
  description:
    - The server's replication state at the last look - C(server_uuid), C(gtid_executed), C(channels) (each with
      its source's uuid, host and port, receiver and applier state and errors), C(group) (name, this member's state
      and role, the members) or V(null), C(replicas_connected) (the hosts of the replicas connected to it).
    - A part the login may not read is V(null).
  returned: success
  type: dict
  sample: {server_uuid: 3c1f..., gtid_executed: '3c1f...:1-42', channels: [], group: null, replicas_connected: []}
replication_recovered:
  description: The channels whose applier the gate restarted after it stopped with error 3185.
  returned: success
  type: list
  elements: str
  sample: []
timeline:
  description:
    - How long the gate waited, for the run's timeline - one span V(gate) with its C(start) and C(end) (seconds
      since the epoch, on the managed host).
  returned: when the gate waited (O(wait=true), not in check mode)
  type: list
  elements: dict
  sample: [{phase: gate, start: 1796205300.125, end: 1796205302.625}]
'''

import time

from ansible_collections.keyops.mysql.plugins.module_utils import health_gate, replication, timeline
from ansible_collections.keyops.mysql.plugins.module_utils.module_base import KeyopsModule
from ansible_collections.keyops.mysql.plugins.module_utils.mysql import CANNOT_REACH, MysqlError

# A server that is down, starting or shutting down (1053) fails the connection gate until the timeout, not at once.
STILL_STARTING = CANNOT_REACH + (1053,)


def look(session, params, recovered, may_restart):
    """One look at the server: what every gate sees, after restarting an applier the pause stopped (once)."""
    keyring_on = session.get_keyring_operations()
    if may_restart and keyring_on:
        # offline_mode before the pause is unknown here: a member that rejoins keeps it as it is (documented).
        recovered.extend(replication.restart_appliers_stopped_by_pause(session, already=recovered))
    status = replication.status(session)
    applied = None
    if params['source_gtid_executed']:
        applied = replication.gtid_subset(session, params['source_gtid_executed'])
    seen = dict(keyring_operations=keyring_on, status=status, applied_source_gtids=applied)
    expect = dict(channels=params['channels'], group=params['group'], replicas=params['replicas'])
    return status, health_gate.evaluate(seen, expect)


def main():
    module = KeyopsModule(
        argument_spec=KeyopsModule.generate_argspec(
            connection=True,
            wait=dict(type='bool', default=True),
            timeout=dict(type='int', default=300),
            channels=dict(type='list', elements='str', default=[]),
            source_gtid_executed=dict(type='str'),
            group=dict(type='str'),
            replicas=dict(type='int', default=0),
            restart_stopped_applier=dict(type='bool', default=True),
            poll_interval=dict(type='float', default=0.5),
        ),
        supports_check_mode=True,
    )
    params = module.params
    wait = params['wait'] and not module.check_mode

    def body():
        started = time.monotonic()
        started_at = timeline.now()
        recovered = []
        may_restart = params['restart_stopped_applier'] and wait
        unreachable = None
        while True:
            session = module.mysql_session()
            try:
                with session:
                    status, gates = look(session, params, recovered, may_restart)
                unreachable = None
            except MysqlError as exc:
                if not wait or exc.code not in STILL_STARTING:
                    raise
                unreachable, status, gates = str(exc), None, None
            waited = round(time.monotonic() - started, 1)
            passed = gates is not None and not health_gate.failed(gates)
            if passed or not wait or waited >= params['timeout']:
                break
            time.sleep(params['poll_interval'])
        module.result.update(passed=passed, waited=waited, gates=gates or [], status=status,
                             replication_recovered=recovered, changed=bool(recovered))
        if wait:
            timeline.record(module.result, timeline.GATE, started_at)
        if wait and not passed:
            saw = unreachable if gates is None else health_gate.describe(gates)
            module.fail_json(msg='%s did not pass its health gate in %d s: %s'
                             % (session.where, params['timeout'], saw), **module.result)

    module.run(body)


if __name__ == '__main__':
    main()
