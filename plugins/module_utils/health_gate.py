# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health gate a server passes after its migration, before the next member of its group is changed.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.

evaluate() is pure (a unit test reaches every gate); the module polls a server and feeds it what it saw.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.keyops.mysql.plugins.module_utils.replication import ER_KEYRING_OPERATION


def _gate(name, ok, saw, fix=''):
    return dict(name=name, ok=bool(ok), saw=saw, fix=fix)


def evaluate(seen, expect):
    """The gates, in the order a user reads them, each dict(name, ok, saw, fix).

    seen: keyring_operations (bool), status (replication.status()), applied_source_gtids (bool or None when no
    source set was given).
    expect: channels (names of the asynchronous channels the server replicated through before), group (the GR
    group name it was a member of, or None), replicas (how many replicas were connected to it before).
    """
    gates = [_gate('keyring_operations', seen['keyring_operations'],
                   'keyring_operations %s' % ('ON' if seen['keyring_operations'] else 'OFF'),
                   'SET GLOBAL keyring_operations = ON')]
    status = seen['status']
    channels = dict((c['channel'], c) for c in status.get('channels') or ())
    for name in expect.get('channels') or ():
        label = "channel '%s'" % name
        channel = channels.get(name)
        if channel is None:
            gates.append(_gate('%s configured' % label, False, 'no such channel any more',
                               'CHANGE REPLICATION SOURCE TO ... FOR CHANNEL %r' % name))
            continue
        gates.append(_gate(
            '%s receiver' % label, channel['receiver_state'] == 'ON' and not channel['receiver_error'],
            'receiver %s%s' % (channel['receiver_state'],
                               _error(channel['receiver_error'], channel['receiver_error_message'])),
            'check the source is up and reachable, then START REPLICA IO_THREAD FOR CHANNEL %r' % name))
        fix = 'START REPLICA SQL_THREAD FOR CHANNEL %r' % name
        if channel['applier_error'] == ER_KEYRING_OPERATION:
            fix = 'SET GLOBAL keyring_operations = ON, then ' + fix
        gates.append(_gate(
            '%s applier' % label, channel['applier_state'] == 'ON' and not channel['applier_error'],
            'applier %s%s' % (channel['applier_state'],
                              _error(channel['applier_error'], channel['applier_error_message'])), fix))
    if seen.get('applied_source_gtids') is not None:
        gates.append(_gate('applied what its source had', seen['applied_source_gtids'],
                           'gtid_executed %s' % (status.get('gtid_executed') or 'empty'),
                           'wait for the replica to catch up, or look at its applier'))
    if expect.get('group'):
        group = status.get('group') or {}
        in_group = group.get('name') == expect['group']
        state = group.get('member_state', 'OFFLINE') if in_group else 'not in group %s' % expect['group']
        gates.append(_gate('group member ONLINE', in_group and state == 'ONLINE', 'member %s' % state,
                           'START GROUP_REPLICATION, and read the error log'))
    if expect.get('replicas'):
        connected = status.get('replicas_connected')
        if connected is not None:
            connected = set(connected)      # a replica that reconnected can leave its old dump thread for a while
            gates.append(_gate('replicas reconnected', len(connected) >= expect['replicas'],
                               '%d of %d replicas connected' % (len(connected), expect['replicas']),
                               'START REPLICA on the replicas that did not come back'))
    return gates


def _error(number, message):
    return ' (error %s: %s)' % (number, message) if number else ''


def failed(gates):
    return [g for g in gates if not g['ok']]


def describe(gates):
    """One line for the gates that did not pass."""
    return '; '.join('%s: %s (%s)' % (g['name'], g['saw'], g['fix']) if g['fix'] else '%s: %s' % (g['name'], g['saw'])
                     for g in failed(gates))
