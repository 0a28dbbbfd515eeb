# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health gate's decisions, from what a server showed (health_gate.evaluate is pure)."""

from ansible_collections.keyops.mysql.plugins.module_utils.health_gate import describe, evaluate, failed


def channel(receiver='ON', applier='ON', applier_error=0, receiver_error=0):
    return dict(channel='', source_uuid='u1', source_host='10.0.0.1', source_port=3306, receiver_state=receiver,
                receiver_error=receiver_error, receiver_error_message='boom' if receiver_error else '',
                applier_state=applier, applier_error=applier_error,
                applier_error_message="Can't find master key" if applier_error else '')


def seen(channels=(), group=None, replicas=None, keyring=True, applied=None):
    return dict(keyring_operations=keyring, applied_source_gtids=applied,
                status=dict(gtid_executed='u1:1-10', channels=list(channels), group=group, replicas_connected=replicas))


def names(gates):
    return [g['name'] for g in failed(gates)]


def test_a_healthy_replica_passes_every_gate():
    gates = evaluate(seen([channel()], applied=True), dict(channels=['']))
    assert not failed(gates)
    assert [g['name'] for g in gates] == ['keyring_operations', "channel '' receiver", "channel '' applier",
                                          'applied what its source had']


def test_a_paused_keyring_fails():
    assert names(evaluate(seen(keyring=False), {})) == ['keyring_operations']


def test_a_receiver_still_connecting_after_the_source_restarted_fails_until_it_is_on():
    assert names(evaluate(seen([channel(receiver='CONNECTING')]), dict(channels=['']))) == ["channel '' receiver"]


def test_an_applier_stopped_by_a_rotation_names_the_fix():
    gates = evaluate(seen([channel(applier='OFF', applier_error=3185)]), dict(channels=['']))
    assert names(gates) == ["channel '' applier"]
    assert 'error 3185' in describe(gates)
    assert 'keyring_operations = ON, then START REPLICA SQL_THREAD' in describe(gates)


def test_a_replica_behind_its_source_fails():
    assert names(evaluate(seen([channel()], applied=False), dict(channels=['']))) == ['applied what its source had']


def test_a_channel_that_disappeared_fails():
    assert names(evaluate(seen([]), dict(channels=['']))) == ["channel '' configured"]


def test_a_gr_member_must_be_online_in_its_group():
    group = dict(name='g', member_state='RECOVERING', member_role='SECONDARY', members=[])
    assert names(evaluate(seen(group=group), dict(group='g'))) == ['group member ONLINE']
    group['member_state'] = 'ONLINE'
    assert not failed(evaluate(seen(group=group), dict(group='g')))
    assert names(evaluate(seen(group=None), dict(group='g'))) == ['group member ONLINE']


def test_a_source_waits_for_its_replicas_to_reconnect():
    assert names(evaluate(seen(replicas=['10.0.0.2']), dict(replicas=2))) == ['replicas reconnected']
    assert not failed(evaluate(seen(replicas=['10.0.0.2', '10.0.0.3']), dict(replicas=2)))
    # Unreadable (no SELECT on performance_schema.threads): not a gate the login can check.
    assert not failed(evaluate(seen(replicas=None), dict(replicas=2)))
