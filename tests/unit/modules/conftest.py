# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drive a module's main() in-process, and a fake PyMySQL connection for the modules' unit tests.

Integration tests use real servers; here a cursor that answers a few statements is enough to check the
modules' own logic (check mode, idempotence, error wording, resume-on-failure).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pymysql
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.keyops.mysql.plugins.module_utils import mysql
from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore


def run_module(module, args, capsys):
    """main() with these args; return (exit code, result dict)."""
    with patch_module_args(args):
        with pytest.raises(SystemExit) as caught:
            module.main()
    return caught.value.code, json.loads(capsys.readouterr().out)


class FakeServer:
    """What the fake connection answers. `fail` maps a statement to the (errno, message) it raises."""

    def __init__(self, version='9.7.4', keyring_operations=True):
        self.version = version
        self.keyring_operations = keyring_operations
        self.fail = {}
        self.executed = []
        self.connect_error = None
        self.connect_kwargs = None
        self.grants = [('GRANT USAGE ON *.* TO `app`@`%`',)]
        # The live keyring, where a test gives one: `component` (name, Data_file) or `plugin` (name, its *_data
        # file); `reload` is what ALTER INSTANCE RELOAD KEYRING makes the server list (a callable, or None: the
        # statement is unknown, as on a server with no keyring component).
        self.component = None
        self.plugin = None
        self.keys = set()
        self.reload = None

    def use_keystore(self, path):
        """Give the server a component_keyring_file on `path`, whose reload lists the keys the file holds."""
        self.component = ('component_keyring_file', path)

        def reload(server):
            server.keys = set((k.key_id, k.user_id) for k in open_keystore('component_keyring_file', path).load())
        self.reload = reload

    def execute(self, sql):
        self.executed.append(sql)
        if sql in self.fail:
            code, message = self.fail[sql]
            raise pymysql.err.OperationalError(code, message)
        if sql == 'SELECT VERSION()':
            return [(self.version,)]
        if sql == 'SELECT @@GLOBAL.keyring_operations':
            if self.keyring_operations is None:
                raise pymysql.err.OperationalError(1193, "Unknown system variable 'keyring_operations'")
            return [(int(self.keyring_operations),)]
        if sql.startswith('SET GLOBAL keyring_operations = '):
            self.keyring_operations = sql.endswith('ON')
            return []
        if sql == 'SHOW GRANTS':
            return self.grants
        if sql == 'SELECT @@GLOBAL.server_uuid':
            return [('3c1f5f0e-1d2f-11ef-9a0c-0242ac120002',)]
        if sql.startswith('SELECT STATUS_KEY, STATUS_VALUE FROM performance_schema.keyring_component_status'):
            return [] if self.component is None else [('Component_name', self.component[0]),
                                                      ('Component_status', 'Active'), ('Data_file', self.component[1])]
        if sql.startswith('SELECT PLUGIN_NAME FROM information_schema.PLUGINS'):
            return [] if self.plugin is None else [(self.plugin[0],)]
        if self.plugin is not None and sql == 'SELECT @@GLOBAL.%s_data' % self.plugin[0]:
            return [(self.plugin[1],)]
        if sql == 'SELECT KEY_ID, KEY_OWNER FROM performance_schema.keyring_keys':
            return sorted(self.keys)
        if sql == 'ALTER INSTANCE RELOAD KEYRING' and self.reload is not None:
            if not self.keyring_operations:
                raise pymysql.err.OperationalError(4035, 'Keyring reload failed. Please check error log for more details.')
            self.reload(self)
            return []
        raise pymysql.err.ProgrammingError(1146, 'no such table in the fake server: %s' % sql)


class _Cursor:
    def __init__(self, server):
        self.server = server
        self.rows = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args=None):
        self.rows = self.server.execute(sql)

    def fetchall(self):
        return self.rows


class _Connection:
    def __init__(self, server):
        self.server = server

    def cursor(self):
        return _Cursor(self.server)

    def close(self):
        pass


@pytest.fixture(autouse=True)
def pause_marker_dir(monkeypatch, tmp_path):
    directory = str(tmp_path / 'pause-markers')
    monkeypatch.setattr(mysql, 'PAUSE_MARKER_DIR', directory)
    return directory


@pytest.fixture
def fake_server(monkeypatch):
    server = FakeServer()

    def connect(**kwargs):
        server.connect_kwargs = kwargs
        if server.connect_error:
            raise pymysql.err.OperationalError(*server.connect_error)
        return _Connection(server)

    monkeypatch.setattr(mysql.load_pymysql(), 'connect', connect)
    return server
