#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: keyring_operations
short_description: Pause or resume a MySQL server's keyring operations
version_added: 0.1.0
description:
  - Sets the global C(keyring_operations) variable of a running MySQL server (5.7.21 and later).
  - While it is C(OFF) the server neither creates, rotates nor removes keys, so its keystore can be copied
    safely (an online migration). Reads of encrypted data go on.
  - The variable is not persisted; a restarted server always comes back with C(ON).
options:
  state:
    description:
      - V(disabled) pauses keyring operations (C(OFF)); V(enabled) resumes them (C(ON)).
    type: str
    required: true
    choices: [enabled, disabled]
  only_paused_by_keyops:
    description:
      - With O(state=enabled), resume the server only if keyops paused it (its pause marker is there - an interrupted
        keyops run left it paused). A server someone else paused - a DBA, another tool - is left C(OFF), with a
        warning and RV(left_paused=true).
      - The C(keyops.mysql.resume) playbook sets it unless told C(keyring_migration_resume_all=true).
    type: bool
    default: false
extends_documentation_fragment:
  - keyops.mysql.mysql
  - keyops.mysql.attributes
  - keyops.mysql.attributes.action_group
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
notes:
  - Pausing leaves a marker in C(/run/keyops-mysql/) on the managed host, and resuming removes it, so that a later
    run can tell a server that an interrupted keyops run left paused from one a DBA paused on purpose.
  - A pause whose keyops process still runs on the host - the module of a cancelled or killed job, which goes on with
    its copy and resumes the server itself - is waited for (up to 60 seconds) before O(state=enabled) acts, and
    named in the error if it still runs then.
  - The login user needs C(SUPER), or both C(SYSTEM_VARIABLES_ADMIN) and C(ENCRYPTION_KEY_ADMIN).
  - Whatever a play sets to V(disabled) it must set back to V(enabled), also when a later task fails; use a
    C(block) with an C(always) section, as the role M(keyops.mysql.keyring_operations) users get from
    C(keyops.mysql.keyring_migration) does.
seealso:
  - name: MySQL manual, Migrating Keys Between Keyring Keystores
    description: The procedure this collection automates, including the one for several running servers.
    link: https://dev.mysql.com/doc/refman/8.4/en/keyring-key-migration.html
author:
  - keyops.mysql developers (@keyops)
'''

EXAMPLES = r'''
- name: Pause keyring operations for an online key migration
  keyops.mysql.keyring_operations:
    state: disabled
    login_unix_socket: /run/mysqld/mysqld.sock

- name: Resume them
  keyops.mysql.keyring_operations:
    state: enabled
    login_unix_socket: /run/mysqld/mysqld.sock

- name: Resume a server an interrupted keyops run left paused, and leave a DBA's pause alone
  keyops.mysql.keyring_operations:
    state: enabled
    only_paused_by_keyops: true
    login_unix_socket: /run/mysqld/mysqld.sock
'''

RETURN = r'''
previous:
  description: Whether keyring operations were enabled before the task.
  returned: success
  type: bool
  sample: true
current:
  description: Whether keyring operations are enabled after the task (in check mode, what they would be).
  returned: success
  type: bool
  sample: false
server_version:
  description: The server's version string.
  returned: success
  type: str
  sample: 9.7.4
paused_by_keyops:
  description:
    - When the server was paused by keyops (this module or C(keyops.mysql.keyring_migrate)) and not resumed, the
      marker it left - when and by which process - else V(null). A run killed between pause and resume leaves one.
  returned: success
  type: dict
  sample: {server: the MySQL server at socket /run/mysqld/mysqld.sock, paused_at: '2026-11-23T10:00:00Z', pid: 4242,
           started: 918273}
left_paused:
  description: With O(only_paused_by_keyops=true), whether the server was left C(OFF) because keyops did not pause it.
  returned: success
  type: bool
  sample: false
replication_recovered:
  description:
    - The replication channels whose applier this resume restarted (C(START REPLICA SQL_THREAD)), once each. A master
      key rotation replicated from the source while the keyring was paused stops a replica's applier with error 3185,
      and setting the keyring C(ON) alone does not restart it. An applier stopped for another reason is left alone.
  returned: when O(state=enabled) set the server C(ON)
  type: list
  elements: str
  sample: ['']
queries:
  description: The statements that changed (or in check mode, would change) the server.
  returned: success
  type: list
  elements: str
  sample: ['SET GLOBAL keyring_operations = OFF']
'''

from ansible_collections.keyops.mysql.plugins.module_utils.module_base import KeyopsModule
from ansible_collections.keyops.mysql.plugins.module_utils.replication import restart_appliers_stopped_by_pause


def main():
    module = KeyopsModule(
        argument_spec=KeyopsModule.generate_argspec(
            connection=True,
            state=dict(type='str', required=True, choices=['enabled', 'disabled']),
            only_paused_by_keyops=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )

    def body():
        wanted = module.params['state'] == 'enabled'
        with module.mysql_session() as session:
            # Resuming under a keyops process that still holds its pause (a cancelled job's module finishing its copy
            # on this host) would let it write unpaused: it is waited for, and resumes the server itself.
            marker = session.settle_pause_marker() if wanted and not module.check_mode else session.read_pause_marker()
            previous = session.get_keyring_operations()
            module.result.update(previous=previous, current=previous, server_version=session.server_version,
                                 queries=[], paused_by_keyops=marker if not previous else None, left_paused=False)
            if wanted and not previous and not marker and module.params['only_paused_by_keyops']:
                module.result['left_paused'] = True
                module.warn('%s: keyring_operations is OFF and keyops did not pause it (a DBA or another tool did): '
                            'left OFF. Resume it yourself when that work is done, or run keyops.mysql.resume with '
                            'keyring_migration_resume_all=true' % session.where)
                return
            if previous and marker and wanted and not module.check_mode:
                session.remove_pause_marker()       # the server restarted since, and came back ON
            if previous != wanted:
                if module.check_mode:
                    session.queries.append('SET GLOBAL keyring_operations = %s' % ('ON' if wanted else 'OFF'))
                else:
                    session.set_keyring_operations(wanted)
                    if wanted:
                        module.result['replication_recovered'] = restart_appliers_stopped_by_pause(session)
                module.result.update(changed=True, queries=session.queries,
                                     current=wanted if module.check_mode else session.get_keyring_operations())
            if module._diff:
                module.result['diff'] = dict(before=dict(keyring_operations=previous),
                                             after=dict(keyring_operations=module.result['current']))

    module.run(body)


if __name__ == '__main__':
    main()
