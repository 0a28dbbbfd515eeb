# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""When a module held a server in a state the run's timeline shows: paused (keyring_operations OFF), reloading its
keyring, waiting on its health gate.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.

Each span goes into the module's result as ``timeline``: a list of ``{phase, start, end}``, wall-clock seconds since
the epoch on the managed host (the role's report draws them beside the restarts it times on the controller, so the
clocks of controller and hosts should agree, as NTP keeps them).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from contextlib import contextmanager

PAUSED = 'paused'
RELOADING = 'reloading'
GATE = 'gate'


def now():
    return time.time()


def record(result, phase, start, end=None):
    """Add one span to result['timeline'] (ending now unless end is given); none without a start (never raises:
    callers record in `finally` blocks that must go on to resume a server)."""
    if start is None:
        return
    end = now() if end is None else end
    result.setdefault('timeline', []).append(dict(phase=phase, start=round(start, 3), end=round(end, 3)))


@contextmanager
def span(result, phase):
    """Record the body's run as one span, whether it returned or raised."""
    start = now()
    try:
        yield
    finally:
        record(result, phase, start)
