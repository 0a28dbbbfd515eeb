# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SIGKILL the migrating process at every point of a destination write; nothing is lost and a re-run converges."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import subprocess

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.faults import WRITE_POINTS
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key

from ..unit.keystore.strategies import random_bytes
from . import migration_child

OLD = [Key('dest-%d' % i, '', 'AES', random_bytes(100 + i, 32)) for i in range(3)]
SOURCE = [Key('INNODBKey-src-%d' % i, 'u%d@%%' % i, 'AES', random_bytes(200 + i, 32)) for i in range(50)]

PAIRS = [('keyring_file', 'component_keyring_file'), ('component_keyring_file', 'keyring_file'),
         ('component_keyring_file', 'component_keyring_encrypted_file')]


def _run(tmp_path, source_type, destination_type, fault=None):
    return subprocess.run(migration_child.command(source_type, tmp_path / 'source', destination_type, tmp_path / 'dest'),
                          env=migration_child.environment(fault), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)


def _read(path):
    with open(str(path), 'rb') as f:
        return f.read()


@pytest.mark.parametrize('source_type,destination_type', PAIRS)
@pytest.mark.parametrize('point', WRITE_POINTS)
def test_sigkill_during_a_destination_write(tmp_path, point, source_type, destination_type):
    open_keystore(source_type, str(tmp_path / 'source'), 'pw').write(SOURCE)
    open_keystore(destination_type, str(tmp_path / 'dest'), 'pw').write(OLD)
    source_before, dest_before = _read(tmp_path / 'source'), _read(tmp_path / 'dest')

    killed = _run(tmp_path, source_type, destination_type, fault=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    # The source never changes; the destination holds the old keys, or exactly old + source: nothing in between.
    assert _read(tmp_path / 'source') == source_before
    dest_keys = list(open_keystore(destination_type, str(tmp_path / 'dest'), 'pw').load())
    if point in ('after_rename', 'before_dir_fsync'):
        assert dest_keys == OLD + SOURCE
    else:
        assert dest_keys == OLD and _read(tmp_path / 'dest') == dest_before

    rerun = _run(tmp_path, source_type, destination_type)
    assert rerun.returncode == 0, rerun.stderr
    assert migration_child.copied(rerun.stdout) == (0 if point in ('after_rename', 'before_dir_fsync') else len(SOURCE))
    assert list(open_keystore(destination_type, str(tmp_path / 'dest'), 'pw').load()) == OLD + SOURCE
    assert _read(tmp_path / 'source') == source_before
    # The killed run's temp file (if it got that far) is gone after the re-run; no lock file ever existed.
    assert sorted(os.listdir(str(tmp_path))) == ['dest', 'source']
