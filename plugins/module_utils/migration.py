# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyring_migrate's work, shared with keyring_info's O(migration) report (which runs it in check mode).

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.module_base import KEYSTORE_OPTIONS, failure_fields
from ansible_collections.keyops.mysql.plugins.module_utils.mysql import MysqlError
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool import catalog
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.migration import DEFAULT_TOOL_SETTINGS
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.record import DEFAULT_RECORD_DIR
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.strategy import ToolCopy
from ansible_collections.keyops.mysql.plugins.module_utils.native_copy import NativeCopy
from ansible_collections.keyops.mysql.plugins.module_utils.vault_copy import VaultCopy

# Keystores as keyring_migrate takes them: the files and Vault mounts the collection reads itself, plus the
# Enterprise ones only MySQL's tools read.
MIGRATE_KEYSTORE_OPTIONS = dict(
    KEYSTORE_OPTIONS,
    type=dict(type='str', required=True,
              choices=sorted(set(catalog.NATIVE_TYPES) | set(catalog.VAULT_TYPES) | set(catalog.ALL_TYPES))),
    path=dict(type='path'),
    options=dict(type='dict'),
    secret_options=dict(type='dict', no_log=True),
)
# A keystore kept in a file names it.
PATH_REQUIRED = [('type', keystore_type, ('path',)) for keystore_type in catalog.FILE_TYPES]
TOOL_OPTIONS = dict(
    mysqld=dict(type='path', default=DEFAULT_TOOL_SETTINGS['mysqld']),
    mysql_migrate_keyring=dict(type='path', default=DEFAULT_TOOL_SETTINGS['mysql_migrate_keyring']),
    plugin_dir=dict(type='path', default=DEFAULT_TOOL_SETTINGS['plugin_dir']),
    user=dict(type='str', default=DEFAULT_TOOL_SETTINGS['user']),
    timeout=dict(type='int', default=DEFAULT_TOOL_SETTINGS['timeout']),
    record_dir=dict(type='path', default=DEFAULT_RECORD_DIR),
)
# keyring_migrate's options but online and backup: all keyring_info's O(migration) takes too.
MIGRATION_OPTIONS = dict(
    source=dict(type='dict', required=True, options=MIGRATE_KEYSTORE_OPTIONS, required_if=PATH_REQUIRED),
    destination=dict(type='dict', required=True, options=MIGRATE_KEYSTORE_OPTIONS, required_if=PATH_REQUIRED),
    method=dict(type='str', default='auto', choices=['auto', 'native', 'mysql_tool']),
    tool=dict(type='dict', default={}, options=TOOL_OPTIONS),
    owner=dict(type='str'),
    group=dict(type='str'),
    mode=dict(type='raw'),
    allow_empty_source=dict(type='bool', default=False),
    on_backup_file=dict(type='str', default='fail', choices=['fail', 'follow_server']),
    max_keys_listed=dict(type='int', default=1000, no_log=False),   # a count, not a secret
    allow_shared_mount=dict(type='bool', default=False),
)


def select_strategy(migration):
    """The copy strategy for the method keyring_migrate's options choose (catalog.choose_method): the collection's
    own copy between files (NativeCopy) or with a Vault side (VaultCopy), or MySQL's tool (ToolCopy); KeystoreError
    when no method can copy that pair."""
    params = migration.params
    types = (params['source']['type'], params['destination']['type'])
    method = catalog.choose_method(types[0], types[1], params['method'])
    if any(t in catalog.VAULT_TYPES for t in types):
        return VaultCopy(migration, method)
    if method == catalog.METHOD_NATIVE:
        return NativeCopy(migration, method)
    return ToolCopy(migration, method)


class KeyringMigration:
    """keyring_migrate's run: choose the copy path (the collection's own, or MySQL's tool), check, copy, report.

    It needs no module: the options, the result dict to fill, check and diff mode, a warning sink and a factory of
    (unconnected) MysqlSession objects, so keyring_info can run it in check mode for its report.
    """

    def __init__(self, params, result, check_mode=False, diff=False, warn=None, session_factory=None,
                 server_running=None):
        self.params = params
        # Whether a running server may be writing the keystores while they are read unpaused (an online run before
        # its pause, or a check of a running server's keystores, as keyring_info's): its .backup lives for
        # milliseconds, and is waited out (settled).
        self.server_running = params.get('online') if server_running is None else server_running
        self.result = result
        self.check_mode = check_mode
        self.diff = diff
        self.warn = warn or (lambda message: None)
        self.session_factory = session_factory
        self.result.update(migrated=[], already_present=[], conflicts=[], migrated_count=0, already_present_count=0,
                           conflict_count=0, keys_listed_truncated=False, source_key_count=0,
                           destination_key_count=0, destination_created=False)

    @classmethod
    def for_module(cls, module):
        return cls(module.params, module.result, module.check_mode, module._diff, module.warn, module.mysql_session)

    def run(self):
        strategy = select_strategy(self)
        self.result['method'] = strategy.method
        if self.params.get('switch_config') and not (self.params['online'] and strategy.method == catalog.METHOD_NATIVE):
            raise KeystoreError('switch_config switches a running server: it needs online: true and the collection\'s '
                                'own copy (method native)', path=self.params['switch_config'])
        strategy.check()
        try:
            strategy.run()
        finally:
            strategy.finish()


def check_mode_result(module, params, server_running=True):
    """keyring_migrate's check-mode result for `params` (its options but online and backup): what it would copy,
    and if it would fail, failed=true and the message it would fail with. Never fails `module`. With
    `server_running`, a .backup of the running server's own write is waited out, as an online run waits it out
    before its pause."""
    result = {}
    run = KeyringMigration(dict(params, online=False, backup=False), result, check_mode=True, warn=module.warn,
                           session_factory=module.mysql_session, server_running=server_running)
    try:
        run.run()
    except (KeystoreError, MysqlError) as exc:
        result.update(failed=True, **failure_fields(exc, result))
    result.setdefault('changed', False)
    result.setdefault('failed', False)
    return result
