# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""server_keyrings: which keyrings a server has enabled and which keystore it uses, decided once for the role."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.keyops.mysql.plugins.module_utils.server_keyrings import active_keyrings, keystore_in_use

COMPONENT = dict(Component_name='component_keyring_file', Component_status='Active',
                 Data_file='/var/lib/mysql-keyring/component_keyring_file', Read_only='No')


def test_an_active_component_and_its_data_file():
    assert active_keyrings([COMPONENT], [], None) == [
        dict(name='component_keyring_file', kind='component', keystore='/var/lib/mysql-keyring/component_keyring_file')]


def test_inactive_ones_are_not_listed():
    assert active_keyrings([dict(COMPONENT, Component_status='Disabled')],
                           [dict(name='keyring_okv', status='INACTIVE')], None) == []


def test_the_keyring_file_plugin_by_its_data_file_and_other_plugins_by_name():
    keyrings = active_keyrings([], [dict(name='keyring_file', status='ACTIVE'), dict(name='keyring_okv', status='ACTIVE')],
                               '/var/lib/mysql-keyring/keyring')
    assert [k['keystore'] for k in keyrings] == ['/var/lib/mysql-keyring/keyring', 'the keyring_okv plugin']


def test_a_component_and_a_plugin_at_once_are_both_listed():
    keyrings = active_keyrings([COMPONENT], [dict(name='keyring_file', status='ACTIVE')], '/k/keyring')
    assert [(k['name'], k['kind']) for k in keyrings] == [('component_keyring_file', 'component'),
                                                          ('keyring_file', 'plugin')]


def test_keyring_file_data_without_a_readable_plugin_row_still_counts():
    assert active_keyrings([], [], '/k/keyring') == [dict(name='keyring_file', kind='plugin', keystore='/k/keyring')]


def test_a_component_without_a_data_file_is_named():
    keyrings = active_keyrings([dict(Component_name='component_keyring_oci', Component_status='Active')], [], None)
    assert keyrings[0]['keystore'] == 'the component_keyring_oci component'


def test_the_keystore_in_use_is_found_by_resolved_path(tmp_path):
    real = tmp_path / 'keyring'
    real.mkdir()
    (real / 'store').write_bytes(b'{}')
    os.symlink(str(real), str(tmp_path / 'alias'))           # a link root owns: resolved
    through_link = str(tmp_path / 'alias' / 'store')
    assert keystore_in_use([through_link], str(real / 'store'), '/elsewhere') == 'source'
    assert keystore_in_use([str(real / 'x' / '..' / 'store')], '/elsewhere', str(real / 'store')) == 'destination'
    assert keystore_in_use([str(real / 'store'), 'the keyring_okv plugin'], '/a', '/b') == 'other'
    assert keystore_in_use([], '/a', '/b') == 'other'
