# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What MySQL's migration tools can move: the keyring types, which tool takes a pair, and the options a keystore
spec turns into. No I/O.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import KEYSTORE_TYPES
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
# Percona's Vault keystores: the collection reads and writes them itself too (over Vault's HTTP API); MySQL's tools
# cannot (Percona's keyring_vault is not in MySQL's builds).
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault import VAULT_TYPES

# Keystore files the collection reads and writes itself.
NATIVE_TYPES = tuple(KEYSTORE_TYPES)

# Plugins: type -> (library, option naming the data file or None). keyring_file is readable natively too, but
# the migration server can also be asked to move it.
PLUGIN_TYPES = {
    'keyring_file': ('keyring_file.so', 'keyring_file_data'),
    'keyring_encrypted_file': ('keyring_encrypted_file.so', 'keyring_encrypted_file_data'),
    'keyring_okv': ('keyring_okv.so', None),
    'keyring_aws': ('keyring_aws.so', None),
    'keyring_hashicorp': ('keyring_hashicorp.so', None),
    'keyring_oci': ('keyring_oci.so', None),
}
# Plugin options holding the keystore password, filled from the keystore's `password`.
PLUGIN_PASSWORD_OPTION = {'keyring_encrypted_file': 'keyring_encrypted_file_password'}

COMPONENT_TYPES = ('component_keyring_file', 'component_keyring_encrypted_file', 'component_keyring_kmip',
                   'component_keyring_aws', 'component_keyring_hashicorp', 'component_keyring_oci')
# Components whose JSON config names the data file as "path" (and "password" for the encrypted one).
FILE_COMPONENTS = ('component_keyring_file', 'component_keyring_encrypted_file')

ALL_TYPES = tuple(sorted(set(PLUGIN_TYPES) | set(COMPONENT_TYPES)))
# Keystores kept in a data file, whose spec must name it (the argspecs require `path` for them).
FILE_TYPES = tuple(sorted(set(NATIVE_TYPES) | set(FILE_COMPONENTS)
                          | set(t for t, (_library, data_option) in PLUGIN_TYPES.items() if data_option)))

METHOD_NATIVE = 'native'
METHOD_MIGRATION_SERVER = 'migration_server'
METHOD_MYSQL_MIGRATE_KEYRING = 'mysql_migrate_keyring'

# Option names whose values are secrets: refused in the plain `options` dict, so they are never echoed.
SECRET_NAME = re.compile(r'password|secret|token|passphrase|credential', re.I)


def is_component(keystore_type):
    return keystore_type in COMPONENT_TYPES


def choose_method(source_type, destination_type, requested='auto'):
    """native, migration_server or mysql_migrate_keyring for this pair; KeystoreError when impossible."""
    if source_type in VAULT_TYPES or destination_type in VAULT_TYPES:
        return vault_method(source_type, destination_type, requested)
    both_native = source_type in NATIVE_TYPES and destination_type in NATIVE_TYPES
    if requested == METHOD_NATIVE or (requested == 'auto' and both_native):
        if not both_native:
            unreadable = [t for t in (source_type, destination_type) if t not in NATIVE_TYPES]
            raise KeystoreError('method native cannot read %s (MySQL Enterprise code with no public format); use '
                                'method auto or mysql_tool' % ', '.join(unreadable))
        return METHOD_NATIVE
    if is_component(source_type) and is_component(destination_type):
        return METHOD_MYSQL_MIGRATE_KEYRING
    return METHOD_MIGRATION_SERVER


def vault_method(source_type, destination_type, requested):
    """A pair with a Vault side is copied by the collection itself, or not at all."""
    other = [t for t in (source_type, destination_type) if t not in NATIVE_TYPES and t not in VAULT_TYPES]
    if other:
        raise KeystoreError('%s is read only by MySQL\'s tools, which cannot reach a Vault keystore: migrate in two '
                            'steps, through a component_keyring_file' % other[0])
    if requested == 'mysql_tool':
        raise KeystoreError('MySQL\'s tools cannot read or write a Vault keystore (Percona\'s %s): use method auto '
                            'or native' % ' and '.join(sorted(set(t for t in (source_type, destination_type)
                                                                  if t in VAULT_TYPES))))
    return METHOD_NATIVE


def keystore_file(spec):
    """The data file of a keystore spec, or None for keystores that are not files (okv, aws, ...)."""
    keystore_type = spec['type']
    if keystore_type in FILE_COMPONENTS or PLUGIN_TYPES.get(keystore_type, (None, None))[1]:
        return spec.get('path')
    return None


def check_options(spec, role):
    """Refuse secrets in the plain options dict, and relative paths. (A missing path of a file keystore is refused by
    the modules' argspecs.)"""
    for name in (spec.get('options') or {}):
        if SECRET_NAME.search(name):
            raise KeystoreError('%s.options.%s looks like a secret: put it in %s.secret_options, which is never '
                                'shown in output' % (role, name, role))
    if spec.get('path') and not os.path.isabs(spec['path']):
        raise KeystoreError('%s.path must be absolute (the tools resolve relative paths against their own working '
                            'directory)' % role, path=spec['path'])


def side_options(spec, read_only):
    """(plain options, secret options) for one side: the user's dicts plus what path/password imply."""
    keystore_type = spec['type']
    plain = dict(spec.get('options') or {})
    secret = dict(spec.get('secret_options') or {})
    if keystore_type in PLUGIN_TYPES:
        data_option = PLUGIN_TYPES[keystore_type][1]
        if data_option and spec.get('path'):
            plain.setdefault(data_option, spec['path'])
        if spec.get('password') and keystore_type in PLUGIN_PASSWORD_OPTION:
            secret.setdefault(PLUGIN_PASSWORD_OPTION[keystore_type], spec['password'])
    elif keystore_type in FILE_COMPONENTS:
        if spec.get('path'):
            plain.setdefault('path', spec['path'])
        plain.setdefault('read_only', bool(read_only))
        if spec.get('password'):
            secret.setdefault('password', spec['password'])
    return plain, secret
