# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyring_migrate's copy through MySQL's own tool, as one of its copy strategies: the tool's run (ToolMigration),
then the reload of a server whose keyring is the destination, and the key lists capped for the result.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.keyops.mysql.plugins.module_utils.copy_strategy import CopyStrategy, destination_in_use
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.catalog import keystore_file
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.migration import ToolMigration


class ToolCopy(CopyStrategy):
    """method migration_server or mysql_migrate_keyring."""

    destination_path = None
    in_use = None

    def check(self):
        """Online, refuse a destination a keyring plugin of the server uses (it cannot reload it) before the tool
        runs; remember a component that does, to reload it after."""
        self.destination_path = keystore_file(self.params['destination'])
        if self.params['online']:
            self.result['keyring_reloaded'] = False
            if self.destination_path:
                with self.session_factory() as session:
                    self.in_use = destination_in_use(session, self.destination_path)

    def run(self):
        ToolMigration(self.params, self.method, self.check_mode, self.diff, self.session_factory, self.result,
                      self.warn).run()
        if self.in_use and self.result.get('changed'):
            # After the tool's run and resume (all of the copied keys are listed here: capped in finish()).
            with self.session_factory() as session:
                try:
                    self.reload_keyring(session, self.destination_path, self.in_use,
                                        [(k['key_id'], k['user_id']) for k in self.result.get('migrated') or []],
                                        session.get_keyring_operations())
                finally:
                    self.result.setdefault('queries', []).extend(session.queries)

    def finish(self):
        """The tool path lists every key it knows of: count them, then keep the first max_keys_listed."""
        listed_at_most = max(self.params['max_keys_listed'], 0)
        for listed, count in (('migrated', 'migrated_count'), ('already_present', 'already_present_count'),
                              ('conflicts', 'conflict_count')):
            keys = self.result.get(listed) or []
            self.result[count] = len(keys)
            self.result[listed] = keys[:listed_at_most]
            if len(keys) > listed_at_most:
                self.result['keys_listed_truncated'] = True
        for side in (self.result.get('diff') or {}).values():
            if isinstance(side.get('keys'), list):
                side['key_count'] = len(side['keys'])
                side['keys'] = side['keys'][:listed_at_most]
