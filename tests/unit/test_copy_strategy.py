# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""migration.select_strategy (which copy path a pair of keystores takes) and module_base.failure_fields (the one
mapping of a known error to result fields, for KeyopsModule.run and check_mode_result)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError, MigrationConflictError
from ansible_collections.keyops.mysql.plugins.module_utils.migration import KeyringMigration, select_strategy
from ansible_collections.keyops.mysql.plugins.module_utils.native_copy import NativeCopy
from ansible_collections.keyops.mysql.plugins.module_utils.module_base import failure_fields
from ansible_collections.keyops.mysql.plugins.module_utils.mysql import MysqlError
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.strategy import ToolCopy


def _migration(source, destination, method='auto'):
    params = dict(source=dict(type=source, path='/k/source'), destination=dict(type=destination, path='/k/dest'),
                  method=method)
    return KeyringMigration(params, {})


@pytest.mark.parametrize('source, destination, method, strategy, name', [
    ('keyring_file', 'component_keyring_file', 'auto', NativeCopy, 'native'),
    ('keyring_file', 'component_keyring_file', 'mysql_tool', ToolCopy, 'migration_server'),
    ('component_keyring_file', 'component_keyring_encrypted_file', 'mysql_tool', ToolCopy, 'mysql_migrate_keyring'),
    ('keyring_okv', 'component_keyring_file', 'auto', ToolCopy, 'migration_server'),
])
def test_select_strategy_follows_the_catalogs_choice(source, destination, method, strategy, name):
    migration = _migration(source, destination, method)
    chosen = select_strategy(migration)
    assert chosen.__class__ is strategy and chosen.method == name     # that class, not a subclass of it
    assert chosen.params is migration.params and chosen.result is migration.result


def test_select_strategy_refuses_what_no_method_copies():
    with pytest.raises(KeystoreError, match='method native cannot read keyring_okv'):
        select_strategy(_migration('keyring_okv', 'component_keyring_file', 'native'))


def test_failure_fields():
    assert failure_fields(MigrationConflictError('2 conflicts', [])) == dict(
        msg='2 conflicts', error='MigrationConflictError')
    assert failure_fields(MysqlError('lost', 2013)) == dict(msg='lost', mysql_error_code=2013, server_down=True)
    assert failure_fields(MysqlError('denied', 1045))['server_down'] is False
    assert failure_fields(ValueError('not ours')) is None
    # A server left paused is said too, after the first failure.
    fields = failure_fields(MysqlError('lost', 2013), dict(resume_error='still OFF'))
    assert fields['msg'] == 'lost. ALSO: still OFF'
