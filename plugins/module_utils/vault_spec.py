# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A keystore option's Vault suboptions, and the keystore object any keystore option names (a file or a Vault mount).

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault import VAULT_TYPES, VaultKeystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault_config import (
    DEFAULT_TIMEOUT,
    VaultConfigError,
    VaultSettings,
    read_config_file,
    read_token_file,
)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault_layout import KV_AUTO

# The suboptions of a keystore option for keyring_vault / component_keyring_vault (unused by the file types).
VAULT_OPTIONS = dict(
    config_file=dict(type='path'),
    url=dict(type='str'),
    secret_mount_point=dict(type='str', no_log=False),     # a path, not a secret
    kv_version=dict(type='str', choices=['auto', '1', '2']),
    token=dict(type='str', no_log=True),
    token_file=dict(type='path'),
    ca=dict(type='path'),
    namespace=dict(type='str'),
    timeout=dict(type='int'),
)
# A file keystore's spec leaves these out; what a Vault spec names instead of a path.
VAULT_ONLY = tuple(VAULT_OPTIONS)


def is_vault(spec):
    return spec['type'] in VAULT_TYPES


def vault_settings(spec, role):
    """VaultSettings for a Vault keystore spec: the server's own configuration file (config_file), if given, with
    the spec's explicit options over it; the token from `token` or `token_file`. One-line VaultConfigError naming
    `role` (source, destination, keystores[2]) for what is missing."""
    if spec.get('token') and spec.get('token_file'):
        raise VaultConfigError('%s: give token or token_file, not both' % role)
    token = spec.get('token')
    if spec.get('token_file'):
        token = read_token_file(spec['token_file'], follow=spec.get('follow'))
    base = None
    if spec.get('config_file'):
        base = read_config_file(spec['config_file'], spec['type'], follow=spec.get('follow'))
    else:
        missing = [name for name in ('url', 'secret_mount_point') if not spec.get(name)]
        missing += [] if token else ['token or token_file']
        if missing:
            raise VaultConfigError('%s (%s) needs %s, or config_file (the server\'s %s)'
                                   % (role, spec['type'], ' and '.join(missing), config_file_name(spec['type'])))

    def value(name, from_base, default=None):
        given = spec.get(name)
        if given is not None:
            return given
        return getattr(base, from_base) if base is not None else default

    kv_version = spec.get('kv_version')
    return VaultSettings(
        value('url', 'url'), value('secret_mount_point', 'secret_mount_point'),
        token if token else base.token,
        ca=value('ca', 'ca'),
        kv_version=(kv_version.upper() if kv_version == 'auto' else kv_version) if kv_version else
        (base.kv_version if base is not None else KV_AUTO),
        timeout=value('timeout', 'timeout', DEFAULT_TIMEOUT),
        namespace=value('namespace', 'namespace'),
        source=spec.get('config_file') or role)


def config_file_name(keystore_type):
    return 'keyring_vault.conf' if keystore_type == 'keyring_vault' else 'component_keyring_vault.cnf'


def open_spec_keystore(spec, role):
    """The keystore object a keystore option names: a VaultKeystore (nothing contacted yet), or a file keystore."""
    if is_vault(spec):
        given = [name for name in ('path', 'password') if spec.get(name)]
        if given:
            raise VaultConfigError('%s: %s is for the file keystores; a %s keystore is named by url and '
                                   'secret_mount_point, or config_file' % (role, ' and '.join(given), spec['type']))
        return VaultKeystore(vault_settings(spec, role), spec['type'])
    given = [name for name in VAULT_ONLY if spec.get(name) is not None]
    if given:
        raise VaultConfigError('%s: %s %s only for the Vault keystores (keyring_vault, component_keyring_vault)'
                               % (role, ', '.join(given), 'is' if len(given) == 1 else 'are'), path=spec.get('path'))
    return open_keystore(spec['type'], spec['path'], spec.get('password'), follow=spec.get('follow'))
