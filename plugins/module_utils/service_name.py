# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The name of the service that starts and stops a server, for a role that must restart it.

The service a running server belongs to is known for sure: systemd puts it in its unit's cgroup
(/proc/<pid>/cgroup: 0::/system.slice/mysqld.service). Otherwise (a stopped server, no systemd) the distribution's
packages decide: MySQL's RPMs (Oracle's and the EL distributions') name it mysqld, Debian's and Ubuntu's mysql,
MariaDB's mariadb everywhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

# os-release IDs (ID, ID_LIKE) of the RedHat family, whose MySQL packages install mysqld.service.
REDHAT_IDS = ('rhel', 'fedora', 'centos', 'rocky', 'almalinux', 'ol', 'amzn', 'scientific')
OS_RELEASE = ('/etc/os-release', '/usr/lib/os-release')
# Only a unit named like a database service counts: a server started by hand sits in the cgroup of whatever started
# it (ssh.service, a CI runner's unit), and stopping that one would be a disaster.
SERVER_UNIT = re.compile(r'^(mysql|mysqld|mariadb|percona[\w-]*)(@[\w.:-]+)?$')


def unit_from_cgroup(text):
    """The systemd service of a database server whose cgroup holds the process ('mysqld', 'mysqld@replica1'), or
    None."""
    for line in (text or '').splitlines():
        # cgroup v2: "0::/system.slice/mysqld.service"; v1: "1:name=systemd:/system.slice/mysqld.service".
        hierarchy, _sep, path = line.partition(':')
        controllers, _sep, path = path.partition(':')
        if not (hierarchy == '0' and controllers == '' or controllers == 'name=systemd'):
            continue
        for part in reversed(path.split('/')):
            if part.endswith('.service'):
                unit = part[:-len('.service')]
                return unit if SERVER_UNIT.match(unit) else None
    return None


def os_ids(text):
    """ID and ID_LIKE of an os-release file, lower case."""
    ids = []
    for line in (text or '').splitlines():
        match = re.match(r'\s*(ID|ID_LIKE)\s*=\s*(.*)$', line)
        if match:
            ids.extend(match.group(2).strip().strip('"\'').lower().split())
    return ids


def service_name(cgroup_text=None, os_release_text=None, mariadb=False):
    """dict(name, found_from): the running server's systemd unit, else the name its distribution's packages give."""
    unit = unit_from_cgroup(cgroup_text)
    if unit:
        return dict(name=unit, found_from='systemd unit of the running server')
    if mariadb:
        return dict(name='mariadb', found_from='MariaDB packages')
    ids = os_ids(os_release_text)
    if any(i in REDHAT_IDS for i in ids):
        return dict(name='mysqld', found_from='RedHat family (os-release %s)' % ' '.join(ids))
    if ids:
        return dict(name='mysql', found_from='os-release %s' % ' '.join(ids))
    return dict(name='mysql', found_from='default (no os-release)')


def _read(path):
    # /proc and /etc/os-release (a link into /usr/lib on most systems) are root's, not the server user's: plain reads.
    try:
        with open(path) as f:
            return f.read()
    except (IOError, OSError, UnicodeDecodeError):
        return None


def discover(pid=None, mariadb=False):
    """service_name() from this host: the cgroup of process pid (None: a stopped server) and its os-release."""
    cgroup = _read('/proc/%d/cgroup' % pid) if pid else None
    release = None
    for path in OS_RELEASE:
        release = _read(path)
        if release is not None:
            break
    return service_name(cgroup, release, mariadb=mariadb)


def pid_of(pid_file):
    """The process id in a server's pid file, or None (unreadable, empty, or not a live process)."""
    text = _read(pid_file)
    if not text or not text.strip().isdigit():
        return None
    pid = int(text.strip())
    return pid if os.path.isdir('/proc/%d' % pid) else None
