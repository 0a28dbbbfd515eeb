# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a command (ansible-playbook) as the subreaper of its descendants, and write the CPU-seconds of it and of the
SSH mux masters it started to a JSON file:  python -m bench._reaper OUT.json CONTROL_PATH_GLOB command...

An SSH mux master daemonises (its parent exits), so it is reparented to the nearest subreaper - this process -
instead of init, and its CPU (key exchange, encryption) is counted when this process reaps it after stopping it.
Only the ssh masters are reaped: a server the playbook started (mysqld, in its own session) is adopted here too,
and is left to be re-adopted by init when this process exits.
"""

import ctypes
import glob
import json
import os
import resource
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def children(comm):
    """This process's children named comm."""
    found = []
    for stat in glob.glob('/proc/[0-9]*/stat'):
        try:
            with open(stat) as handle:
                text = handle.read()
        except OSError:
            continue
        name = text[text.index('(') + 1:text.rindex(')')]
        ppid = int(text[text.rindex(')') + 2:].split()[1])
        if ppid == os.getpid() and name == comm:
            found.append(int(stat.split('/')[2]))
    return found


def stop_masters(control_glob):
    """Tell every SSH mux master whose control socket matches control_glob to exit."""
    for sock in glob.glob(control_glob):
        subprocess.call(['ssh', '-o', 'ControlPath=' + sock, '-O', 'exit', 'sandbox'], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)


def main(argv):
    out, control_glob, cmd = argv[0], argv[1], argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), 'prctl(PR_SET_CHILD_SUBREAPER)')
    rc = subprocess.call(cmd)
    stop_masters(control_glob)
    for pid in children('ssh'):
        os.waitpid(pid, 0)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, 'w') as handle:
        json.dump(dict(rc=rc, cpu_s=usage.ru_utime + usage.ru_stime), handle)
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
