# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One library migration in a child process, which the reliability tests kill or hold at a named fault point."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys
import textwrap

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.faults import ENVIRONMENT_VARIABLE

from ..conftest import REPO_ROOT

# argv: collections path, source type, source, destination type, destination, lock timeout (s). Prints
# "copied <n> after <s> s", or "<error class>: <message>" and exits 1.
SCRIPT = textwrap.dedent('''
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import migrate
    source = open_keystore(sys.argv[2], sys.argv[3], 'pw')
    destination = open_keystore(sys.argv[4], sys.argv[5], 'pw')
    destination.lock_timeout = float(sys.argv[6])
    started = time.monotonic()
    try:
        plan, result = migrate(source, destination)
    except KeystoreError as exc:
        print('%s: %s' % (type(exc).__name__, exc))
        sys.exit(1)
    print('copied %d after %.1f s' % (len(plan.to_copy), time.monotonic() - started))
''')


def command(source_type, source, destination_type, destination, lock_timeout=10.0):
    """argv of the child (the password of encrypted keystores is 'pw')."""
    return [sys.executable, '-c', SCRIPT, os.path.join(REPO_ROOT, '.cache', 'collections'), source_type,
            str(source), destination_type, str(destination), str(lock_timeout)]


def environment(fault=None):
    """This process's environment with KEYOPS_FAULT_INJECT set to `fault`, or unset."""
    env = dict(os.environ)
    env.pop(ENVIRONMENT_VARIABLE, None)
    if fault:
        env[ENVIRONMENT_VARIABLE] = fault
    return env


def copied(stdout):
    """The number of keys a successful child copied."""
    return int(stdout.split()[1])
