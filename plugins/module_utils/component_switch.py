# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Switch a running server's keyring component to another keystore without a restart.

MySQL 8.0.24+ keyring components re-read their configuration file on ALTER INSTANCE RELOAD KEYRING (verified on
9.7.4: keyring_component_status.Data_file becomes the new path, encrypted tables read, a master key rotation writes
the new file, a restart comes back on it). keyring_migrate's online copy rewrites the configuration while the server
is paused, resumes it, and then has it reload:

    pause -> copy -> rewrite the configuration -> resume -> RELOAD KEYRING -> check

The reload cannot happen while paused (MySQL refuses it with error 4035: seen on 9.7.4), so a key the server
writes between the resume and the reload goes into the source, which it still holds in memory. The check finds
such a key (it is in the source file, but the reloaded server does not list it) and the copy is repeated for it.
A reload that fails, or that leaves the server on another file, restores the configuration as it was: the server
never left the source, which holds every key it wrote.

The component's type cannot change this way: the manifest, which says which component is loaded, is read only when
the server starts.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.keyops.mysql.plugins.module_utils.config_files import (
    SECRET_MEMBER,
    parse_json_object,
    read_text,
    render_json,
    write_text,
)
from ansible_collections.keyops.mysql.plugins.module_utils.copy_strategy import RELOAD_KEYRING
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.atomic import keep_copy
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import real_path
from ansible_collections.keyops.mysql.plugins.module_utils.mysql import MysqlError
from ansible_collections.keyops.mysql.plugins.module_utils import timeline


def same_file(one, other):
    try:
        return real_path(one, follow=True) == real_path(other, follow=True)
    except KeystoreError:
        return one == other


class ComponentConfig:
    """The keyring component's configuration file a switch rewrites: read before the pause, its new text made then
    too, so that the paused part is one atomic write. Never read or written through a link (the data directory,
    where the local file lives, belongs to the server's OS user)."""

    def __init__(self, path, destination_path, password=None):
        self.path = path
        self.original = read_text(path)
        if self.original is None:
            raise KeystoreError('does not exist: switch_config must be the keyring component\'s configuration file '
                                'the server reads', path=path)
        self.members = parse_json_object(self.original, path)
        if self.members.get('read_local_config'):
            raise KeystoreError('defers to the configuration file in the data directory (read_local_config): set '
                                'switch_config to that file', path=path)
        wanted = dict(self.members, path=destination_path)
        wanted.setdefault('read_only', False)
        if password:
            wanted[SECRET_MEMBER] = password
        self.new_text = None if wanted == self.members else render_json(wanted)
        self.backup = None

    @property
    def names_destination(self):
        return self.new_text is None

    def keep_original(self):
        """A copy of the file as it is, beside it, made before the pause (it needs no pause)."""
        if self.new_text is not None and self.backup is None:
            self.backup = keep_copy(self.path)

    def rewrite(self):
        """Replace the file atomically with the destination's settings (the one write made while paused)."""
        if self.new_text is not None:
            self.keep_original()
            write_text(self.path, self.new_text)

    def restore(self):
        """Put the original text back (the copy made by rewrite() stays beside it)."""
        if self.new_text is not None:
            write_text(self.path, self.original)


class ReloadCheck:
    """After a reload: is the server on `expected_path`, and does it list every key of `source_keys()`?"""

    def __init__(self, session, component, expected_path):
        self.session = session
        self.component = component
        self.expected_path = expected_path

    def data_file(self):
        return dict(self.session.active_keyrings()).get(self.component)

    def reload(self):
        try:
            self.session.query(RELOAD_KEYRING)
        except MysqlError as exc:
            return 'it could not reload its keyring (%s)' % exc
        data_file = self.data_file()
        if not data_file or not same_file(data_file, self.expected_path):
            return 'after the reload it uses %s, not %s: the server does not read this configuration file' % (
                data_file or 'no keystore', self.expected_path)
        return None

    def missing(self, identities):
        listed = self.session.key_identities()
        return [identity for identity in identities if identity not in listed]


class ComponentSwitch:
    """The switch part of keyring_migrate's online copy with O(switch_config): check the server before the pause,
    rewrite the configuration inside it, reload and check after it, and undo the rewrite if the reload fails.

    recopy() is the copy's own step for keys the source gained between the resume and the reload: it pauses, copies
    what is missing and resumes, and returns how many keys it copied."""

    MAX_RELOADS = 3

    def __init__(self, params, result, check_mode):
        destination = params['destination']
        self.result = result
        self.check_mode = check_mode
        self.destination_type = destination['type']
        self.destination_path = destination['path']
        self.config = ComponentConfig(params['switch_config'], destination['path'], destination.get('password'))
        self.component = None
        self.on_destination = False
        result.update(switch_config=self.config.path, switched=False, switch_config_backup=None,
                      switch_rolled_back=False, keys_copied_after_reload=0)

    @property
    def nothing_to_rewrite(self):
        return self.config.names_destination

    def check_server(self, session, source_path, operations_before, paused_by_keyops):
        """Before the pause: the server's one active keyring is the destination's component, on the source (or on
        the destination already: a re-run), and keyops can resume it."""
        keyrings = session.active_keyrings()
        on = [(name, data_file) for name, data_file in keyrings if data_file and (
            same_file(data_file, source_path) or same_file(data_file, self.destination_path))]
        if len(keyrings) != 1 or not on:
            raise KeystoreError('the server\'s keyring is %s, not one keyring on the source or the destination: '
                                'switch_config switches a server whose one keyring component uses the source'
                                % (', '.join('%s on %s' % (n, f or 'no file') for n, f in keyrings) or 'none'),
                                path=self.config.path)
        name, data_file = on[0]
        if name != self.destination_type:
            raise KeystoreError('the server\'s keyring is %s, and the destination is a %s keystore: the component a '
                                'server loads is read from its manifest at start, so this switch needs a restart '
                                '(the role keyops.mysql.keyring_migration does it)' % (name, self.destination_type),
                                path=self.config.path)
        if operations_before is False and not paused_by_keyops:
            raise KeystoreError('keyring_operations is OFF on %s and keyops did not pause it (a DBA did?): the '
                                'switch must resume it to reload the keyring. Resume it first' % session.where,
                                path=self.config.path)
        self.component = name
        self.on_destination = same_file(data_file, self.destination_path)

    def keep_original(self):
        """Before the pause: the copy of the configuration as it was."""
        if not self.check_mode:
            self.config.keep_original()
            self.result['switch_config_backup'] = self.config.backup

    def rewrite(self):
        """Inside the pause, after the copy."""
        if self.config.new_text is None:
            return
        self.result['changed'] = True
        if not self.check_mode:
            self.config.rewrite()

    def reload_and_check(self, session, source_identities, operations_on, recopy):
        """After the resume: reload, check the server uses the destination and lists every source key (copying a
        key it wrote in between, and reloading again), or put the configuration back and fail."""
        if self.on_destination and not self.result.get('changed'):
            return          # on the destination already, with every key: nothing to reload
        # A server still on the source reloads even when nothing was copied or rewritten now (a run killed after
        # the rewrite, before the reload, left the configuration on the destination).
        self.result['changed'] = True
        if self.check_mode:
            session.queries.append(RELOAD_KEYRING)
            return
        if not operations_on:
            self.fail(session, 'keyring_operations could not be set ON again, so it cannot reload its keyring')
        check = ReloadCheck(session, self.component, self.destination_path)
        for _attempt in range(self.MAX_RELOADS):
            with timeline.span(self.result, timeline.RELOADING):
                failure = check.reload()
            if failure is not None:
                self.fail(session, failure)
            self.result['keyring_reloaded'] = True
            self.result['switched'] = not self.on_destination
            missing = check.missing(source_identities())
            if not missing:
                return
            # Written by the server between the resume and the reload: in the source, not in the destination.
            self.result['keys_copied_after_reload'] += recopy()
        raise MysqlError('%s uses %s now, but after %d reloads it still lacks %d key(s) the source holds (%s): it '
                         'keeps writing keys between the resume and the reload. Run this task again when it is '
                         'quieter (the source still holds every key)'
                         % (session.where, self.destination_path, self.MAX_RELOADS, len(missing),
                            ', '.join('%s (%s)' % identity for identity in missing[:5])))

    def fail(self, session, failure):
        """The reload did not take: the server still holds the source in memory. Put its configuration back, so
        that a later reload or restart keeps it there, and fail saying so."""
        if self.on_destination:
            raise MysqlError('keys were copied into %s, which %s uses, but %s: restart it before it creates or '
                             'rotates a key, or its next key write drops the copied keys from the file'
                             % (self.destination_path, session.where, failure))
        self.config.restore()
        self.result['switch_rolled_back'] = True
        try:
            session.query(RELOAD_KEYRING)
        except MysqlError:
            pass            # it could not reload before either: it still holds the source in memory
        raise MysqlError('%s was not switched: %s. Its configuration %s is as it was again (the original is also '
                         'kept in %s) and it still uses the source' % (session.where, failure, self.config.path,
                                                                       self.config.backup))
