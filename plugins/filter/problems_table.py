# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: problems_table
short_description: Hosts' problems as one table to read, one line per problem
version_added: 0.3.0
description:
  - Renders the output of P(keyops.mysql.fleet_problems#filter) as text - a header line saying nothing changed,
    then one line per problem (host, code, message) with the columns aligned, and the hosts without problems
    named once at the end.
positional: _input
options:
  _input:
    description: Host name to the list of that host's problems (each a C(code) and a C(msg)).
    type: dict
    required: true
'''

EXAMPLES = r'''
- name: Stop the run, showing every host's problems once
  ansible.builtin.fail:
    msg: "{{ problems_by_host | keyops.mysql.problems_table }}"
  run_once: true
'''

RETURN = r'''
_value:
  description: The table, lines separated by newlines.
  type: str
'''


def problems_table(problems_by_host):
    rows = [(host, p.get('code', ''), p.get('msg', '')) for host, problems in problems_by_host.items()
            for p in problems or ()]
    ready = [host for host, problems in problems_by_host.items() if not problems]
    failing = len(set(row[0] for row in rows))
    lines = ['Preflight failed on %d of %d host%s; nothing was changed on any host.'
             % (failing, len(problems_by_host), '' if len(problems_by_host) == 1 else 's')]
    if rows:
        host_width = max(len('host'), max(len(row[0]) for row in rows))
        code_width = max(len('problem'), max(len(row[1]) for row in rows))
        lines.append('%-*s  %-*s  %s' % (host_width, 'host', code_width, 'problem', 'what to do'))
        lines.extend('%-*s  %-*s  %s' % (host_width, host, code_width, code, msg) for host, code, msg in rows)
    if ready and rows:
        lines.append('Ready (not run because of the above): %s' % ', '.join(ready))
    return '\n'.join(lines)


class FilterModule(object):
    def filters(self):
        return dict(problems_table=problems_table)
