# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""config_status: the keystore a keyring configuration file names, and the backups keyops left beside it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.config_status import config_file_status, option_value
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError


def test_a_component_configuration_names_its_keystore_and_lists_its_backups_oldest_first(tmp_path):
    config = tmp_path / 'component_keyring_file.cnf'
    config.write_text('{"path": "/var/lib/mysql-keyring/new", "read_only": false}')
    for name in ('component_keyring_file.cnf.41.2026-12-02@05:06:47~', 'component_keyring_file.cnf.7.2026-12-01@23:59:59~',
                 'component_keyring_file.cnf.bak', 'other.cnf.41.2026-12-02@05:06:47~'):
        (tmp_path / name).write_text('{}')
    report = config_file_status(str(config))
    assert (report['exists'], report['format'], report['keystore']) == (True, 'json', '/var/lib/mysql-keyring/new')
    assert [os.path.basename(p) for p in report['backups']] == [
        'component_keyring_file.cnf.7.2026-12-01@23:59:59~', 'component_keyring_file.cnf.41.2026-12-02@05:06:47~']


def test_an_option_file_names_the_last_keyring_file_data_of_the_servers_sections(tmp_path):
    text = ('[client]\nkeyring_file_data = /nowhere\n[mysqld]\nloose-keyring-file-data=/a # old\n'
            '[mysqld_safe]\nkeyring_file_data=/b\n[server]\nkeyring_file_data = "/c"\n')
    assert option_value(text, 'keyring_file_data') == '/c'
    option_file = tmp_path / 'my.cnf'
    option_file.write_text(text)
    assert config_file_status(str(option_file))['keystore'] == '/c'


def test_a_missing_file_is_reported_as_such(tmp_path):
    report = config_file_status(str(tmp_path / 'absent.cnf'))
    assert (report['exists'], report['keystore'], report['backups']) == (False, None, [])


def test_a_link_planted_at_the_configuration_is_refused_not_followed(tmp_path):
    target = tmp_path / 'root-only'
    target.write_text('{"path": "/secret"}')
    (tmp_path / 'component_keyring_file.cnf').symlink_to(target)
    if os.geteuid() == 0:
        os.lchown(str(tmp_path / 'component_keyring_file.cnf'), 65534, 65534)   # planted by another user
    with pytest.raises(KeystoreError):
        config_file_status(str(tmp_path / 'component_keyring_file.cnf'))
