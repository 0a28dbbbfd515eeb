# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A server's place in replication, read from performance_schema only, and the repair of one keyring hazard.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.

Never SHOW SLAVE STATUS or SHOW REPLICA STATUS: MySQL 8.4 removed the first, and the tables below are the same on
8.0, 8.4 and 9.x. Group Replication's own channels (group_replication_applier, group_replication_recovery) are the
group's business: they are described by the member's state in replication_group_members, not as channels.

The hazard: ALTER INSTANCE ROTATE INNODB MASTER KEY is written to the binary log. A replica whose keyring is paused
(keyring_operations=OFF) when the rotation reaches it stops its applier with error 3185, and setting the keyring ON
again does not restart it; START REPLICA after ON does (seen on the real 9.7.4). A Group Replication member fares
worse: its group applier fails on the rotation, the member leaves the group (MEMBER_STATE ERROR) and, as
group_replication_exit_state_action OFFLINE_MODE (9.x's default) says, sets offline_mode ON, which closes its
clients' connections; after ON, STOP and START GROUP_REPLICATION bring it back ONLINE with the rotation applied,
and offline_mode must be set OFF again (seen on the real 9.7.4).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.keyops.mysql.plugins.module_utils.mysql import MysqlError

ER_KEYRING_OPERATION = 3185          # "Can't find master key from keyring" on the applier
GR_CHANNELS = ('group_replication_applier', 'group_replication_recovery')

_CHANNELS_SQL = (
    'SELECT s.CHANNEL_NAME, s.SOURCE_UUID, s.SERVICE_STATE, s.LAST_ERROR_NUMBER, s.LAST_ERROR_MESSAGE, '
    's.RECEIVED_TRANSACTION_SET, c.HOST, c.PORT '
    'FROM performance_schema.replication_connection_status s '
    'LEFT JOIN performance_schema.replication_connection_configuration c ON c.CHANNEL_NAME = s.CHANNEL_NAME')
_APPLIER_SQL = 'SELECT CHANNEL_NAME, SERVICE_STATE FROM performance_schema.replication_applier_status'
# The coordinator's error, else the first worker's that has one (a multi-threaded applier stops on a worker).
_APPLIER_ERRORS_SQL = (
    'SELECT CHANNEL_NAME, LAST_ERROR_NUMBER, LAST_ERROR_MESSAGE '
    'FROM performance_schema.replication_applier_status_by_worker WHERE LAST_ERROR_NUMBER <> 0')
_COORDINATOR_ERRORS_SQL = (
    'SELECT CHANNEL_NAME, LAST_ERROR_NUMBER, LAST_ERROR_MESSAGE '
    'FROM performance_schema.replication_applier_status_by_coordinator WHERE LAST_ERROR_NUMBER <> 0')
_GROUP_APPLIER_ERROR_SQL = (
    "SELECT LAST_ERROR_NUMBER FROM performance_schema.replication_applier_status_by_worker "
    "WHERE CHANNEL_NAME = 'group_replication_applier' AND LAST_ERROR_NUMBER <> 0")
_MEMBERS_SQL = ('SELECT MEMBER_ID, MEMBER_HOST, MEMBER_PORT, MEMBER_STATE, MEMBER_ROLE '
                'FROM performance_schema.replication_group_members')
# Replicas connected to this server (their binlog dump threads): a source cannot otherwise tell who replicates
# from it. Visible with SELECT on performance_schema.threads.
_DUMP_THREADS_SQL = ("SELECT PROCESSLIST_HOST FROM performance_schema.threads "
                     "WHERE PROCESSLIST_COMMAND IN ('Binlog Dump', 'Binlog Dump GTID')")


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return value


def _rows(session, sql):
    """Rows, or None where the table is missing or the login may not read it (what could not be read is None)."""
    try:
        return session.optional_query(sql)
    except MysqlError as exc:
        if exc.code in (1142, 1227, 1044):     # table/specific/database access denied
            return None
        raise


def _channels(session):
    """Asynchronous channels: receiver and applier state, errors, and the source they replicate from."""
    rows = _rows(session, _CHANNELS_SQL)
    if rows is None:
        return None
    appliers = dict((_text(name), _text(state)) for name, state in (_rows(session, _APPLIER_SQL) or ()))
    errors = {}
    for sql in (_COORDINATOR_ERRORS_SQL, _APPLIER_ERRORS_SQL):
        for name, number, message in _rows(session, sql) or ():
            errors.setdefault(_text(name), (int(number), _text(message)))
    channels = []
    for name, source_uuid, state, number, message, received, host, port in rows:
        name = _text(name)
        if name in GR_CHANNELS:
            continue
        applier_error = errors.get(name, (0, ''))
        channels.append(dict(
            channel=name, source_uuid=_text(source_uuid) or None, source_host=_text(host), source_port=port,
            receiver_state=_text(state), receiver_error=int(number or 0), receiver_error_message=_text(message) or '',
            applier_state=appliers.get(name), applier_error=applier_error[0], applier_error_message=applier_error[1],
            received_transaction_set=_normalise_gtid_set(_text(received))))
    return channels


# The login's own global privileges, static and dynamic (information_schema shows a user its own rows).
_OWN_PRIVILEGES_SQL = (
    "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = CONCAT('''', "
    "SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')")


def _group(session):
    """This server's Group Replication membership, or None when it is in no group (or GR is not loaded)."""
    name = session.optional_query('SELECT @@GLOBAL.group_replication_group_name')
    if not name or not name[0][0]:
        return None
    me = session.server_uuid
    members = [dict(uuid=_text(uuid), host=_text(host), port=port, state=_text(state), role=_text(role) or '')
               for uuid, host, port, state, role in (_rows(session, _MEMBERS_SQL) or ())]
    mine = [m for m in members if m['uuid'] == me]
    single = session.optional_query('SELECT @@GLOBAL.group_replication_single_primary_mode')
    errors = _rows(session, _GROUP_APPLIER_ERROR_SQL) or ()
    return dict(name=_text(name[0][0]), members=members, applier_error=int(errors[0][0]) if errors else 0,
                member_state=mine[0]['state'] if mine else 'OFFLINE',
                member_role=mine[0]['role'] if mine else '',
                single_primary=bool(int(single[0][0])) if single else True)


def _exit_state(session):
    """What happens to this GR member's login if the group expels it: exit_state_action, and whether the login
    keeps its connection (and may connect) while offline_mode is ON - it holds CONNECTION_ADMIN or SUPER (granted to
    the user itself; one held through a role is not seen; None when that cannot be read).

    A GR member that a replicated rotation expels during the pause turns offline_mode ON (exit_state_action
    OFFLINE_MODE), which disconnects every other login before it can set keyring_operations ON again: seen on 9.7.4,
    it left the server paused."""
    exit_action = session.optional_query('SELECT @@GLOBAL.group_replication_exit_state_action')
    rows = _rows(session, _OWN_PRIVILEGES_SQL)
    return dict(exit_state_action=_text(exit_action[0][0]).upper() if exit_action else None,
                login_outlasts_offline_mode=None if rows is None else any(
                    _text(privilege) in ('CONNECTION_ADMIN', 'SUPER') for (privilege,) in rows))


def _normalise_gtid_set(value):
    return ''.join((value or '').split())


def gtid_executed(session):
    return _normalise_gtid_set(_text(session.query('SELECT @@GLOBAL.gtid_executed', record=False)[0][0]))


def status(session, exit_state=False):
    """This server's replication state: its channels, its group membership, the replicas connected to it, and the
    GTIDs it executed. A part the login may not read is None (the caller says what that means). With exit_state, a
    GR member's group also says what an expulsion would do to this login (the preflight's question; the health
    gate, which polls, does not ask it)."""
    dump = _rows(session, _DUMP_THREADS_SQL)
    group = _group(session)
    if group and exit_state:
        group.update(_exit_state(session))
    return dict(
        server_uuid=session.server_uuid,
        gtid_executed=gtid_executed(session),
        channels=_channels(session),
        group=group,
        replicas_connected=None if dump is None else sorted(_text(host) or '' for (host,) in dump),
    )


def gtid_subset(session, subset):
    """Whether this server executed every transaction of the GTID set subset."""
    if not subset:
        return True
    return bool(int(session.query('SELECT GTID_SUBSET(%s, @@GLOBAL.gtid_executed)', (subset,), record=False)[0][0]))


def stopped_by_paused_keyring(channels):
    """The channels whose applier stopped with error 3185: a master key rotation arrived while the keyring was
    paused."""
    return [c['channel'] for c in channels or ()
            if c['applier_state'] == 'OFF' and c['applier_error'] == ER_KEYRING_OPERATION]


def expelled_by_paused_keyring(group):
    """Whether this Group Replication member left its group because a rotation reached it while its keyring was
    paused (its group applier failed with 3185)."""
    return bool(group) and group['member_state'] == 'ERROR' and group.get('applier_error') == ER_KEYRING_OPERATION


def offline_mode(session):
    rows = session.optional_query('SELECT @@GLOBAL.offline_mode')
    return bool(int(rows[0][0])) if rows else None


def rejoin_group(session, offline_mode_before=None):
    """STOP and START GROUP_REPLICATION (the member rejoins and applies what it missed, the rotation included), and
    offline_mode OFF again when it was OFF before the pause (the group's error set it); unknown before, it is left."""
    session.query('STOP GROUP_REPLICATION')
    session.query('START GROUP_REPLICATION')
    if offline_mode_before is False and offline_mode(session):
        session.query('SET GLOBAL offline_mode = OFF')


def restart_appliers_stopped_by_pause(session, offline_mode_before=None, already=()):
    """After keyring_operations is ON again: START REPLICA SQL_THREAD on each channel whose applier stopped with
    3185, and a Group Replication member that the same left its group rejoins it, once. Returns the channels
    recovered (group_replication_applier for a rejoin; [] when none stopped, or the state cannot be read); a channel
    in `already` (recovered before, by a caller that looks again) is not touched a second time. An applier that
    stopped for any other reason is left as it is: that is the DBA's, and the health gate reports it."""
    restarted = []
    for channel in stopped_by_paused_keyring(_channels(session)):
        if channel in already:
            continue
        session.query("START REPLICA SQL_THREAD FOR CHANNEL %s", (channel,))
        restarted.append(channel)
    if GR_CHANNELS[0] not in already and expelled_by_paused_keyring(_group(session)):
        rejoin_group(session, offline_mode_before)
        restarted.append(GR_CHANNELS[0])
    return restarted
