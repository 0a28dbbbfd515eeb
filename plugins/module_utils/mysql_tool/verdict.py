# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judging a tool's run by what it printed, not by its exit status: mysql_migrate_keyring refuses with "Source
and destination cannot be the same." and exits 0, and skips keys it cannot read with a warning and exit 0 (both
seen on the real 9.7.4 binary). And removing secrets from what is shown of it.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool.catalog import METHOD_MYSQL_MIGRATE_KEYRING

_MMK_LINE = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[(ERROR|WARNING|NOTE|DEBUG)\]\s+(.*)$')
_SERVER_LINE = re.compile(r'^\S+Z \d+ \[(ERROR|Warning|Note|System)\] \[(MY-\d+)\] \[\w+\] (.*)$')
_LOADER_ERROR = re.compile(r'^\[error ID: (\d+) flag: \d+\] (.*)$')
_MIGRATED = re.compile(r'Successfully migrated (\d+) keys\. Skipped (\d+) keys\.')
_SKIPPED_KEY = re.compile(r'data_id: (.*?), auth_id: (.*?)(?: exceeds.*)?\. Skipping')

# Server lines that are errors in form but say nothing about the migration itself.
_SERVER_NOISE = ('MY-010119',)      # "Aborting" follows every failure


class ToolOutcome:
    """The collection's verdict on one run of a tool."""

    def __init__(self):
        self.ok = False
        self.errors = []          # lines that say something failed
        self.warnings = []
        self.skipped = []         # [{key_id, user_id}] or [{line}]
        self.migrated_count = None
        self.skipped_count = 0
        self.refused = False      # the tool declined to start (exit status may still be 0)
        self.reason = None

    def as_dict(self):
        return dict(ok=self.ok, reason=self.reason, errors=self.errors, warnings=self.warnings,
                    skipped=self.skipped, migrated_count=self.migrated_count, skipped_count=self.skipped_count,
                    refused=self.refused)


def parse_output(method, run):
    """Judge a ToolRun by what it printed, not (only) by its exit status."""
    outcome = ToolOutcome()
    judge_line = _judge_mmk_line if method == METHOD_MYSQL_MIGRATE_KEYRING else _judge_server_line
    success_seen = False
    for line in (run.stdout + '\n' + run.stderr).splitlines():
        if line.strip():
            success_seen = judge_line(outcome, line.rstrip()) or success_seen
    outcome.skipped_count = max(outcome.skipped_count, len(outcome.skipped))
    outcome.reason = _failure(outcome, run, success_seen)
    outcome.ok = outcome.reason is None
    return outcome


def _judge_mmk_line(outcome, line):
    """Record one line of mysql_migrate_keyring's output in outcome; True if it says the migration succeeded."""
    if _LOADER_ERROR.match(line):
        outcome.errors.append(line)
        return False
    m = _MMK_LINE.match(line)
    if not m:
        if 'error' in line.lower() or 'fail' in line.lower():
            outcome.errors.append(line)
        return False
    level, text = m.groups()
    if level == 'ERROR':
        outcome.errors.append(text)
        if text.startswith('Source and destination cannot be the same') or 'is mandatory' in text \
                or text.startswith('Failed to parse command line'):
            outcome.refused = True
    elif level == 'WARNING':
        outcome.warnings.append(text)
        if 'Skipping' in text:
            skip = _SKIPPED_KEY.search(text)
            outcome.skipped.append(dict(key_id=skip.group(1), user_id=skip.group(2)) if skip else dict(line=text))
    else:
        counts = _MIGRATED.search(text)
        if counts:
            outcome.migrated_count = int(counts.group(1))
            outcome.skipped_count = int(counts.group(2))
        return text.startswith('Key migration successful')
    return False


def _judge_server_line(outcome, line):
    """Record one line of the migration server's output in outcome; True if it says the migration succeeded."""
    m = _SERVER_LINE.match(line)
    if not m:
        # mysqld prints some failures straight to stderr, before or after its log lines.
        if line.startswith('mysqld: ') or 'error' in line.lower():
            outcome.errors.append(line)
        return False
    level, code, text = m.groups()
    if 'skip' in text.lower() and 'keyring' in text.lower() or 'Skipping' in text:
        outcome.skipped.append(dict(line=text))
    if level == 'ERROR' and code not in _SERVER_NOISE:
        outcome.errors.append(text)
        if 'cannot be performed using migration server' in text or 'Invalid' in text:
            outcome.refused = True
    elif level == 'Warning':
        outcome.warnings.append(text)
    return code == 'MY-011085' or text.startswith('Keyring migration successful')


def _failure(outcome, run, success_seen):
    """Why the run failed, the most telling reason first; None if it succeeded."""
    if run.killed_by:
        return 'the tool was killed (%s) before it finished' % run.killed_by
    if outcome.refused:
        return 'the tool refused to run: %s' % outcome.errors[0]
    if outcome.errors:
        return 'the tool reported errors: %s' % '; '.join(outcome.errors[:3])
    if outcome.skipped_count:
        return ('the tool skipped %d key(s) it could not read (a skipped key is a lost key after a switch)'
                % outcome.skipped_count)
    if run.returncode != 0:
        return 'the tool exited with status %s' % run.returncode
    if not success_seen:
        return 'the tool exited 0 but never said the migration succeeded'
    return None


def scrub(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, '********')
    return text


def scrub_dict(value, secrets):
    if isinstance(value, dict):
        return dict((k, scrub_dict(v, secrets)) for k, v in value.items())
    if isinstance(value, list):
        return [scrub_dict(v, secrets) for v in value]
    if isinstance(value, str):
        return scrub(value, secrets)
    return value
