# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service that stops and starts a server: its systemd unit, else what its distribution's packages call it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils import service_name

ROCKY = 'NAME="Rocky Linux"\nVERSION="9.4 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
ORACLE = 'NAME="Oracle Linux Server"\nID="ol"\nID_LIKE="fedora"\n'
AMAZON = 'NAME="Amazon Linux"\nID="amzn"\nID_LIKE="fedora"\n'
DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n'


@pytest.mark.parametrize('release, name', [(ROCKY, 'mysqld'), (ORACLE, 'mysqld'), (AMAZON, 'mysqld'),
                                           (DEBIAN, 'mysql'), (UBUNTU, 'mysql'), (None, 'mysql')])
def test_a_stopped_server_gets_the_name_its_distribution_gives_it(release, name):
    assert service_name.service_name(None, release)['name'] == name


@pytest.mark.parametrize('cgroup, unit', [
    ('0::/system.slice/mysqld.service\n', 'mysqld'),
    ('0::/system.slice/system-mysqld.slice/mysqld@replica1.service\n', 'mysqld@replica1'),
    ('12:pids:/system.slice/mysql.service\n1:name=systemd:/system.slice/mysql.service\n', 'mysql'),
    ('0::/system.slice/mariadb.service\n', 'mariadb'),
])
def test_a_running_server_is_in_its_systemd_unit(cgroup, unit):
    found = service_name.service_name(cgroup, DEBIAN)
    assert found == dict(name=unit, found_from='systemd unit of the running server')


@pytest.mark.parametrize('cgroup', [
    '0::/system.slice/ssh.service\n',                        # started by hand over ssh
    '0::/system.slice/gitlab-runner.service\n',              # a CI job's
    '0::/user.slice/user-0.slice/session-3.scope\n',         # a login session
    '0::/\n',                                                # a container
    '3:cpu:/system.slice/mysqld.service\n',                  # not systemd's hierarchy
])
def test_a_unit_that_is_not_a_database_servers_is_never_taken(cgroup):
    # Stopping ssh.service to restart MySQL would cut the host off: the distribution's name is used instead.
    assert service_name.service_name(cgroup, ROCKY)['name'] == 'mysqld'


def test_mariadb_without_systemd_is_mariadb():
    assert service_name.service_name(None, ROCKY, mariadb=True)['name'] == 'mariadb'


def test_this_hosts_own_process_and_os_release_are_read(tmp_path):
    found = service_name.discover(os.getpid())
    assert found['name'] in ('mysql', 'mysqld', 'mariadb') or found['found_from'].startswith('systemd')
    pid_file = tmp_path / 'mysqld.pid'
    pid_file.write_text('%d\n' % os.getpid())
    assert service_name.pid_of(str(pid_file)) == os.getpid()
    pid_file.write_text('')
    assert service_name.pid_of(str(pid_file)) is None
    assert service_name.pid_of(str(tmp_path / 'missing.pid')) is None
