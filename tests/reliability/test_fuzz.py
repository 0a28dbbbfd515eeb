# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parsers never raise anything but a KeystoreError, never hang and stay small, whatever the input.

The full campaign (`make fuzz`, 1,000,000 inputs) is recorded in the issue notes; the suite runs a share of it
and hypothesis on top.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import KEYSTORE_TYPES
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError

from ..conftest import REPO_ROOT
from ..unit.keystore.strategies import codec
from . import fuzz


def test_mutation_fuzzing_share():
    # In a process of its own, so that its peak memory is the parsers' alone.
    out = subprocess.run([sys.executable, '-m', 'tests.reliability.fuzz', '--inputs', '50000', '--seed', '1',
                          '--json'], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout)
    counts = dict((line.rsplit(' ', 1)[0], int(line.rsplit(' ', 1)[1])) for line in summary['outcomes'])
    assert sum(counts.values()) == 50000
    outcomes = set(key.split(' ')[1] for key in counts)
    # The campaign reaches every error class the formats have, and valid decodes.
    assert {'BadHeaderError', 'MissingEofError', 'DigestMismatchError', 'TruncatedRecordError',
            'OverlongLengthError', 'BadPaddingError', 'BadJsonError', 'BadHexError', 'WrongPasswordError',
            'decoded'} <= outcomes
    assert summary['slowest_seconds'] < 1.0 and summary['peak_rss_kib'] < 256 * 1024


def test_a_seed_names_one_campaign():
    # The share above asserts rare outcomes (WrongPasswordError comes from a mutated IV or another password): with
    # any randomness outside the seed they would come and go between runs and machines.
    first = fuzz.run(3000, seed=7, report=lambda line: None)[0]
    assert fuzz.run(3000, seed=7, report=lambda line: None)[0] == first


@pytest.mark.parametrize('keystore_type', sorted(KEYSTORE_TYPES))
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=600),
                      st.builds(lambda prefix, rest: prefix + rest,
                                st.sampled_from([b'Keyring file version:2.0', b'Keyring file version:1.0',
                                                 b'{"version":"1.0","elements":[', b'0123456789ABCDEF' * 2]),
                                st.binary(max_size=400))))
def test_arbitrary_bytes(keystore_type, data):
    store = codec(keystore_type)
    try:
        store.decode(data)
    except KeystoreError:
        pass
