# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-doc renders every module, with its options, examples and return values."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

from ..conftest import REPO_ROOT

MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(REPO_ROOT, 'plugins', 'modules'))
                 if name.endswith('.py') and not name.startswith('_'))


@pytest.mark.parametrize('module', MODULES)
def test_ansible_doc_renders(module, tmp_path):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.cache', 'collections'),
               ANSIBLE_HOME=str(tmp_path))
    ansible_doc = os.path.join(os.path.dirname(sys.executable), 'ansible-doc')
    out = subprocess.run([ansible_doc, '--json', 'keyops.mysql.%s' % module], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)['keyops.mysql.%s' % module]
    assert doc['doc']['module'] == module and doc['examples'] and doc['return']
    assert doc['doc'].get('options')
    text = subprocess.run([ansible_doc, 'keyops.mysql.%s' % module], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert text.returncode == 0 and 'EXAMPLES' in text.stdout and 'RETURN VALUES' in text.stdout, text.stderr


def test_ansible_doc_renders_the_role(tmp_path):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.cache', 'collections'),
               ANSIBLE_HOME=str(tmp_path))
    ansible_doc = os.path.join(os.path.dirname(sys.executable), 'ansible-doc')
    out = subprocess.run([ansible_doc, '-t', 'role', '--json', 'keyops.mysql.keyring_migration'], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert out.returncode == 0, out.stderr
    options = json.loads(out.stdout)['keyops.mysql.keyring_migration']['entry_points']['main']['options']
    with open(os.path.join(REPO_ROOT, 'roles', 'keyring_migration', 'defaults', 'main.yml')) as f:
        defaults = [line.split(':')[0].lstrip('# ') for line in f if line.lstrip('# ').startswith('keyring_migration_')]
    # meta/argument_specs.yml documents every variable defaults/main.yml sets (or names as required).
    assert sorted(set(defaults)) == sorted(options)
