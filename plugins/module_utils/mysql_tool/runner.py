# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running a tool: as the server's OS user where the tool has no --user of its own, in its own process group,
killed on timeout, output collected.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import subprocess
import time

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError


class ToolRun:
    """What a run produced: exit status (None if killed), output, duration, and whether we killed it."""

    def __init__(self, argv, returncode, stdout, stderr, seconds, killed_by=None):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds
        self.killed_by = killed_by


def _drop_privileges(uid, gid):
    def preexec():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return preexec


def run_tool(argv, cwd, timeout, run_as=None, watch=None):
    """Run argv in cwd; kill it after timeout seconds. run_as=(uid, gid) drops privileges first (for
    mysql_migrate_keyring, which has no --user). watch(process) is called every 50 ms while it runs; it may kill
    it (fault-injection tests do). The environment is the module's, minus MySQL's password variable."""
    env = dict(os.environ)
    env.pop('MYSQL_PWD', None)
    env['LC_ALL'] = 'C'
    started = time.monotonic()
    preexec = _drop_privileges(*run_as) if run_as and os.geteuid() == 0 else None
    try:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, preexec_fn=preexec, start_new_session=True)
    except OSError as exc:
        raise KeystoreError('cannot run %s: %s; install it or set tool paths (tool.%s)'
                            % (argv[0], exc.strerror, os.path.basename(argv[0])), path=argv[0])
    killed_by = None
    deadline = started + timeout
    # communicate() in slices, so the watcher and the timeout get a turn while the output is collected.
    stdout, stderr = b'', b''
    while True:
        try:
            out, err = process.communicate(timeout=0.05)
            stdout += out or b''
            stderr += err or b''
            break
        except subprocess.TimeoutExpired:
            if watch is not None and watch(process):
                killed_by = killed_by or 'watch'
            if time.monotonic() > deadline and killed_by is None:
                killed_by = 'timeout'
                kill_group(process)
    return ToolRun(argv, None if process.returncode < 0 else process.returncode,
                   stdout.decode('utf-8', 'replace'), stderr.decode('utf-8', 'replace'),
                   time.monotonic() - started, killed_by or ('signal %d' % -process.returncode
                                                             if process.returncode < 0 else None))


def kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass
