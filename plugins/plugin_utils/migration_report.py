# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The keyring migration role's report: each host's line from what the role recorded on that host, and the run's
report across the batches and plays that wrote one.

Pure functions, so unit tests reach every field. The migration_report action plugin hands them each host's role
facts (the ``_keyring_migration_*`` variables without that prefix) and writes the result; it used to be Jinja in
the role, evaluated once per host and re-evaluated at every reference, which cost more controller CPU than the
migration itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.keyops.mysql.plugins.plugin_utils.rollout import report

FACT_PREFIX = '_keyring_migration_'

# The role facts a host's line is made of (without FACT_PREFIX): its state before and after (the preflight's report,
# the verification's), the copies' results (the online way's; the restarting procedure's copy while the server ran,
# bulk_copy, and while it was stopped, copy), its plan, and what failed.
HOST_FACTS = ('before', 'after', 'info', 'online_copy', 'bulk_copy', 'copy', 'plan', 'check', 'action', 'how',
              'restarted', 'rolled_back', 'resumed_interrupted_run', 'failure', 'failed_phase', 'problems',
              'gate', 'held_back', 'restart_started', 'restart_ended')
# Not a fact of the host's own: its place in the rollout, which the caller takes from the batch's rolling plan (one
# plan for the batch, read once) as facts['place'].
ROLLING_FACT = 'rolling'

_SECRET_KEYS = ('password', 'token', 'secret_options')


def _result(value):
    """A registered result as a dict; a skipped task's, or none, as {}."""
    return value if isinstance(value, dict) and not value.get('skipped') else {}


def _rolling_fields(facts, host, check_mode):
    """The host's place in the rollout (group, role, wave) and how its health gate went."""
    place = facts.get('place') or {}
    gate = _result(facts.get('gate'))
    copy = _result(facts.get('online_copy'))
    if check_mode:
        gate_status = 'check mode: not run'
    elif facts.get('failed_phase') == 'gate':
        gate_status = 'failed'
    elif gate.get('passed'):
        gate_status = 'passed'
    else:
        gate_status = 'not run'
    return dict(
        group=place.get('group') or host,
        role=place.get('role') or 'standalone',
        wave=None if place.get('step') is None else place['step'] + 1,
        gate=gate_status,
        gate_failed=[g for g in gate.get('gates') or () if not g.get('ok')],
        gate_waited=gate.get('waited'),
        # Appliers a replicated master key rotation stopped during the pause (3185), restarted once.
        replication_recovered=sorted(set((copy.get('replication_recovered') or [])
                                         + (gate.get('replication_recovered') or []))),
        held_back=facts.get('held_back') or '',
    )


def _timeline(facts, check_mode):
    """The host's spans for the run's timeline, in time order: paused and reloading (its copies' results, in the
    host's clock), restarting (the role's restart.yml, in the controller's clock) and gate (its health gate). In check
    mode nothing ran: no spans."""
    if check_mode:
        return []
    spans = []
    for name in ('online_copy', 'bulk_copy', 'copy', 'gate'):
        spans.extend(span for span in _result(facts.get(name)).get('timeline') or () if isinstance(span, dict))
    try:
        started = float(facts.get('restart_started'))
        ended = float(facts.get('restart_ended') or started)
    except (TypeError, ValueError):     # not restarted (None), or a value this role did not write
        pass
    else:
        spans.append(dict(phase='restarting', start=round(started, 3), end=round(ended, 3)))
    return sorted(spans, key=lambda span: (span.get('start') or 0, span.get('phase') or ''))


def host_line(facts, batch, play, check_mode, host=None):
    """One host's report line from its role ``facts`` (HOST_FACTS, any of them missing), the ``batch`` it ran in and
    the ``play`` writing it. In check mode nothing was paused, restarted or verified: the line is the plan."""
    before = facts.get('before') or {}
    after = facts.get('after') or {}
    if after.get('skipped'):   # the verification found nothing changed anywhere, and took the preflight's report
        after = facts.get('info') or {}
    copy = _result(facts.get('online_copy')) or _result(facts.get('copy'))
    # The restarting procedure's copy while the server ran (paused for milliseconds), before the one while it was down.
    bulk = _result(facts.get('bulk_copy'))
    plan = facts.get('plan') or {}
    check = facts.get('check') or {}
    failure = facts.get('failure') or ''
    failed_phase = facts.get('failed_phase') or ''
    action = facts.get('action') or 'none'
    how = facts.get('how') or ''
    problems = facts.get('problems') or []
    restarted = bool(facts.get('restarted')) and not check_mode
    conflicts = copy.get('conflicts') or bulk.get('conflicts') or check.get('conflicts') or []
    before_files = ', '.join(before.get('data_files') or [])
    after_files = ', '.join(after.get('active_keystores') or [])
    paused = bool(copy.get('paused') or bulk.get('paused')) and not check_mode
    # In check mode both copies of the restarting procedure plan the same keys: count them once.
    copied = (max if check_mode else sum)((copy.get('migrated_count', 0), bulk.get('migrated_count', 0)))
    if 'migrated_count' in copy and not check_mode:
        # The copy while the server was down finds the keys the copy ahead wrote already present.
        already_present = max(copy.get('already_present_count', 0) - bulk.get('migrated_count', 0), 0)
    else:
        already_present = bulk.get('already_present_count', plan.get('already_present_count', 0))

    if 'keyring_operations' in after:
        operations = after['keyring_operations']
    else:
        operations = before.get('keyring_operations')

    # ON again after the copy's pause: the module sets it back before it returns.
    resumed = paused and bool(((copy if copy.get('paused') else bulk).get('keyring_operations') or {}).get('after'))

    if action == 'none' and not plan.get('migrated_count'):
        expected_pause = 'none'
    elif how == 'restart':
        expected_pause = ('milliseconds: its own copy while it runs; then the restart (stop, copy of what the source '
                          'gained, start)' if action == 'switch' else 'the restart (stop, copy, start)')
    else:
        expected_pause = 'milliseconds: its own copy' + (
            ', and the rewrite of its component configuration' if action == 'switch' else '')

    if check_mode:
        verification = 'check mode: not verified'
    elif failed_phase == 'verify':
        verification = 'failed'
    elif not failure and 'keys' in after:
        verification = 'passed'
    else:
        verification = 'not run'

    rolling = _rolling_fields(facts, host, check_mode)
    if failure:
        status = 'not run' if failed_phase == 'stopped' and not problems else 'failed'
    else:
        status = 'held back' if rolling['held_back'] else 'ok'
    return dict(
        rolling,
        keystore_before=before_files,
        keystore_after=after_files or before_files,
        copied=copied,
        already_present=already_present,
        restarted=restarted,
        keyring_operations=operations,
        # "not run": stopped at preflight only because other hosts had problems.
        status=status,
        reason=failure or rolling['held_back'],
        action=action,
        conflicts=max(copy.get('conflict_count') or 0, bulk.get('conflict_count') or 0, check.get('conflict_count') or 0,
                      len(conflicts)),
        conflicting_keys=[c.get('key_id') for c in conflicts],
        paused=paused,
        resumed=resumed,
        resumed_interrupted_run=bool(facts.get('resumed_interrupted_run')) and not check_mode,
        restart_reason=('' if not restarted else 'switched to the destination' if action == 'switch'
                        else 'the server already used the destination, which got new keys'),
        keys_listed_before=len(before.get('key_ids') or []),
        keys_listed_after=len(after.get('keys') or []) if 'keys' in after else None,
        verify_queries=len(after.get('verify_queries') or []),
        verification=verification,
        problems=problems,
        # online, reload or restart; whether the server reloaded its keyring (no restart) and was switched that way.
        how=how,
        reloaded=bool(copy.get('keyring_reloaded')) and not check_mode,
        switched_without_restart=bool(copy.get('switched')) and not check_mode,
        batch=batch,
        play=play,
        expected_pause=expected_pause,
        # Put back on its previous configuration and keystore after it did not come back from a switch: by
        # keyring_migrate on the way without a restart, by the role's restart.yml on the restarting procedure.
        rolled_back=bool(facts.get('rolled_back')) or bool(copy.get('switch_rolled_back')),
        # Who was paused, reloading, restarting or gated when: the report draws it (timeline_svg).
        timeline=_timeline(facts, check_mode),
        rollback=('keyops.mysql.rollback: back to the source, with the keys the destination gained'
                  if action == 'switch' else 'nothing to undo: the server keeps its keystore'),
    )


def without_secrets(keystore):
    """A keystore spec as the report shows it: every field but its password."""
    return dict((k, v) for k, v in (keystore or {}).items() if k not in _SECRET_KEYS)


def run_report(previous, host_facts, play_hosts_all, rollout, check_mode, run_id, settings, generated_at):
    """The run's report after this batch.

    ``previous``: the report this run wrote before (an earlier batch or play), or None; its host lines stay, except
    the ``pending``/``not run`` ones, which this batch decides again. ``host_facts``: host -> its role facts, for each
    host of this batch that is still in the play (one missing from it was unreachable, or failed before it could
    report). ``play_hosts_all``: every host of the play. ``rollout``: rollout_info's result for this batch.
    ``settings``: the run's source, destination, use_after, pause_hosts and rollback.
    """
    previous = previous or {}
    earlier = dict((host, line) for host, line in (previous.get('hosts') or {}).items() if line.get('play'))
    hosts = list((previous.get('hosts') or {}).keys())
    hosts += [host for host in play_hosts_all if host not in hosts]
    batch_of_host = rollout.get('batch_of_host') or {}
    run_hosts = list(rollout.get('run_hosts') or [])
    entries = dict(earlier)
    for host in run_hosts:
        entries.pop(host, None)
        if host in host_facts:
            entries[host] = host_line(host_facts[host], batch_of_host.get(host), rollout.get('play', ''), check_mode,
                                      host)
    batch_failed = sum(1 for host in run_hosts if (entries.get(host) or {}).get('status') != 'ok')
    lines = report(hosts, entries, rollout.get('play', ''), rollout, batch_failed)
    return dict(
        result=lines['result'],
        run_id=run_id,
        generated_at=generated_at,
        check_mode=check_mode,
        batch=lines['batch'],
        batches=lines['batches'],
        stopped_after_batch=lines['stopped_after_batch'],
        pause_hosts=list(settings.get('pause_hosts') or []),
        source=without_secrets(settings.get('source')),
        destination=without_secrets(settings.get('destination')),
        use_after=settings.get('use_after'),
        # A rollback copies from the migration's destination into its source: `source` and `destination` above are
        # the rollback's.
        rollback=bool(settings.get('rollback')),
        hosts=lines['hosts'],
    )


# What each host's line keeps in the job artifacts: the report's content a DBA reads first, in a size AWX stores for
# thousands of hosts (the full line, with its timeline and file lists, stays in the report file).
ARTIFACT_FIELDS = ('status', 'reason', 'action', 'how', 'group', 'role', 'wave', 'batch', 'copied', 'already_present',
                   'conflicts', 'conflicting_keys', 'restarted', 'reloaded', 'switched_without_restart',
                   'keyring_operations', 'resumed_interrupted_run', 'verification', 'gate', 'held_back', 'rolled_back',
                   'problems')


def stats(report_doc, report_file):
    """The run's summary for set_stats (job artifacts in AWX / Automation Platform, and the next node of a workflow):
    the result, each host's status, and each host's line without its timeline; no secrets, no key material (the
    lines name keys only by id, and only conflicting ones)."""
    return dict(run_id=report_doc['run_id'], result=report_doc['result'], report=report_file,
                check_mode=report_doc['check_mode'], stopped_after_batch=report_doc['stopped_after_batch'],
                source=report_doc['source'], destination=report_doc['destination'], use_after=report_doc['use_after'],
                hosts=dict((host, line.get('status')) for host, line in report_doc['hosts'].items()),
                lines=dict((host, dict((name, line.get(name)) for name in ARTIFACT_FIELDS if name in line))
                           for host, line in report_doc['hosts'].items()))


def report_directory(given, environ):
    """Where the report goes: the directory given; else, under ansible-runner (AWX, Automation Platform, or run by
    hand), keyops.mysql/ in the job's artifacts directory (AWX_ISOLATED_DATA_DIR, which ansible-runner sets), so it
    is kept with the job's events instead of the home directory of an execution environment that is thrown away
    after the job; else ~/.ansible/keyops.mysql/reports."""
    if given:
        return os.path.expanduser(given)
    artifacts = environ.get('AWX_ISOLATED_DATA_DIR')
    if artifacts:
        return os.path.join(artifacts, 'keyops.mysql')
    return os.path.expanduser(os.path.join('~', '.ansible', 'keyops.mysql', 'reports'))
