# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyring_migrate through MySQL's own migration tools (real 9.7.4 mysqld and mysql_migrate_keyring) on a real
sandbox host, over SSH; the assertions are in playbooks/migration_tool.yml. The playbook runs at -vvvv and no
secret it passes (the encrypted keystore's password, the migration account's password) may appear in that output.

What 9.7 community binaries cannot show (a tool run that copies keys: they ship no keyring plugin and a single
keyring component) is listed in docs/migration-tool.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import subprocess

import pytest

from ..conftest import REPO_ROOT

pytestmark = pytest.mark.integration
PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks', 'migration_tool.yml')
ENC_PASSWORD = 'keyops-ENC-secret-5b7e1c'      # as in the playbook


@pytest.fixture(scope='module')
def fleet(sandbox_fleet):
    return sandbox_fleet(n=1, fresh=True)


def test_migration_tools_judged_by_output_and_server_resumed(fleet):
    env = fleet.ansible_env(ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.cache', 'collections'))
    res = subprocess.run([fleet.ansible_bin('ansible-playbook'), '-vvvv', '-i', str(fleet.inventory), PLAYBOOK],
                         env=env, cwd=fleet.state_dir, capture_output=True, text=True, timeout=900, check=False)
    output = res.stdout + res.stderr
    assert res.returncode == 0, output[-15000:]
    recap = re.findall(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', res.stdout, re.M)
    assert recap == [(h, o, c, '0', '0') for h, o, c, _u, _f in recap] and len(recap) == 1, output[-5000:]
    # Every failing tool run above was registered and asserted on; the module's output at -vvvv held no secret.
    login_password = fleet.hosts['mysql1']['mysql_accounts']['migration']['password']
    assert ENC_PASSWORD not in output
    assert login_password not in output
    # The tool's own output did reach the log (so the scan above looked at the real thing).
    assert 'Failed to load destination keyring plugin' in output
    assert 'Source and destination cannot be the same' in output
