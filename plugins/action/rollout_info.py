# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.keyops.mysql.plugins.plugin_utils.rollout import job_slicing_refusal, rollout, strategy_refusal


class ActionModule(ActionBase):
    """Reads the play this task runs in (its strategy, serial, order, failure limits): no host is contacted."""

    _requires_connection = False
    _supports_check_mode = True
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        unknown = sorted(set(self._task.args) - set(['allow_job_slicing']))
        if unknown:
            return dict(result, failed=True, msg='rollout_info takes only allow_job_slicing (it was given %s)'
                        % ', '.join(unknown))
        task_vars = task_vars or {}
        play = self._task.get_play()
        refusal = strategy_refusal(play.strategy)
        if refusal:
            return dict(result, failed=True, msg=refusal, strategy=play.strategy)
        allowed = boolean(self._task.args.get('allow_job_slicing', False), strict=True)
        refusal = job_slicing_refusal(task_vars, allowed)
        if refusal:
            return dict(result, failed=True, msg=refusal)
        facts = rollout(task_vars.get('ansible_play_hosts_all') or [], task_vars.get('ansible_play_batch') or [],
                        serial=play.serial, order=play.order or 'inventory',
                        max_fail_percentage=play.max_fail_percentage, any_errors_fatal=play.any_errors_fatal)
        result.update(facts, strategy=play.strategy, play=play._uuid, changed=False)
        return result
