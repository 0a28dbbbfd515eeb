# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A keystore option's Vault suboptions: settings from the options, the server's configuration file and a token
file; the method for pairs with a Vault side; one-line errors without the token."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.faults import checkpoint
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault import VaultKeystore
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.catalog import choose_method
from ansible_collections.keyops.mysql.plugins.module_utils.vault_spec import open_spec_keystore, vault_settings

TOKEN = 'hvs.unit-token-5150'


def spec(**values):
    base = dict(type='component_keyring_vault', path=None, password=None, follow=False, config_file=None, url=None,
                secret_mount_point=None, kv_version=None, token=None, token_file=None, ca=None, namespace=None,
                timeout=None)
    base.update(values)
    return base


def test_options_given_directly():
    settings = vault_settings(spec(url='https://vault:8200/', secret_mount_point='kv/db1', token=TOKEN,
                                   kv_version='2', timeout=5, namespace='team'), 'destination')
    assert (settings.url, settings.secret_mount_point, settings.kv_version, settings.timeout, settings.namespace) == \
        ('https://vault:8200', 'kv/db1', 2, 5, 'team')
    assert vault_settings(spec(url='http://v', secret_mount_point='kv', token=TOKEN, kv_version='auto'),
                          'source').kv_version == 'AUTO'


def test_the_servers_configuration_file_with_options_over_it(tmp_path):
    cnf = tmp_path / 'component_keyring_vault.cnf'
    cnf.write_text(json.dumps(dict(vault_url='https://vault:8200', secret_mount_point='kv/db1', token=TOKEN,
                                   secret_mount_point_version='1', timeout=30)))
    token_file = tmp_path / 'token'
    token_file.write_text('hvs.other-token\n')
    settings = vault_settings(spec(config_file=str(cnf), secret_mount_point='kv/db2', token_file=str(token_file)),
                              'source')
    assert (settings.url, settings.secret_mount_point, settings.kv_version, settings.timeout, settings.token) == \
        ('https://vault:8200', 'kv/db2', 1, 30, 'hvs.other-token')
    assert vault_settings(spec(config_file=str(cnf)), 'source').token == TOKEN


@pytest.mark.parametrize('values, message', [
    (dict(url='http://v', secret_mount_point='kv'), 'source (component_keyring_vault) needs token or token_file, '
                                                    'or config_file (the server\'s component_keyring_vault.cnf)'),
    (dict(token=TOKEN), 'needs url and secret_mount_point'),
    (dict(url='http://v', secret_mount_point='kv', token=TOKEN, token_file='/t'), 'give token or token_file'),
    (dict(url='ftp://v', secret_mount_point='kv', token=TOKEN), 'vault_url must be an http:// or https:// URL'),
])
def test_refusals_are_one_line_and_never_hold_the_token(values, message):
    with pytest.raises(KeystoreError) as info:
        vault_settings(spec(**values), 'source')
    assert message in str(info.value) and TOKEN not in str(info.value) and '\n' not in str(info.value)


def test_a_file_spec_with_vault_options_and_a_vault_spec_with_a_path_are_refused():
    with pytest.raises(KeystoreError, match='url is only for the Vault keystores'):
        open_spec_keystore(spec(type='component_keyring_file', path='/var/lib/k', url='http://v'), 'source')
    with pytest.raises(KeystoreError, match='path is for the file keystores'):
        open_spec_keystore(spec(path='/var/lib/k', url='http://v', secret_mount_point='kv', token=TOKEN), 'source')
    keystore = open_spec_keystore(spec(url='http://v', secret_mount_point='kv', token=TOKEN), 'source')
    assert isinstance(keystore, VaultKeystore) and TOKEN not in repr(keystore)


@pytest.mark.parametrize('source, destination, requested, expected', [
    ('keyring_file', 'component_keyring_vault', 'auto', 'native'),
    ('keyring_vault', 'component_keyring_encrypted_file', 'native', 'native'),
    ('component_keyring_vault', 'keyring_vault', 'auto', 'native'),
    ('component_keyring_vault', 'keyring_okv', 'auto', 'through a component_keyring_file'),
    ('keyring_file', 'keyring_vault', 'mysql_tool', 'MySQL\'s tools cannot read or write a Vault keystore'),
])
def test_a_pair_with_a_vault_side_is_copied_by_the_collection(source, destination, requested, expected):
    if expected == 'native':
        assert choose_method(source, destination, requested) == 'native'
        return
    with pytest.raises(KeystoreError) as info:
        choose_method(source, destination, requested)
    assert expected in str(info.value)


def test_a_fault_point_with_a_count_acts_at_that_arrival_only(monkeypatch):
    slept = []
    monkeypatch.setenv('KEYOPS_FAULT_INJECT', 'unit_point@2:sleep=0.25')
    monkeypatch.setattr('time.sleep', slept.append)
    for _arrival in range(3):
        checkpoint('unit_point')
    assert slept == [0.25]
