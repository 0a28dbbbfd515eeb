# -*- coding: utf-8 -*-
"""Aggregate callback for bench/: per host and task, the time from the worker's start to its result, written
as JSON to $BENCH_TIMER_FILE at the end of the playbook (and the play recap stats)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = '''
name: bench_timer
type: aggregate
short_description: per-host task timings for the keyops.mysql benchmark harness
description: Writes per-host, per-task start/end times and results to the file named by BENCH_TIMER_FILE.
requirements: [enable with ANSIBLE_CALLBACKS_ENABLED=bench_timer]
'''

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_timer'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.started = {}
        self.records = []

    def v2_runner_on_start(self, host, task):
        self.started[(host.get_name(), task._uuid)] = time.time()

    def _done(self, result, status):
        key = (result._host.get_name(), result._task._uuid)
        start = self.started.pop(key, None)
        self.records.append(dict(host=key[0], task=result._task.get_name(), action=result._task.action,
                                 status=status, start=start, end=time.time(),
                                 changed=bool(result._result.get('changed'))))

    def v2_runner_on_ok(self, result):
        self._done(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._done(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._done(result, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get('BENCH_TIMER_FILE')
        if not path:
            return
        summary = dict((h, stats.summarize(h)) for h in sorted(stats.processed))
        with open(path, 'w') as f:
            json.dump(dict(records=self.records, stats=summary), f)
