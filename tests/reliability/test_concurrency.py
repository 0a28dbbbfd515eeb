# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two migrations into one destination at once: the second waits for the first, or fails clearly; the file is
never a mix of the two."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import time

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key

from ..unit.keystore.strategies import random_bytes
from . import migration_child

OLD = [Key('old', '', 'AES', random_bytes(300, 32))]
FIRST = [Key('first-%d' % i, '', 'AES', random_bytes(310 + i, 32)) for i in range(20)]
SECOND = [Key('second-%d' % i, '', 'SECRET', random_bytes(330 + i, 64)) for i in range(20)]


def _start(tmp_path, source, timeout, fault=None):
    return subprocess.Popen(migration_child.command('component_keyring_file', tmp_path / source, 'component_keyring_file',
                                                    tmp_path / 'dest', timeout),
                            env=migration_child.environment(fault), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)


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
