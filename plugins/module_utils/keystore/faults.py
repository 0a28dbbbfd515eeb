# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Named crash points for the fault-injection tests.

The reliability tests kill the migrating process (SIGKILL, as the kernel's OOM killer or an operator would) at
each named point of a destination write or an online run, then check that nothing was lost and that a re-run
converges. They set KEYOPS_FAULT_INJECT=<point> in the process's environment (a module's too, through Ansible's
`environment`); <point>:sleep=<seconds> instead holds the process there (to make two writers meet), and <point>@<n>
acts only at the n-th time the process reaches the point (a kill between the first and the second key of a Vault
write). Unset, as always in production, a checkpoint does nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import time

ENVIRONMENT_VARIABLE = 'KEYOPS_FAULT_INJECT'

# The named points: those of a destination write, and those of an online run (the tests kill at each).
WRITE_POINTS = ('before_temp_write', 'after_temp_write', 'after_fsync', 'after_rename', 'before_dir_fsync')
ONLINE_POINTS = ('after_pause', 'mid_copy', 'before_resume')


_REACHED = {}


def checkpoint(name):
    fault = os.environ.get(ENVIRONMENT_VARIABLE)
    if not fault:
        return
    point, _sep, action = fault.partition(':')
    point, _at, nth = point.partition('@')
    if point != name:
        return
    _REACHED[name] = _REACHED.get(name, 0) + 1
    if nth and _REACHED[name] != int(nth):
        return
    if action.startswith('sleep='):
        time.sleep(float(action[len('sleep='):]))
    else:
        os.kill(os.getpid(), signal.SIGKILL)
