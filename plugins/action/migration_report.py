# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import tempfile

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.keyops.mysql.plugins.plugin_utils.migration_report import (
    FACT_PREFIX, HOST_FACTS, ROLLING_FACT, report_directory, run_report, stats)
from ansible_collections.keyops.mysql.plugins.plugin_utils import timeline_svg

try:  # ansible-core 2.19+: only trusted text is rendered as a template
    from ansible.template import trust_as_template
except ImportError:  # pragma: no cover - older ansible-core renders any string
    def trust_as_template(text):
        return text

_TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'roles', 'keyring_migration',
                         'templates', 'report.md.j2')
_OPTIONS = frozenset(('dir', 'run_id', 'rollout', 'source', 'destination', 'use_after', 'pause_hosts', 'rollback',
                      'only_on_failure'))


class ActionModule(ActionBase):
    """Writes the run's report on the controller, once per batch (run_once): every host's line computed here, in
    Python, from the role's facts, instead of Jinja evaluated once per host; no file is copied to or from a host."""

    _requires_connection = False
    _supports_check_mode = True
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        unknown = sorted(set(args) - _OPTIONS)
        if unknown:
            return dict(result, failed=True, msg='migration_report: unknown option(s) %s; it takes %s'
                        % (', '.join(unknown), ', '.join(sorted(_OPTIONS))))
        now = datetime.datetime.now(datetime.timezone.utc)
        run_id = args.get('run_id') or 'refused-' + now.strftime('%Y%m%dT%H%M%SZ')
        report_dir = report_directory(args.get('dir'), os.environ)
        path = os.path.join(report_dir, 'keyring-migration-%s' % run_id)
        # This batch: its hosts still in the play (one that is not was unreachable, or failed before it reported).
        rollout = args.get('rollout') or {}
        if not rollout.get('run_hosts'):
            rollout = dict(run_hosts=list(task_vars.get('ansible_play_batch') or []), play='', batch_of_host={})
        active = set(task_vars.get('ansible_play_hosts') or [])
        hostvars = task_vars.get('hostvars') or {}
        host_facts = {}
        reporting = [host for host in rollout['run_hosts'] if host in active]
        # One rolling plan for the batch (a run_once fact every host of it got): read once, not once per host.
        plan = hostvars[reporting[0]].get(FACT_PREFIX + ROLLING_FACT) if reporting else None
        for host in reporting:
            host_vars = hostvars[host]
            host_facts[host] = dict((name, host_vars.get(FACT_PREFIX + name)) for name in HOST_FACTS)
            host_facts[host]['place'] = ((plan or {}).get('hosts') or {}).get(host)
        settings = dict((name, args.get(name)) for name in ('source', 'destination', 'use_after', 'pause_hosts', 'rollback'))
        # --check of the run (the task itself runs with check_mode: false: in check mode the report is the plan).
        check_mode = bool(task_vars.get('ansible_check_mode'))
        doc = run_report(self._previous(path + '.json'), host_facts, task_vars.get('ansible_play_hosts_all') or [],
                         rollout, check_mode, run_id, settings,
                         now.strftime('%Y-%m-%dT%H:%M:%SZ'))
        failed_here = [host for host in rollout['run_hosts'] if doc['hosts'].get(host, {}).get('status') != 'ok']
        result.update(changed=False, report=path + '.json', result=doc['result'], run_id=run_id)
        if args.get('only_on_failure') and not failed_here:
            return dict(result, written=False)
        latest = os.path.join(report_dir, 'keyring-migration-report')
        # The picture of who was paused, reloading, restarting or gated when (none in check mode: nothing ran).
        timeline = None
        if not doc['check_mode'] and timeline_svg.has_timeline(doc['hosts']):
            timeline = timeline_svg.render(doc['hosts'], title='Keyring migration %s' % run_id)
        try:
            if not os.path.isdir(report_dir):
                os.makedirs(report_dir, 0o750)
            for base in (path, latest):
                _write(base + '.json', json.dumps(doc, indent=4, sort_keys=False) + '\n')
                if timeline is not None:
                    _write(base + '.svg', timeline)
                # Each Markdown report links the picture written beside it under the same name.
                _write(base + '.md', self._markdown(doc, os.path.basename(base) + '.svg' if timeline else ''))
        except (IOError, OSError) as exc:
            return dict(result, failed=True, msg='cannot write the report in %s: %s; set keyring_migration_report_dir '
                        'to a directory the controller user can write' % (report_dir, to_native(exc)))
        # Job artifacts in AWX / Automation Platform (and the next node of a workflow): the run's summary.
        result['ansible_stats'] = dict(data=dict(keyring_migration=stats(doc, path + '.json')), per_host=False,
                                       aggregate=False)
        if timeline is not None:
            result['timeline'] = path + '.svg'
        return dict(result, written=True)

    @staticmethod
    def _previous(path):
        """The report an earlier batch or play of this run wrote, or None."""
        try:
            with open(path) as handle:
                return json.load(handle)
        except (IOError, OSError, ValueError):
            return None

    def _markdown(self, doc, timeline_file):
        """The report in Markdown, from the role's template (it ships in the collection, beside this plugin); it
        links timeline_file, the picture beside it, when there is one."""
        with open(_TEMPLATE) as handle:
            text = handle.read()
        templar = self._templar.copy_with_new_env(available_variables=dict(_report=doc, _timeline_file=timeline_file))
        return templar.template(trust_as_template(text), escape_backslashes=False)


def _write(path, text):
    """Replace path with text atomically (temp file beside it, then rename), mode 0640."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.' + os.path.basename(path) + '.')
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        os.chmod(tmp, 0o640)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
