# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules through ansible-playbook, over SSH, on real MySQL 9.7 hosts and a MariaDB host.

The playbooks in playbooks/ hold the assertions (about the servers' real state, read back with the mysql
client, stat and the keystore files); this file runs them and shows their output when one fails.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest

from ..conftest import REPO_ROOT

pytestmark = pytest.mark.integration
PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks')


@pytest.fixture(scope='module')
def fleet(sandbox_fleet, monkeypatch_module):
    # A fleet of its own: these playbooks restart servers and switch keystores.
    monkeypatch_module.setenv('ANSIBLE_COLLECTIONS_PATH', os.path.join(REPO_ROOT, '.cache', 'collections'))
    return sandbox_fleet(n=2, plugin_host=True, mariadb=True)


@pytest.fixture(scope='module')
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def run_playbook(fleet, name):
    res = fleet.playbook(os.path.join(PLAYBOOKS, name), timeout=900)
    output = res.stdout + res.stderr
    assert res.returncode == 0, output[-12000:]
    recap = re.findall(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', res.stdout, re.M)
    assert recap and all(unreachable == '0' and failed == '0' for _h, _ok, _c, unreachable, failed in recap), output
    return res


def test_keyring_info_and_keyring_operations_on_real_servers(fleet):
    res = run_playbook(fleet, 'server_modules.yml')
    assert set(h for h in re.findall(r'^(\S+)\s+: ok=', res.stdout, re.M)) == {'mysql1', 'mysql2', 'mariadb1'}


def test_keyring_migrate_online_offline_and_switch(fleet):
    res = run_playbook(fleet, 'migrate_modules.yml')
    assert set(h for h in re.findall(r'^(\S+)\s+: ok=', res.stdout, re.M)) == {'mysql1', 'mysql2', 'plugin1'}


def test_keyring_files_owner_fixes_error_3185(fleet):
    run_playbook(fleet, 'files_owner.yml')


def test_login_options_through_module_defaults_group_all(fleet):
    # meta/runtime.yml's `all` action group: login options set once in module_defaults reach the modules.
    res = run_playbook(fleet, 'module_defaults_group.yml')
    mysql_hosts = fleet.group('mysql')
    assert set(h for h in re.findall(r'^(\S+)\s+: ok=', res.stdout, re.M)) == set(mysql_hosts)
    for host in mysql_hosts:
        assert fleet.hosts[host]['mysql_accounts']['migration']['password'] not in res.stdout + res.stderr


def test_keyring_migrate_switch_config_moves_a_running_server_without_a_restart(fleet):
    # Last in this file: it leaves the servers on a keystore at a new path.
    res = run_playbook(fleet, 'zero_restart_switch.yml')
    assert set(h for h in re.findall(r'^(\S+)\s+: ok=', res.stdout, re.M)) == set(fleet.group('mysql'))
