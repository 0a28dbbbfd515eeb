# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one pause of a server's keyring_operations around an online copy, as a context manager.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.

    with KeyringPause(session, result, check_mode, who_pauses=KEYOPS) as pause:
        copy()

Both ways of copying use it. With who_pauses=KEYOPS (the collection's own copy) the guard sets
keyring_operations OFF on entry, only when something would be written, and ON again on exit, whatever the body
did. With who_pauses=TOOL (MySQL's tool, which pauses and resumes the server itself) the guard only leaves keyops's
pause marker on entry, so whatever OFF the tool leaves behind is keyops's to undo, and on exit sets ON again if the
tool left it OFF. Either way a server that keyops left paused in an interrupted run (its marker is there) is taken
over and resumed; the tool path refuses a server paused by someone else. In check mode nothing changes: the
statements a real run would send are listed in result['queries'].

The session is connected and closed by the caller (a reload of the keyring follows the resume on the same one).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.keyops.mysql.plugins.module_utils.copy_checks import paused_by_someone_else
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.faults import checkpoint
from ansible_collections.keyops.mysql.plugins.module_utils.mysql import CANNOT_REACH, MysqlError
from ansible_collections.keyops.mysql.plugins.module_utils.replication import (
    offline_mode, restart_appliers_stopped_by_pause)
from ansible_collections.keyops.mysql.plugins.module_utils import timeline

KEYOPS = 'keyops'
TOOL = 'tool'

PAUSE_QUERIES = ['SET GLOBAL keyring_operations = OFF', 'SET GLOBAL keyring_operations = ON']
TOOL_PAUSE_QUERIES = ['SET GLOBAL KEYRING_OPERATIONS=0 (by the tool)', 'SET GLOBAL KEYRING_OPERATIONS=1 (by the tool)']


class KeyringPause:
    """keyring_operations OFF for the body (or the tool's own OFF claimed), ON again after it.

    result gets keyring_operations ({before, during, after}) and queries (the session's statements), and as they
    happen: paused (keyops set OFF itself), resumed_interrupted_pause (the marker of the run that left the server
    paused), tool_left_paused, and resume_error (the server could not be set ON again: raised as MysqlError when the
    body succeeded, else only recorded, never hiding the body's own error).

    skip_if() says whether nothing would be written (KEYOPS path): the pause is then skipped, unless it undoes an
    interrupted run's. observe() reads the server's state before anything changes, for a caller with checks of its
    own to make between that read and the pause; entering observes if the caller did not.
    """

    def __init__(self, session, result, check_mode=False, who_pauses=KEYOPS, skip_if=None):
        if who_pauses not in (KEYOPS, TOOL):
            raise ValueError('who_pauses must be %r or %r, not %r' % (KEYOPS, TOOL, who_pauses))
        self.session = session
        self.result = result
        self.check_mode = check_mode
        self.who_pauses = who_pauses
        self.skip_if = skip_if or (lambda: False)
        self.state = None
        self.paused = False         # keyops set keyring_operations OFF, and owes the ON
        self.offline_mode_before = None
        self.claimed = False        # the tool will set it OFF, and keyops owes the check that it is ON again
        self.paused_at = None       # when it went OFF (or the tool was handed the server), for the run's timeline

    # ---- entering ----------------------------------------------------------------------------------------------

    def observe(self):
        """keyring_operations as found (read once, into result['keyring_operations']); changes nothing."""
        if self.state is not None:
            return self.state['before']
        session = self.session
        if self.who_pauses == TOOL and self.check_mode:
            before = session.get_keyring_operations()
            self.state = self.result['keyring_operations'] = dict(before=before, during=False, after=True)
            return before
        self.state = self.result['keyring_operations'] = dict(before=None, during=None, after=None)
        self.result['queries'] = session.queries
        # A pause whose keyops process still runs on this host is its own to end, not an interrupted one to take over.
        session.settle_pause_marker()
        if self.who_pauses == TOOL:
            self.state['before'] = session.get_keyring_operations()
        else:
            self.result['paused'] = False
            self.state['before'] = self.state['during'] = self.state['after'] = session.get_keyring_operations()
        return self.state['before']

    def __enter__(self):
        self.observe()
        if self.who_pauses == TOOL:
            self._claim_for_tool()
        else:
            self._pause()
        return self

    def _pause(self):
        """KEYOPS path: OFF now, unless it is OFF already (by someone else) or nothing would be written."""
        session, state = self.session, self.state
        if not state['before'] and session.read_pause_marker():
            # OFF only because an interrupted keyops run paused it: what to restore is ON.
            # The pause below rewrites the marker as this run's (the server is OFF already; one OFF is enough).
            self.result['resumed_interrupted_pause'] = session.read_pause_marker()
            state['before'] = True
        # A pause that nothing would happen in is skipped (unless it is an interrupted run's, to undo).
        needed = state['before'] and not (self.skip_if() and 'resumed_interrupted_pause' not in self.result)
        if not needed:
            return
        if self.check_mode:
            session.queries.extend(PAUSE_QUERIES)
            return
        # A Group Replication member that a rotation during the pause expels sets offline_mode ON: the resume sets it
        # OFF again only if it was OFF now.
        self.offline_mode_before = offline_mode(session)
        session.set_keyring_operations(False)
        self.paused_at = timeline.now()
        self.paused = self.result['paused'] = True
        try:
            state['during'] = session.get_keyring_operations()
        except BaseException:
            self._resume(raise_error=False)
            raise
        checkpoint('after_pause')

    def _claim_for_tool(self):
        """TOOL path: refuse a server paused by someone else; leave the marker before the tool pauses it."""
        session = self.session
        if not self.state['before']:
            marker = session.read_pause_marker()
            if not marker:
                raise paused_by_someone_else(session.where)
            if not self.check_mode:
                self.result['resumed_interrupted_pause'] = marker
        if self.check_mode:
            self.result['queries'] = list(TOOL_PAUSE_QUERIES)
            return
        session.write_pause_marker()
        self.paused_at = timeline.now()
        self.claimed = True
        self.state['during'] = False        # the tool pauses it itself

    # ---- leaving -----------------------------------------------------------------------------------------------

    def __exit__(self, exc_type, exc, traceback):
        # Whatever happened in the body, the server is resumed: a paused server cannot create or rotate keys.
        if self.claimed:
            self._resume_after_tool(raise_error=exc_type is None)
        elif self.paused:
            if exc_type is None:
                checkpoint('before_resume')
            self._resume(raise_error=exc_type is None)
        return False

    def _resume(self, raise_error):
        try:
            self._set_on()
            self.state['after'] = self.session.get_keyring_operations()
        except MysqlError as exc:
            self._not_resumed(exc, 'is still', raise_error)
            return
        finally:
            self.paused = False
            timeline.record(self.result, timeline.PAUSED, self.paused_at)
        self._restart_appliers_stopped_by_pause()

    def _set_on(self):
        """ON, on a new connection if the pause's was lost (killed, timed out, or closed by offline_mode): a lost
        connection must not leave the server paused."""
        try:
            self.session.set_keyring_operations(True)
        except MysqlError as exc:
            if exc.code not in CANNOT_REACH:
                raise
            self.session.close()
            self.session.connect()
            self.result['reconnected_to_resume'] = True
            self.session.set_keyring_operations(True)

    def _restart_appliers_stopped_by_pause(self):
        """A replicated master key rotation that reached this replica during the pause stopped its applier (3185),
        or made this Group Replication member leave its group, and ON alone repairs neither: START REPLICA
        SQL_THREAD, or the member rejoins (offline_mode back as it was), now, once. Recorded, never raised: the keys
        are copied and the server is ON; the health gate reports what is still not running."""
        try:
            restarted = restart_appliers_stopped_by_pause(self.session, self.offline_mode_before)
        except MysqlError as exc:
            self.result['replication_recovery_error'] = str(exc)
            return
        if restarted:
            self.result['replication_recovered'] = restarted

    def _resume_after_tool(self, raise_error):
        """After the tool ran or died: ON again, whatever the tool left. A server that cannot be set ON again fails
        the run when the tool succeeded (as on the KEYOPS path); after a failure resume_error is added to it."""
        session = self.session
        try:
            try:
                after = session.get_keyring_operations()
            except MysqlError:
                session.close()
                session.connect()     # the tool's death may have outlived our idle connection
                after = session.get_keyring_operations()
            if not after:
                self.result['tool_left_paused'] = True
                session.set_keyring_operations(True)
                after = session.get_keyring_operations()
            else:
                session.remove_pause_marker()
            self.state['after'] = after
        except MysqlError as exc:
            self._not_resumed(exc, 'may still be', raise_error)
            return
        finally:
            self.claimed = False
            timeline.record(self.result, timeline.PAUSED, self.paused_at)
        self._restart_appliers_stopped_by_pause()

    def _not_resumed(self, exc, state, raise_error):
        """The server could not be set ON again: say so in resume_error, or raise it when nothing else failed."""
        self.state['after'] = False
        message = ('keyring_operations %s OFF on %s and could not be set back ON (%s): run SET GLOBAL '
                   'keyring_operations = ON there now' % (state, self.session.where, exc))
        if raise_error:
            raise MysqlError(message, exc.code)
        self.result['resume_error'] = message
