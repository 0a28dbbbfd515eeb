# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyring_vault.conf and component_keyring_vault.cnf, parsed by Percona's rules; the token never in a message."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault_config import (
    VaultConfigError,
    VaultSettings,
    parse_component_config,
    parse_plugin_config,
    read_config_file,
    read_token_file,
)

TOKEN = 's.SeCrEtToKeN-4f1c9'

# The form plugin/keyring_vault/tests/mtr/generate_conf_file.inc writes.
PLUGIN_CONF = ('vault_url = https://vault.example:8200\n'
               'secret_mount_point = 0b8f...-uuid/dir\n'
               'token = %s\n'
               'vault_ca = /etc/mysql/vault-ca.pem\n'
               'secret_mount_point_version = 2\n' % TOKEN)


def test_plugin_file():
    settings = parse_plugin_config(PLUGIN_CONF, '/etc/mysql/keyring_vault.conf')
    assert (settings.url, settings.secret_mount_point, settings.token, settings.ca, settings.kv_version) == (
        'https://vault.example:8200', '0b8f...-uuid/dir', TOKEN, '/etc/mysql/vault-ca.pem', 2)
    assert settings.timeout == 15 and settings.namespace is None
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)


def test_plugin_defaults_and_spacing():
    settings = parse_plugin_config('  vault_url=http://127.0.0.1:8200  \n\nsecret_mount_point=kv\ntoken=%s' % TOKEN)
    assert settings.kv_version == 'AUTO' and settings.ca is None


@pytest.mark.parametrize('text,message', [
    ('', 'empty'),
    ('# a comment\n', 'no "="'),
    ('vault_url = http://h\nsecret_mount_point = kv\ntoken = %s\ntimeout = 5\n' % TOKEN, 'unknown option'),
    ('vault_url = http://h\nvault_url = http://h\n', 'more than once'),
    ('vault_url =\n', 'no value'),
    ('secret_mount_point = kv\ntoken = %s\n' % TOKEN, 'vault_url is missing'),
    ('vault_url = ftp://h\nsecret_mount_point = kv\ntoken = %s\n' % TOKEN, 'http:// or https://'),
    ('vault_url = http://h\nsecret_mount_point = /kv\ntoken = %s\n' % TOKEN, 'must not start or end'),
    ('vault_url = http://h\nsecret_mount_point = kv/\ntoken = %s\n' % TOKEN, 'must not start or end'),
    ('vault_url = http://h\nsecret_mount_point = kv\ntoken = %s\nvault_ca = /ca.pem\n' % TOKEN, 'vault_ca is set'),
    ('vault_url = http://h\nsecret_mount_point = kv\ntoken = %s\nsecret_mount_point_version = 3\n' % TOKEN, '1 or 2'),
    ('vault_url = http://h\nsecret_mount_point = kv\ntoken = %s\nsecret_mount_point_version = v2\n' % TOKEN,
     'neither AUTO'),
    ('vault_url = http://h\nsecret_mount_point = kv\ntoken = %s x\n' % TOKEN, 'HTTP header'),
])
def test_plugin_refusals_name_no_value(text, message):
    with pytest.raises(VaultConfigError) as info:
        parse_plugin_config(text, '/etc/keyring_vault.conf')
    assert message in str(info.value)
    assert TOKEN not in str(info.value)
    assert '\n' not in str(info.value)


def test_component_file():
    text = ('{"timeout": 30, "vault_url": "https://vault.example:8200", "secret_mount_point": "kv2/srv1", '
            '"secret_mount_point_version": "AUTO", "token": " %s ", "vault_ca": "/ca.pem", '
            '"vault_namespace": "team-a"}' % TOKEN)
    settings = parse_component_config(text, '/usr/lib/mysql/plugin/component_keyring_vault.cnf')
    assert (settings.timeout, settings.token, settings.namespace, settings.kv_version) == (30, TOKEN, 'team-a', 'AUTO')


@pytest.mark.parametrize('text,message', [
    ('{"vault_url": ', 'not valid JSON'),
    ('[]', 'JSON object'),
    ('{"read_local_config": true}', 'data directory'),
    ('{"vault_url": "http://h", "secret_mount_point": "kv", "token": "%s", "timeout": 86401}' % TOKEN, 'timeout'),
    ('{"vault_url": "http://h", "secret_mount_point": "kv", "token": "%s", "secret_mount_point_version": 2}' % TOKEN,
     'JSON string'),
    ('{"vault_url": "http://h", "secret_mount_point": "kv"}', 'token is missing'),
])
def test_component_refusals(text, message):
    with pytest.raises(VaultConfigError) as info:
        parse_component_config(text, '/x/component_keyring_vault.cnf')
    assert message in str(info.value) and TOKEN not in str(info.value)


def test_files(tmp_path):
    conf = tmp_path / 'keyring_vault.conf'
    conf.write_text(PLUGIN_CONF)
    assert read_config_file(str(conf), 'keyring_vault').token == TOKEN
    token = tmp_path / 'token'
    token.write_text('\n%s\n' % TOKEN)
    assert read_token_file(str(token)) == TOKEN
    with pytest.raises(VaultConfigError) as info:
        read_token_file(str(tmp_path / 'absent'))
    assert str(info.value).endswith('absent: the token file does not exist. Check the path')


def test_files_are_read_without_following_links(tmp_path):
    """The server's OS user may write where these files lie: a link there could make root read (and send to the
    Vault URL) a file of root's own."""
    secret = tmp_path / 'root-only'
    secret.write_text(TOKEN)
    link = tmp_path / 'token'
    link.symlink_to(secret)
    with pytest.raises(KeystoreError) as info:
        read_token_file(str(link))
    assert 'link' in str(info.value) and TOKEN not in str(info.value)
    conf_link = tmp_path / 'keyring_vault.conf'
    conf_link.symlink_to(secret)
    with pytest.raises(KeystoreError):
        read_config_file(str(conf_link), 'keyring_vault')
    assert read_token_file(str(link), follow=True) == TOKEN     # a link root owns, followed when asked


def test_settings_checked_when_given_directly():
    with pytest.raises(VaultConfigError):
        VaultSettings('http://h', 'kv', '')
    assert VaultSettings('http://h:8200/', 'kv', TOKEN, kv_version='1').url == 'http://h:8200'


def test_client_never_shows_the_token():
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault_client import VaultClient
    client = VaultClient('http://127.0.0.1:1', TOKEN)
    assert TOKEN not in repr(client)
    assert client.scrub('permission denied for %s\nagain' % TOKEN) == 'permission denied for <token> again'
