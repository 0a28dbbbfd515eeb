# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/pause_guard: the one pause of keyring_operations around an online copy, on a fake session.

The fake session keeps what MysqlSession keeps (the server's keyring_operations, keyops's pause marker, the
statements sent); the modules' tests drive the same guard through a fake PyMySQL connection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils import pause_guard, timeline
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.mysql import MysqlError
from ansible_collections.keyops.mysql.plugins.module_utils.pause_guard import KEYOPS, TOOL, KeyringPause

OFF, ON = 'SET GLOBAL keyring_operations = OFF', 'SET GLOBAL keyring_operations = ON'


class FakeSession:
    """A MysqlSession's keyring_operations and pause marker, without a server. `fail` names the statements
    ('OFF', 'ON', 'GET') that raise MysqlError; `connected` counts connections."""

    where = 'the fake server'

    def __init__(self, keyring_operations=True, marker=None):
        self.keyring_operations = keyring_operations
        self.marker = marker
        self.queries = []
        self.fail = set()
        self.connected = 1

    def _maybe_fail(self, what):
        if what in self.fail:
            raise MysqlError('%s: MySQL error 2013: Lost connection (%s)' % (self.where, what), 2013)

    def get_keyring_operations(self):
        self._maybe_fail('GET')
        return self.keyring_operations

    def set_keyring_operations(self, enabled):
        if not enabled:
            self.write_pause_marker()
        self.queries.append(ON if enabled else OFF)
        try:
            self._maybe_fail('ON' if enabled else 'OFF')
        except MysqlError:
            if not enabled:
                self.remove_pause_marker()
            raise
        self.keyring_operations = enabled
        if enabled:
            self.remove_pause_marker()

    def read_pause_marker(self):
        return self.marker

    # The keyops process that wrote the marker still runs (a cancelled job's module) and resumes the server while
    # settle_pause_marker waits for it.
    owner_running = False

    def settle_pause_marker(self):
        if self.owner_running:
            self.owner_running = False
            self.keyring_operations = True
            self.marker = None
        return self.marker

    def write_pause_marker(self):
        self.marker = dict(pid=12345, server=self.where)

    def remove_pause_marker(self):
        self.marker = None

    # A server that replicates through no channel; `stopped_applier` makes its default channel's applier stopped
    # by a master key rotation during the pause (error 3185), as replication.status() reads it.
    stopped_applier = False

    # A Group Replication member that the rotation made leave its group (ERROR, offline_mode ON).
    expelled = False
    offline = False
    server_uuid = 'u-me'

    def optional_query(self, sql):
        if 'offline_mode' in sql:
            return [(int(self.offline),)]
        if 'group_replication_group_name' in sql:
            return [('g1',)] if self.expelled is not None else []
        if 'replication_group_members' in sql:
            return [('u-me', 'h', 3306, 'ERROR' if self.expelled else 'ONLINE', '' if self.expelled else 'SECONDARY')]
        if "'group_replication_applier'" in sql:
            return [(3185,)] if self.expelled else []
        if 'replication_connection_status' in sql:
            return [('', 'u1', 'ON', 0, '', '', '10.0.0.1', 3306)] if self.stopped_applier else []
        if 'replication_applier_status_by_worker' in sql and self.stopped_applier:
            return [('', 3185, "Can't find master key from keyring")]
        if 'replication_applier_status ' in sql + ' ' and self.stopped_applier:
            return [('', 'OFF')]
        return []

    def query(self, sql, args=None, record=True):
        self.queries.append(sql % tuple("'%s'" % a for a in args) if args else sql)
        if sql.startswith('START REPLICA'):
            self.stopped_applier = False
        if sql == 'START GROUP_REPLICATION':
            self.expelled = False
        if sql == 'SET GLOBAL offline_mode = OFF':
            self.offline = False
        return []

    def close(self):
        pass

    def connect(self):
        self.connected += 1
        self.fail.discard('GET')        # a new connection answers
        return self


class Failure(Exception):
    pass


@pytest.fixture
def checkpoints(monkeypatch):
    reached = []
    monkeypatch.setattr(pause_guard, 'checkpoint', reached.append)
    return reached


# ---- keyops pauses the server itself --------------------------------------------------------------------------

def test_a_rotation_during_the_pause_expels_a_gr_member_and_the_resume_has_it_rejoin_and_go_online(checkpoints):
    session, result = FakeSession(), {}
    with KeyringPause(session, result):
        session.expelled = session.offline = True     # the group applier failed: ERROR, offline_mode ON
    assert session.queries[-3:] == ['STOP GROUP_REPLICATION', 'START GROUP_REPLICATION',
                                    'SET GLOBAL offline_mode = OFF']
    assert result['replication_recovered'] == ['group_replication_applier']


def test_an_offline_mode_that_was_on_before_the_pause_stays_on(checkpoints):
    session, result = FakeSession(), {}
    session.offline = True                          # a DBA drained this server before the migration
    with KeyringPause(session, result):
        session.expelled = True
    assert session.queries[-2:] == ['STOP GROUP_REPLICATION', 'START GROUP_REPLICATION'] and session.offline


def test_a_rotation_during_the_pause_stops_the_applier_and_the_resume_restarts_it(checkpoints):
    session, result = FakeSession(), {}
    with KeyringPause(session, result):
        session.stopped_applier = True          # the source's ROTATE INNODB MASTER KEY arrives while OFF
    assert session.keyring_operations is True
    assert session.queries[-1] == "START REPLICA SQL_THREAD FOR CHANNEL ''"
    assert result['replication_recovered'] == ['']


def test_pauses_for_the_body_and_resumes_after_it(checkpoints):
    session, result, seen = FakeSession(), {}, []
    with KeyringPause(session, result, who_pauses=KEYOPS) as pause:
        seen.append((session.keyring_operations, session.marker is not None))
        checkpoints.append('body')
    assert seen == [(False, True)] and pause.state is result['keyring_operations']
    assert result['keyring_operations'] == dict(before=True, during=False, after=True) and result['paused'] is True
    assert result['queries'] == [OFF, ON] and session.keyring_operations is True and session.marker is None
    assert checkpoints == ['after_pause', 'body', 'before_resume']
    assert 'resume_error' not in result


def test_resumes_when_the_body_fails_and_lets_its_error_through(checkpoints):
    session, result = FakeSession(), {}
    with pytest.raises(Failure):
        with KeyringPause(session, result):
            raise Failure('the copy failed')
    assert session.keyring_operations is True and session.marker is None
    assert result['keyring_operations'] == dict(before=True, during=False, after=True)
    assert checkpoints == ['after_pause']           # before_resume is the point after a copy that succeeded


def test_a_failed_resume_after_a_failed_body_is_recorded_not_raised(checkpoints):
    session, result = FakeSession(), {}
    session.fail.add('ON')
    with pytest.raises(Failure):
        with KeyringPause(session, result):
            raise Failure('the copy failed')
    assert 'still OFF on the fake server' in result['resume_error']
    assert 'SET GLOBAL keyring_operations = ON there now' in result['resume_error']
    assert result['keyring_operations']['after'] is False and session.keyring_operations is False
    assert session.marker is not None               # so a later run (or keyops.mysql.resume) may resume it


def test_a_failed_resume_after_a_good_body_is_raised(checkpoints):
    session, result = FakeSession(), {}
    session.fail.add('ON')
    with pytest.raises(MysqlError) as caught:
        with KeyringPause(session, result):
            pass
    assert 'still OFF' in str(caught.value) and caught.value.code == 2013
    assert 'resume_error' not in result and result['keyring_operations']['after'] is False


def test_a_failed_read_right_after_the_pause_still_resumes(checkpoints):
    session, result = FakeSession(), {}
    original = session.set_keyring_operations

    def pause_then_lose_reads(enabled):
        original(enabled)
        if not enabled:
            session.fail.add('GET')
        else:
            session.fail.discard('GET')
    session.set_keyring_operations = pause_then_lose_reads
    with pytest.raises(MysqlError):
        with KeyringPause(session, result):
            raise AssertionError('the body must not run')
    assert session.keyring_operations is True and session.marker is None and result['queries'] == [OFF, ON]


def test_nothing_to_write_skips_the_pause(checkpoints):
    session, result = FakeSession(), {}
    with KeyringPause(session, result, skip_if=lambda: True):
        pass
    assert result['queries'] == [] and result['paused'] is False and checkpoints == []
    assert result['keyring_operations'] == dict(before=True, during=True, after=True)


def test_an_interrupted_keyops_pause_is_taken_over_and_resumed(checkpoints):
    # OFF, with the marker of a keyops run that was killed before its resume: what to restore is ON, even with
    # nothing to write.
    session, result = FakeSession(keyring_operations=False, marker=dict(pid=999, server='the fake server')), {}
    with KeyringPause(session, result, skip_if=lambda: True):
        assert session.marker['pid'] == 12345        # this run's marker now
    assert result['resumed_interrupted_pause'] == dict(pid=999, server='the fake server')
    assert result['keyring_operations'] == dict(before=True, during=False, after=True) and result['paused']
    assert session.keyring_operations is True and session.marker is None and result['queries'][-1] == ON


def test_a_pause_whose_keyops_process_still_runs_is_waited_for_not_taken_over(checkpoints):
    # A cancelled job's module still holds the server paused on the host: the run waits until it resumed the server
    # itself, then pauses it for its own copy, as a server that was ON.
    session, result = FakeSession(keyring_operations=False, marker=dict(pid=999, server='the fake server')), {}
    session.owner_running = True
    with KeyringPause(session, result):
        assert session.keyring_operations is False and session.marker['pid'] == 12345
    assert 'resumed_interrupted_pause' not in result
    assert result['keyring_operations'] == dict(before=True, during=False, after=True)
    assert session.keyring_operations is True and session.marker is None and result['queries'] == [OFF, ON]


def test_a_pause_by_someone_else_is_left_alone(checkpoints):
    session, result = FakeSession(keyring_operations=False), {}
    with KeyringPause(session, result):
        pass
    assert result['queries'] == [] and result['paused'] is False and session.keyring_operations is False
    assert result['keyring_operations'] == dict(before=False, during=False, after=False)
    assert 'resumed_interrupted_pause' not in result


def test_observe_reads_the_state_before_the_callers_own_checks(checkpoints):
    session, result = FakeSession(), {}
    pause = KeyringPause(session, result)
    assert pause.observe() is True and result['keyring_operations'] == dict(before=True, during=True, after=True)
    assert session.queries == [] and session.marker is None and session.keyring_operations is True
    # A check of the caller's refuses here: the guard was never entered, so the server was never paused.
    with pause:
        assert session.keyring_operations is False
    assert pause.observe() is True and session.queries == [OFF, ON]     # read once, not again


def test_check_mode_changes_nothing_and_lists_the_statements(checkpoints):
    session, result = FakeSession(), {}
    with KeyringPause(session, result, check_mode=True):
        pass
    assert result['queries'] == [OFF, ON] and session.keyring_operations is True and session.marker is None
    assert result['paused'] is False and checkpoints == []
    # An interrupted run's pause is reported as taken over, and still not touched.
    session, result = FakeSession(keyring_operations=False, marker=dict(pid=999)), {}
    with KeyringPause(session, result, check_mode=True):
        pass
    assert result['resumed_interrupted_pause'] == dict(pid=999) and result['queries'] == [OFF, ON]
    assert session.keyring_operations is False and session.marker == dict(pid=999)


# ---- MySQL's tool pauses the server; keyops claims and checks the pause ------------------------------------------

def test_tool_path_leaves_the_marker_first_and_removes_it_after_the_tools_resume():
    session, result, seen = FakeSession(), {}, []
    with KeyringPause(session, result, who_pauses=TOOL):
        seen.append(session.marker is not None)
        session.keyring_operations = False          # the tool's own pause ...
        session.keyring_operations = True           # ... and resume
    assert seen == [True] and session.marker is None and session.queries == []
    assert result['keyring_operations'] == dict(before=True, during=False, after=True)
    assert 'tool_left_paused' not in result and 'paused' not in result


def test_tool_path_resumes_what_the_tool_left_paused_even_when_it_failed():
    session, result = FakeSession(), {}
    with pytest.raises(Failure):
        with KeyringPause(session, result, who_pauses=TOOL):
            session.keyring_operations = False      # the tool was killed paused
            session.fail.add('GET')                 # ... and our idle connection was lost meanwhile
            raise Failure('the tool failed')
    assert result['tool_left_paused'] is True and session.connected == 2
    assert session.keyring_operations is True and session.marker is None and session.queries == [ON]
    assert result['keyring_operations']['after'] is True and 'resume_error' not in result


def test_tool_path_fails_a_successful_run_whose_server_cannot_be_set_on_again():
    # The tool succeeded, but the server is still OFF: the task must fail, not report success over a paused server.
    session, result = FakeSession(), {}
    session.fail.add('ON')
    with pytest.raises(MysqlError) as caught:
        with KeyringPause(session, result, who_pauses=TOOL):
            session.keyring_operations = False
    assert 'may still be OFF on the fake server' in str(caught.value) and 'resume_error' not in result
    assert result['keyring_operations']['after'] is False and session.marker is not None


def test_tool_path_records_a_failed_resume_beside_the_tools_own_failure():
    session, result = FakeSession(), {}
    session.fail.add('ON')
    with pytest.raises(RuntimeError):
        with KeyringPause(session, result, who_pauses=TOOL):
            session.keyring_operations = False
            raise RuntimeError('the tool failed')
    assert 'may still be OFF on the fake server' in result['resume_error']
    assert result['keyring_operations']['after'] is False and session.marker is not None


@pytest.mark.parametrize('check_mode', [False, True])
def test_tool_path_refuses_a_server_paused_by_someone_else(check_mode):
    session, result = FakeSession(keyring_operations=False), {}
    with pytest.raises(KeystoreError) as caught:
        with KeyringPause(session, result, check_mode=check_mode, who_pauses=TOOL):
            raise AssertionError('the tool must not run')
    assert 'keyops did not pause it' in str(caught.value)
    assert session.marker is None and session.queries == [] and session.keyring_operations is False


def test_tool_path_takes_over_an_interrupted_keyops_pause():
    session, result = FakeSession(keyring_operations=False, marker=dict(pid=999)), {}
    with KeyringPause(session, result, who_pauses=TOOL):
        session.keyring_operations = True           # the tool's resume
    assert result['resumed_interrupted_pause'] == dict(pid=999) and session.marker is None


def test_tool_path_in_check_mode_only_probes():
    session, result = FakeSession(), {}
    with KeyringPause(session, result, check_mode=True, who_pauses=TOOL):
        pass
    assert result['keyring_operations'] == dict(before=True, during=False, after=True)
    assert result['queries'] == pause_guard.TOOL_PAUSE_QUERIES and result['queries'] is not pause_guard.TOOL_PAUSE_QUERIES
    assert session.queries == [] and session.marker is None and session.keyring_operations is True


def test_who_pauses_is_checked():
    with pytest.raises(ValueError):
        KeyringPause(FakeSession(), {}, who_pauses='dba')


# ---- the run's timeline ------------------------------------------------------------------------------------------

@pytest.fixture
def clock(monkeypatch):
    """timeline.now() returns these times in turn."""
    times = []
    monkeypatch.setattr(timeline, 'now', lambda: times.pop(0))
    return times


def test_the_pause_is_one_span_of_the_timeline_from_off_to_on(checkpoints, clock):
    clock.extend([100.0, 100.0125])
    session, result = FakeSession(), {}
    with KeyringPause(session, result):
        assert session.keyring_operations is False
    assert result['timeline'] == [dict(phase='paused', start=100.0, end=100.013)]


def test_a_pause_whose_body_failed_is_on_the_timeline_too(checkpoints, clock):
    clock.extend([7.0, 9.5])
    session, result = FakeSession(), {}
    with pytest.raises(Failure):
        with KeyringPause(session, result):
            raise Failure('the copy failed')
    assert result['timeline'] == [dict(phase='paused', start=7.0, end=9.5)]


def test_no_pause_no_span(checkpoints, clock):
    session, result = FakeSession(), {}
    with KeyringPause(session, result, skip_if=lambda: True):
        pass
    assert 'timeline' not in result and clock == []


def test_the_tools_pause_is_a_span_from_the_hand_over_to_the_check_after_it(clock):
    clock.extend([50.0, 53.0])
    session, result = FakeSession(), {}
    with KeyringPause(session, result, who_pauses=TOOL):
        session.keyring_operations = False
        session.keyring_operations = True
    assert result['timeline'] == [dict(phase='paused', start=50.0, end=53.0)]


def test_a_lost_connection_is_reopened_to_resume(checkpoints):
    # The pause's connection was killed (or closed by offline_mode) while the copy ran: ON on a new one.
    session, result = FakeSession(), {}
    lost_once = []
    real_set = session.set_keyring_operations

    def set_keyring_operations(enabled):
        if enabled and not lost_once:
            lost_once.append(True)
            session.queries.append(ON)
            raise MysqlError('MySQL error 2006: MySQL server has gone away', 2006)
        real_set(enabled)
    session.set_keyring_operations = set_keyring_operations
    with KeyringPause(session, result):
        pass
    assert session.keyring_operations is True and session.marker is None and session.connected == 2
    assert result['reconnected_to_resume'] is True and result['keyring_operations']['after'] is True
