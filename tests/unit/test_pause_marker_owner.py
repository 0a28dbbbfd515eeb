# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A pause marker's process: whether it still runs (by pid and start time), and waiting for it to end."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys
import time

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils import mysql
from ansible_collections.keyops.mysql.plugins.module_utils.mysql import MysqlError, MysqlSession


class MarkerOnly:
    """What settle_pause_marker uses of a session: where the server is, and the marker on this host."""

    where = 'the MySQL server at socket /run/mysqld/mysqld.sock'

    def __init__(self, marker):
        self.marker = marker

    def read_pause_marker(self):
        return self.marker


@pytest.fixture
def other_process():
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    yield child
    child.kill()
    child.wait()


def marker_of(pid):
    return dict(pid=pid, started=mysql.process_start(pid), paused_at='2026-12-03T04:00:00Z')


def test_a_marker_names_one_process_by_pid_and_start_time(other_process):
    assert mysql.marker_owner_running(marker_of(other_process.pid))
    # The same pid with another start time is a process that reused it: not the one that paused.
    assert not mysql.marker_owner_running(dict(marker_of(other_process.pid), started=1))
    # A marker of an older keyops (no start time), this process's own, or none: nothing to wait for.
    assert not mysql.marker_owner_running(dict(pid=other_process.pid, paused_at='x'))
    assert not mysql.marker_owner_running(marker_of(os.getpid()))
    assert not mysql.marker_owner_running(None)


def test_a_process_that_ended_is_not_running(other_process):
    marker = marker_of(other_process.pid)
    other_process.kill()
    other_process.wait()
    assert mysql.process_start(other_process.pid) is None and not mysql.marker_owner_running(marker)


def test_settling_waits_until_the_process_ends_and_reads_the_marker_again(other_process):
    session = MarkerOnly(marker_of(other_process.pid))
    calls = []

    def read():
        calls.append(time.time())
        if len(calls) == 3:
            # The cancelled job's module finished its copy: it resumed the server and removed its marker.
            other_process.kill()
            other_process.wait()
            session.marker = None
        return session.marker
    session.read_pause_marker = read
    assert MysqlSession.settle_pause_marker(session, timeout=10, poll=0.05) is None
    assert len(calls) == 3


def test_settling_names_the_process_when_it_still_runs_at_the_end(other_process):
    session = MarkerOnly(marker_of(other_process.pid))
    with pytest.raises(MysqlError) as err:
        MysqlSession.settle_pause_marker(session, timeout=0.2, poll=0.05)
    msg = str(err.value)
    assert ('keyops process %d' % other_process.pid) in msg and session.where in msg
    assert 'wait until it ends, or kill it, and run again' in msg
