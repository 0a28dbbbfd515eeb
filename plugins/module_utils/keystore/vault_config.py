# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How to reach a Vault keystore: settings, from the server's own configuration files or given directly.

keyring_vault.conf (plugin): `option = value` lines, Percona's rules (vault_credentials_parser.cc, parse_line and
Vault_credentials_parser::parse). component_keyring_vault.cnf (component): a JSON object (config/config.cc,
find_and_read_config_file). Messages name the file, the line and the option, never a value: the token is one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from .model import KeystoreError, KeystoreNotFoundError
from .safe_fs import read_file
from .vault_layout import KV_AUTO, KV_V1, KV_V2

PLUGIN_OPTIONS = ('vault_url', 'secret_mount_point', 'vault_ca', 'token', 'secret_mount_point_version')
COMPONENT_OPTIONS = ('read_local_config', 'timeout', 'vault_url', 'secret_mount_point', 'vault_ca', 'token',
                     'secret_mount_point_version', 'vault_namespace')
DEFAULT_TIMEOUT = 15        # keyring_vault_timeout's default; the component's timeout_default_val
MAX_TIMEOUT = 86400         # the component's timeout_max_val
MAX_CONFIG_SIZE = 1 << 20


class VaultConfigError(KeystoreError):
    """A Vault keyring configuration Percona would refuse, or that this collection cannot use."""

    hint = 'Fix the configuration (the server would refuse it too)'


class VaultSettings:
    """Where a Vault keystore is and how to authenticate. The token is never shown (repr, messages)."""

    def __init__(self, url, secret_mount_point, token, ca=None, kv_version=KV_AUTO, timeout=DEFAULT_TIMEOUT,
                 namespace=None, source=None):
        self.url = url
        self.secret_mount_point = secret_mount_point
        self.token = token
        self.ca = ca
        self.kv_version = kv_version
        self.timeout = timeout
        self.namespace = namespace
        self.source = source
        validate(self)

    def where(self):
        return 'vault %s mount %r' % (self.url, self.secret_mount_point)

    def __repr__(self):
        return ('VaultSettings(url=%r, secret_mount_point=%r, token=<hidden>, ca=%r, kv_version=%r, timeout=%r, '
                'namespace=%r)' % (self.url, self.secret_mount_point, self.ca, self.kv_version, self.timeout,
                                   self.namespace))

    __str__ = __repr__


def parse_kv_version(raw, what):
    """'AUTO', '1' or '2' (Percona also accepts what boost::lexical_cast reads as 1 or 2, such as '01')."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw in (KV_V1, KV_V2):
        return raw
    if not isinstance(raw, str):
        raise VaultConfigError('%s must be "AUTO", "1" or "2"' % what)
    text = raw.strip()
    if text == KV_AUTO:
        return KV_AUTO
    if text.isdigit():
        if int(text) in (KV_V1, KV_V2):
            return int(text)
        raise VaultConfigError('%s must be either 1 or 2' % what)
    raise VaultConfigError('%s is neither AUTO nor a number' % what)


def validate(settings):
    """Percona's checks (check_config_valid, Vault_credentials_parser::parse) plus what an HTTP header can carry."""
    where = settings.source
    url = settings.url
    if not isinstance(url, str) or not (url.startswith('http://') or url.startswith('https://')):
        raise VaultConfigError('vault_url must be an http:// or https:// URL', path=where)
    settings.url = url.rstrip('/')     # Percona appends '/v1/' to the value as it is
    mount = settings.secret_mount_point
    if not isinstance(mount, str) or not mount:
        raise VaultConfigError('secret_mount_point is missing or empty', path=where)
    if mount.startswith('/') or mount.endswith('/'):
        raise VaultConfigError('secret_mount_point must not start or end with "/"', path=where)
    token = settings.token
    if not isinstance(token, str) or not token:
        raise VaultConfigError('the token is missing or empty', path=where)
    if any(ord(c) < 0x21 or ord(c) > 0x7e for c in token):
        raise VaultConfigError('the token holds a character an HTTP header cannot carry (a space, a line break or '
                               'non-ASCII); check the token or token file', path=where)
    if settings.ca and url.startswith('http://'):
        raise VaultConfigError('vault_ca is set but vault_url is http://', path=where)
    if settings.namespace is not None and any(ord(c) < 0x20 or ord(c) > 0x7e for c in settings.namespace):
        raise VaultConfigError('vault_namespace holds a character an HTTP header cannot carry', path=where)
    settings.kv_version = parse_kv_version(settings.kv_version, 'secret_mount_point_version')
    timeout = settings.timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0 or timeout > MAX_TIMEOUT:
        raise VaultConfigError('timeout must be a whole number of seconds from 0 to %d' % MAX_TIMEOUT, path=where)


def parse_plugin_config(text, path=None):
    """VaultSettings from the text of a keyring_vault.conf (the plugin's keyring_vault_config file)."""
    if not text:
        raise VaultConfigError('the credentials file is empty', path=path)
    values = {}
    for number, line in enumerate(text.split('\n'), 1):
        line = line.strip()
        if not line:
            continue
        option, sep, value = line.partition('=')
        if not sep:
            raise VaultConfigError('line %d has no "=" (the plugin knows no comments)' % number, path=path)
        option = option.rstrip()
        if option not in PLUGIN_OPTIONS:
            raise VaultConfigError('line %d: unknown option %r (known: %s)' % (number, option[:40],
                                                                               ', '.join(PLUGIN_OPTIONS)), path=path)
        if option in values:
            raise VaultConfigError('line %d: %s is given more than once' % (number, option), path=path)
        value = value.lstrip()
        if not value:
            raise VaultConfigError('line %d: %s has no value' % (number, option), path=path)
        values[option] = value
    for required in ('vault_url', 'secret_mount_point', 'token'):
        if required not in values:
            raise VaultConfigError('%s is missing' % required, path=path)
    return VaultSettings(values['vault_url'], values['secret_mount_point'], values['token'], ca=values.get('vault_ca'),
                         kv_version=values.get('secret_mount_point_version', KV_AUTO), source=path)


def parse_component_config(text, path=None):
    """VaultSettings from the text of a component_keyring_vault.cnf."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        # The message of a JSON error quotes nothing of the document beyond a position.
        raise VaultConfigError('not valid JSON (line %s, column %s)' % (getattr(exc, 'lineno', '?'),
                                                                        getattr(exc, 'colno', '?')), path=path)
    if not isinstance(document, dict):
        raise VaultConfigError('the configuration must be a JSON object', path=path)
    if document.get('read_local_config') is True:
        raise VaultConfigError('this file sets read_local_config: the server reads component_keyring_vault.cnf in its '
                               'data directory instead; give that file', path=path)
    strings = {}
    for option in ('vault_url', 'secret_mount_point', 'token', 'vault_ca', 'vault_namespace',
                   'secret_mount_point_version'):
        if option not in document:
            continue
        value = document[option]
        if not isinstance(value, str):
            raise VaultConfigError('%s must be a JSON string' % option, path=path)
        strings[option] = value.strip()
    for required in ('vault_url', 'secret_mount_point', 'token'):
        if required not in strings:
            raise VaultConfigError('%s is missing' % required, path=path)
    timeout = document.get('timeout', DEFAULT_TIMEOUT)
    return VaultSettings(strings['vault_url'], strings['secret_mount_point'], strings['token'],
                         ca=strings.get('vault_ca') or None,
                         kv_version=strings.get('secret_mount_point_version', KV_AUTO), timeout=timeout,
                         namespace=strings.get('vault_namespace') or None, source=path)


def _read_text(path, what, follow=False):
    """The file's text, read as the keystores are: no link at the path followed unless root owns it and `follow`
    asks, no link above it owned by another user (the server's OS user may write where these files lie)."""
    try:
        raw = read_file(path, follow=follow)
    except KeystoreNotFoundError:
        error = VaultConfigError('the %s does not exist' % what, path=path)
        error.hint = 'Check the path'
        raise error
    if len(raw) > MAX_CONFIG_SIZE:
        raise VaultConfigError('the %s is larger than %d bytes' % (what, MAX_CONFIG_SIZE), path=path)
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError:
        raise VaultConfigError('the %s is not UTF-8 text' % what, path=path)


def read_config_file(path, keystore_type, follow=False):
    """VaultSettings from the server's configuration file for `keystore_type` (keyring_vault: the plugin's file;
    component_keyring_vault: the component's JSON)."""
    text = _read_text(path, 'configuration file', follow)
    if keystore_type == 'keyring_vault':
        return parse_plugin_config(text, path)
    return parse_component_config(text, path)


def read_token_file(path, follow=False):
    """The token from a file that holds only it (surrounding white space removed)."""
    token = _read_text(path, 'token file', follow).strip()
    if not token:
        raise VaultConfigError('the token file is empty', path=path)
    return token
