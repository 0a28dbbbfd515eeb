# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What both ways of copying keys (the collection's own, MySQL's tools) share: the strategy interface
keyring_migrate's run goes through, and the reload of a server whose keyring is the destination.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import real_path
from ansible_collections.keyops.mysql.plugins.module_utils.mysql import MysqlError
from ansible_collections.keyops.mysql.plugins.module_utils import timeline

RELOAD_KEYRING = 'ALTER INSTANCE RELOAD KEYRING'


class CopyStrategy:
    """One way of copying: check() (before anything is read for the copy or changed), run() (the copy, with the
    server paused if online), finish() (the result's last touches; called whether run() succeeded or not).

    It works on the KeyringMigration's options, result dict, modes, warning sink and session factory.
    """

    def __init__(self, migration, method):
        self.method = method
        self.params = migration.params
        self.result = migration.result
        self.check_mode = migration.check_mode
        self.diff = migration.diff
        self.warn = migration.warn
        self.session_factory = migration.session_factory
        self.server_running = migration.server_running

    def check(self):
        pass

    def run(self):
        raise NotImplementedError

    def finish(self):
        pass

    def reload_keyring(self, session, destination_path, keyring, copied, operations_on):
        """Make a server whose keyring component uses the destination read the copied keys ((key_id, user_id)
        pairs), and check that it did. A reload needs keyring_operations ON, so it follows the resume; a key
        written in between rewrites the file from the server's memory, which the check finds."""
        if self.check_mode:
            session.queries.append(RELOAD_KEYRING)
            return
        if not operations_on:
            self.warn('%s uses the destination keystore and was paused by someone else, so it cannot reload '
                      'its keyring: restart it before keyring_operations is set ON again, or its next key '
                      'write drops the copied keys from %s' % (session.where, destination_path))
            return
        try:
            with timeline.span(self.result, timeline.RELOADING):
                session.query(RELOAD_KEYRING)
        except MysqlError as exc:
            raise MysqlError('the keys were copied into %s, which the server uses, but it could not reload its '
                             'keyring (%s): restart it before it creates or rotates a key, or its next key write '
                             'drops the copied keys from the file' % (destination_path, exc), exc.code)
        self.result['keyring_reloaded'] = True
        listed = session.key_identities()
        missing = [identity for identity in copied if identity not in listed]
        data_file = dict(session.active_keyrings()).get(keyring)
        if missing or not data_file or real_path(data_file, follow=True) != real_path(destination_path, follow=True):
            raise MysqlError('%s reloaded its keyring, but it lists %d of the %d copied keys and uses %s: a key '
                             'written between the resume and the reload rewrote %s from memory, or the '
                             'component\'s configuration names another keystore. Re-run this task now (the source '
                             'still holds every key)'
                             % (session.where, len(copied) - len(missing), len(copied),
                                data_file or 'no keystore', destination_path))


def destination_in_use(session, destination_path):
    """The name of the server's active keyring whose data file is the destination, or None; refuses a plugin.

    A server holds its keyring in memory and rewrites the whole file at its next key write: one whose keyring
    is the destination must read the copied keys before then, or they are dropped from the file. A component
    can be told to (ALTER INSTANCE RELOAD KEYRING); a plugin cannot."""
    target = real_path(destination_path, follow=True)
    for name, data_file in session.active_keyrings():
        if data_file and real_path(data_file, follow=True) == target:
            if not name.startswith('component_'):
                raise KeystoreError(
                    'the server uses the destination keystore through the %s plugin, which cannot reload it: '
                    'its next key write after the copy would rewrite the file from memory without the copied '
                    'keys. Copy with the server stopped; or pause it with keyops.mysql.keyring_operations, copy '
                    'with online: false, restart it and resume it (the role keyops.mysql.keyring_migration '
                    'does that)' % name, path=destination_path)
            return name
    return None
