# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""replication.status(): what an expulsion from its group would do to this login is read for the preflight only,
not at every look of the health gate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.keyops.mysql.plugins.module_utils import replication


class Member:
    """A GR secondary's answers, and the statements it was asked."""

    server_uuid = 'u-me'

    def __init__(self, privileges):
        self.privileges, self.asked = privileges, []

    def optional_query(self, sql):
        self.asked.append(sql)
        answers = [('group_replication_group_name', [('g1',)]),
                   ('replication_group_members', [('u-me', 'h', 3306, 'ONLINE', 'SECONDARY')]),
                   ('single_primary_mode', [(1,)]), ('exit_state_action', [('offline_mode',)]),
                   ('USER_PRIVILEGES', [(p,) for p in self.privileges])]
        return next((rows for key, rows in answers if key in sql), [])

    def query(self, sql, args=None, record=True):
        return [('u-me:1-5',)]


def test_the_preflight_learns_the_exit_state_action_and_whether_the_login_outlasts_offline_mode():
    group = replication.status(Member(['USAGE', 'SYSTEM_VARIABLES_ADMIN']), exit_state=True)['group']
    assert group['exit_state_action'] == 'OFFLINE_MODE' and group['login_outlasts_offline_mode'] is False
    group = replication.status(Member(['CONNECTION_ADMIN']), exit_state=True)['group']
    assert group['login_outlasts_offline_mode'] is True


def test_the_gates_look_does_not_ask():
    member = Member(['SUPER'])
    group = replication.status(member)['group']
    assert group['member_state'] == 'ONLINE' and 'login_outlasts_offline_mode' not in group
    assert not any('USER_PRIVILEGES' in sql or 'exit_state_action' in sql for sql in member.asked)
