# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: with_credential
short_description: Merge the AWX credential's fields into the login or a keystore
version_added: 0.6.0
description:
  - AWX / Automation Platform injects the credential type in C(extensions/awx/credential_type.yml) as one extra
    variable, C(keyring_migration_credential). This filter merges it into what the modules take - the connection
    options (C(login)) or a keystore (C(source), C(destination)) - so that the secrets can live in AWX's credential
    store instead of the job's extra variables.
  - Fields the credential leaves empty change nothing; the fields it sets win over the job's own variables.
  - C(login) takes C(login_user), C(login_password), C(ca_cert), C(client_cert) and C(client_key) (the TLS options'
    aliases C(ssl_ca), C(ssl_cert) and C(ssl_key) are dropped when the credential sets them). C(source) and
    C(destination) take C(source_password) or C(destination_password) as the keystore's C(password);
    C(destination) takes C(destination_vault_token) as a Vault keystore's C(token) (its C(token_file) is dropped).
positional: _input, credential, part
options:
  _input:
    description: The connection options (C(keyring_migration_login)) or a keystore (C(keyring_migration_source)).
    type: dict
    required: true
  credential:
    description: C(keyring_migration_credential), or an empty dictionary.
    type: dict
    required: true
  part:
    description: What O(_input) is.
    type: str
    choices: [login, source, destination]
    required: true
'''

EXAMPLES = r'''
- name: Log in with the credential's user and password
  keyops.mysql.keyring_info:
    login_unix_socket: /run/mysqld/mysqld.sock
  module_defaults:
    group/keyops.mysql.mysql: "{{ keyring_migration_login | keyops.mysql.with_credential(keyring_migration_credential | default({}), 'login') }}"
'''

RETURN = r'''
_value:
  description: O(_input) with the credential's fields merged in.
  type: dict
'''

from ansible.errors import AnsibleFilterError

LOGIN_FIELDS = dict(login_user=(), login_password=(), ca_cert=('ssl_ca',), client_cert=('ssl_cert',),
                    client_key=('ssl_key',))
KEYSTORE_FIELDS = dict(source='source_password', destination='destination_password')
VAULT_TOKEN_FIELDS = dict(destination='destination_vault_token')
FIELDS = set(LOGIN_FIELDS) | set(KEYSTORE_FIELDS.values()) | set(VAULT_TOKEN_FIELDS.values())


def _given(value):
    # AWX renders a field the credential leaves empty as an empty string.
    return value is not None and value != ''


def with_credential(value, credential, part):
    if not isinstance(value, dict):
        raise AnsibleFilterError('with_credential: the %s must be a dictionary' % part)
    credential = credential or {}
    if not isinstance(credential, dict):
        raise AnsibleFilterError('with_credential: keyring_migration_credential must be a dictionary (the AWX '
                                 'credential type in extensions/awx/credential_type.yml injects one)')
    unknown = sorted(set(credential) - FIELDS)
    if unknown:
        # Names only: the values may be secrets.
        raise AnsibleFilterError('keyring_migration_credential has unknown field(s) %s: it takes %s'
                                 % (', '.join(unknown), ', '.join(sorted(FIELDS))))
    merged = dict(value)
    if part == 'login':
        for field, aliases in LOGIN_FIELDS.items():
            if _given(credential.get(field)):
                for alias in aliases:
                    merged.pop(alias, None)
                merged[field] = credential[field]
    elif part in KEYSTORE_FIELDS:
        if _given(credential.get(KEYSTORE_FIELDS[part])):
            merged['password'] = credential[KEYSTORE_FIELDS[part]]
        if _given(credential.get(VAULT_TOKEN_FIELDS.get(part))):
            merged.pop('token_file', None)      # one token: the credential's
            merged['token'] = credential[VAULT_TOKEN_FIELDS[part]]
    else:
        raise AnsibleFilterError('with_credential: part must be login, source or destination, not %r' % (part,))
    return merged


class FilterModule(object):
    def filters(self):
        return dict(with_credential=with_credential)
