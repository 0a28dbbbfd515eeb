# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two migrations into one destination at once: the second waits for the first, or fails clearly; the file is
never a mix of the two."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys
import textwrap
import time

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.faults import ENVIRONMENT_VARIABLE
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key

from ..conftest import REPO_ROOT
from ..unit.keystore.strategies import random_bytes

OLD = [Key('old', '', 'AES', random_bytes(300, 32))]
FIRST = [Key('first-%d' % i, '', 'AES', random_bytes(310 + i, 32)) for i in range(20)]
SECOND = [Key('second-%d' % i, '', 'SECRET', random_bytes(330 + i, 64)) for i in range(20)]

MIGRATE = textwrap.dedent('''
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import migrate
    destination = open_keystore('component_keyring_file', sys.argv[3])
    destination.lock_timeout = float(sys.argv[4])
    started = time.monotonic()
    try:
        plan, result = migrate(open_keystore('component_keyring_file', sys.argv[2]), destination)
    except KeystoreError as exc:
        print('%s: %s' % (type(exc).__name__, exc))
        sys.exit(1)
    print('copied %d after %.1f s' % (len(plan.to_copy), time.monotonic() - started))
''')


def _start(tmp_path, source, timeout, fault=None):
    env = dict(os.environ)
    env.pop(ENVIRONMENT_VARIABLE, None)
    if fault:
        env[ENVIRONMENT_VARIABLE] = fault
    return subprocess.Popen([sys.executable, '-c', MIGRATE, os.path.join(REPO_ROOT, '.cache', 'collections'),
                             str(tmp_path / source), str(tmp_path / 'dest'), str(timeout)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def _setup(tmp_path):
    open_keystore('component_keyring_file', str(tmp_path / 'first')).write(FIRST)
    open_keystore('component_keyring_file', str(tmp_path / 'second')).write(SECOND)
    open_keystore('component_keyring_file', str(tmp_path / 'dest')).write(OLD)


def _wait_for_temp_file(tmp_path):
    # The first writer is inside its write (its temp file exists) and holds the lock.
    deadline = time.monotonic() + 10
    while not [n for n in os.listdir(str(tmp_path)) if n.endswith('.keyops-tmp')]:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_second_writer_waits_for_the_first(tmp_path):
    _setup(tmp_path)
    first = _start(tmp_path, 'first', 10, fault='after_fsync:sleep=1.5')
    _wait_for_temp_file(tmp_path)
    second = _start(tmp_path, 'second', 10)
    out1, err1 = first.communicate(timeout=30)
    out2, err2 = second.communicate(timeout=30)
    assert first.returncode == 0 and second.returncode == 0, (out1, err1, out2, err2)
    assert out1.startswith('copied 20') and out2.startswith('copied 20')
    waited = float(out2.split('after ')[1].split(' s')[0])
    assert waited >= 0.5           # it really waited for the lock
    assert list(open_keystore('component_keyring_file', str(tmp_path / 'dest')).load()) == OLD + FIRST + SECOND
    assert sorted(os.listdir(str(tmp_path))) == ['dest', 'first', 'second']


def test_second_writer_gives_up_clearly(tmp_path):
    _setup(tmp_path)
    first = _start(tmp_path, 'first', 10, fault='after_fsync:sleep=2')
    _wait_for_temp_file(tmp_path)
    second = _start(tmp_path, 'second', 0.3)
    out2, _err2 = second.communicate(timeout=30)
    out1, _err1 = first.communicate(timeout=30)
    assert second.returncode == 1 and out2.startswith('ConcurrentWriterError') and 'holds the lock' in out2
    assert str(tmp_path / 'dest') in out2
    assert first.returncode == 0
    assert list(open_keystore('component_keyring_file', str(tmp_path / 'dest')).load()) == OLD + FIRST
