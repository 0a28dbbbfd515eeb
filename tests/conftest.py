# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared pytest set-up: import the collection as ansible_collections.keyops.mysql, find the shared vectors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DIR = os.environ.get('KEYOPS_SHARED_DIR', os.path.join(os.path.dirname(REPO_ROOT), 'shared'))
VECTORS_DIR = os.path.join(SHARED_DIR, 'vectors')


def _expose_collection():
    # Ansible imports collection code as ansible_collections.<namespace>.<name>; a symlink in a private
    # directory gives the checkout that name without copying it.
    parent = os.path.join(REPO_ROOT, '.cache', 'collections')
    link = os.path.join(parent, 'ansible_collections', 'keyops', 'mysql')
    if os.path.realpath(link) != REPO_ROOT:
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(REPO_ROOT, link)
    if parent not in sys.path:
        sys.path.insert(0, parent)


_expose_collection()


def vector_manifest():
    """../shared/vectors/manifest.json ({vector name: facts}), or {} where the shared directory is absent (the tests
    parametrised over it then show one visible skip)."""
    try:
        with open(os.path.join(VECTORS_DIR, 'manifest.json')) as f:
            return json.load(f)
    except IOError:
        return {}


@pytest.fixture(scope='session')
def vectors_dir():
    """../shared/vectors; tests that need it skip, visibly, where it is absent (CI always has it)."""
    if not os.path.isfile(os.path.join(VECTORS_DIR, 'manifest.json')):
        pytest.skip('the shared test vectors are absent (looked in %s); clone the project beside ../shared'
                    % VECTORS_DIR)
    return VECTORS_DIR


@pytest.fixture(autouse=True)
def on_a_managed_host(monkeypatch):
    """Modules run as on a managed host. Once anything imports Ansible's controller code (the filter plugins'
    unit tests do), ansible-core takes the process for the controller and sends a module's warnings to its
    display instead of the module's result."""
    from ansible.module_utils import _internal
    monkeypatch.setattr(_internal, 'is_controller', False)
