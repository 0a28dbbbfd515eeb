# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX credential's fields merged into the login and the keystores (keyops.mysql.with_credential)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import jinja2.sandbox
import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.keyops.mysql.plugins.filter.with_credential import with_credential

from ...conftest import REPO_ROOT

LOGIN = dict(login_unix_socket='/run/mysqld/mysqld.sock', login_user='job_user', login_password='job-pw',
             ssl_ca='/etc/mysql/old-ca.pem')


def injected(**inputs):
    """What AWX injects for a credential with these inputs: the credential type's extra_vars injector, rendered as
    AWX renders it (a sandboxed Jinja environment; a field left empty is absent from the namespace)."""
    with open(os.path.join(REPO_ROOT, 'extensions', 'awx', 'credential_type.yml')) as f:
        kind = yaml.safe_load(f)
    env = jinja2.sandbox.ImmutableSandboxedEnvironment()
    fields = [f['id'] for f in kind['inputs']['fields']]
    assert set(inputs) <= set(fields)
    rendered = dict((k, env.from_string(v).render(**inputs))
                    for k, v in kind['injectors']['extra_vars']['keyring_migration_credential'].items())
    return rendered


def test_the_credentials_login_wins_and_empty_fields_change_nothing():
    credential = injected(login_user='keyops', login_password='cred-pw', ca_cert='/etc/mysql/ca.pem')
    merged = with_credential(LOGIN, credential, 'login')
    assert merged == dict(login_unix_socket='/run/mysqld/mysqld.sock', login_user='keyops', login_password='cred-pw',
                          ca_cert='/etc/mysql/ca.pem')        # the alias ssl_ca is dropped: one CA, the credential's
    assert with_credential(LOGIN, injected(), 'login') == LOGIN
    assert with_credential(LOGIN, {}, 'login') == LOGIN and with_credential(LOGIN, None, 'login') == LOGIN


def test_the_keystore_passwords_go_to_their_own_keystore():
    credential = injected(source_password='src-pw', destination_password='dst-pw')
    source = dict(type='component_keyring_encrypted_file', path='/var/lib/mysql-keyring/a', password='old')
    destination = dict(type='component_keyring_encrypted_file', path='/var/lib/mysql-keyring/b')
    assert with_credential(source, credential, 'source')['password'] == 'src-pw'
    assert with_credential(destination, credential, 'destination')['password'] == 'dst-pw'
    assert with_credential(destination, injected(source_password='src-pw'), 'destination') == destination
    # The login takes no keystore password, and a keystore no login.
    assert 'password' not in with_credential(dict(login_user='x'), credential, 'login')
    assert with_credential(source, injected(login_user='keyops'), 'source') == source


def test_the_vault_token_goes_to_the_destination_only_and_replaces_its_token_file():
    credential = injected(destination_vault_token='hvs.cred-token')
    destination = dict(type='component_keyring_vault', url='https://vault:8200', secret_mount_point='kv/db1',
                       token_file='/etc/keyops/vault-token')
    merged = with_credential(destination, credential, 'destination')
    assert merged['token'] == 'hvs.cred-token' and 'token_file' not in merged
    source = dict(type='component_keyring_file', path='/var/lib/mysql-keyring/a')
    assert with_credential(source, credential, 'source') == source
    assert with_credential(destination, injected(), 'destination') == destination


def test_an_unknown_field_is_named_and_its_value_is_not_shown():
    with pytest.raises(AnsibleFilterError) as err:
        with_credential(LOGIN, dict(login_pasword='t0psecret'), 'login')
    assert 'login_pasword' in str(err.value) and 't0psecret' not in str(err.value)
    with pytest.raises(AnsibleFilterError, match='part must be login, source or destination'):
        with_credential(LOGIN, {}, 'tls')
