"""docs/benchmarks.md and docs/benchmarks.png from the harness's results, and the ratios printed to stdout."""

import os
import platform
import subprocess

GOAL_LOAD_RATIO = 2.0        # migration time <= 2x the server's own load time, at 100k keys
GOAL_PAUSE_S = 0.100         # keyring_operations OFF <= 100 ms at 10k keys
GOAL_CONTROLLER_CPU_S = 0.5    # issue 16: controller CPU-seconds per host, zero-restart move at 5+ hosts
GOAL_FLEET_RATIO = 1.5       # 20 hosts <= 1.5x one host
GOAL_RERUN_MODULE_S = 1.0    # idempotent re-run <= 1 s of module time per host
GOAL_ROLLING_OVERHEAD = 0.25  # issue 17: a rolling restart of a group <= 25 % above its members' restarts + gates
GOAL_ROLLING_GROUPS_RATIO = 1.2  # issue 17: 2 groups <= 1.2x one group


def machine_info():
    try:
        cpu = [line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo') if line.startswith('model name')]
    except OSError:
        cpu = []
    try:
        load = open('/proc/loadavg').read().split()[:3]
    except OSError:
        load = ['?'] * 3
    try:
        ansible = subprocess.run([os.path.join(os.path.dirname(__file__), '..', '.venv', 'bin', 'ansible'),
                                  '--version'], capture_output=True, text=True, check=False).stdout.splitlines()[0]
    except (OSError, IndexError):
        ansible = '?'
    return dict(cpus=os.cpu_count(), cpu=cpu[0] if cpu else '?', kernel=platform.release(),
                python=platform.python_version(), ansible=ansible, load='load average %s' % ' '.join(load))


def _ms(s):
    return '—' if s is None else ('%.0f ms' % (s * 1000) if s < 10 else '%.1f s' % s)


def _s(s):
    return '—' if s is None else ('%.3f s' % s if s < 10 else '%.1f s' % s)


def _ratio(a, b):
    return None if a is None or not b or b <= 0 else a / b


def _r(x):
    return '—' if x is None else '%.2f×' % x


def _mib(kib):
    return '—' if kib is None else '%.0f MiB' % (kib / 1024.0)


def _verdict(ok):
    return 'n/a' if ok is None else ('**met**' if ok else '**missed**')


def goals(results):
    """[(goal, measured, ok)]."""
    out = []
    load = results.get('server_load', {})
    big = max(results.get('sizes', [0]))
    srv = load.get(big) or load.get(str(big))
    for row in results.get('throughput', []):
        if row['keys'] != big:
            continue
        interleaved = results.get('interleaved') or {}
        for kind in ('library', 'ansible'):
            seconds, how = row['%s_s' % kind], ''
            if kind == 'library' and row['path'] in interleaved.get('library_s', {}):
                # measured side by side with the server starts (see Method): the ratio that drift does not skew
                seconds = interleaved['library_s'][row['path']]
                how = '; library runs interleaved with the server starts, median of %d' % len(
                    interleaved['runs'][row['path']])
            ratio = _ratio(seconds, srv['load_s']) if srv else None
            goal = '%s via %s at %dk keys ≤ %.0f× server load' % (row['path'], kind, big // 1000, GOAL_LOAD_RATIO)
            out.append((goal,
                        '%s (%s vs %s%s)' % (_r(ratio), _s(seconds), _s(srv['load_s']) if srv else '—', how),
                        None if ratio is None else ratio <= GOAL_LOAD_RATIO))
    pause = results.get('pause', {})
    p10 = pause.get(10000) or pause.get('10000')
    if p10:
        out.append(('pause window at 10k keys ≤ 100 ms', '%s polled, %s by server timers'
                    % (_ms(p10['polled_s']), _ms(p10['server_timer_s'])), p10['polled_s'] <= GOAL_PAUSE_S))
    role = results.get('role_pause', {})
    r10 = role.get(10000) or role.get('10000')
    if r10:
        out.append(('role path: every server OFF ≤ 100 ms at 10k keys', '%s worst of %d servers (general log), %d '
                    'restarts' % (_ms(r10['max_pause_s']), r10['hosts'], r10['restarts']),
                    r10['max_pause_s'] <= GOAL_PAUSE_S))
    role = results.get('role_pause_restart', {})
    r10 = role.get(10000) or role.get('10000')
    if r10:
        out.append(('restarting procedure: every server OFF ≤ 100 ms at 10k keys (the restart is the pause)',
                    '%s worst of %d servers (general log), %d restarts'
                    % (_ms(r10['max_pause_s']), r10['hosts'], r10['restarts']),
                    r10['max_pause_s'] <= GOAL_PAUSE_S))
    fleet = {r['hosts']: r for r in results.get('fleet', []) if 'error' not in r}
    for count, row in sorted(fleet.items()):
        if count >= 5 and row.get('first_controller_cpu_s_per_host') is not None:
            out.append(('controller CPU ≤ %.1f s per host for a migration (%d hosts)' % (GOAL_CONTROLLER_CPU_S, count),
                        '%s per host (re-run %s)' % (_s(row['first_controller_cpu_s_per_host']),
                                                     _s(row['rerun_controller_cpu_s_per_host'])),
                        row['first_controller_cpu_s_per_host'] <= GOAL_CONTROLLER_CPU_S))
    if 1 in fleet and max(fleet) > 1:
        top = max(fleet)
        ratio = fleet[top]['first_s'] / fleet[1]['first_s']
        floor = ''
        if fleet[top].get('first_cpu_s'):
            # The machine's busy CPU-seconds over its CPUs: no scheduling can finish the run faster than that.
            cpu_floor = fleet[top]['first_cpu_s'] / fleet[top]['cpus']
            floor = '; the run kept the machine busy for %s CPU-seconds, so on %d CPUs it cannot take under %s (%s one host)' % (
                _s(fleet[top]['first_cpu_s']), fleet[top]['cpus'], _s(cpu_floor), _r(cpu_floor / fleet[1]['first_s']))
        out.append(('%d hosts ≤ %.1f× one host' % (top, GOAL_FLEET_RATIO), '%s (%s vs %s)%s'
                    % (_r(ratio), _s(fleet[top]['first_s']), _s(fleet[1]['first_s']), floor),
                    ratio <= GOAL_FLEET_RATIO))
    for count, row in sorted(fleet.items()):
        mod = row['rerun_module_s_per_host']
        floor = ''
        if mod.get('keyops_tasks'):
            # What the modules add over Ansible's own cost of any task (one ping, same hosts, same SSH settings).
            floor = '; %d keyops.mysql tasks, %s beyond %d pings' % (
                mod['keyops_tasks'], _s(max(mod['keyops_mean'] - mod['keyops_tasks'] * row['ping_s'], 0.0)),
                mod['keyops_tasks'])
        out.append(('re-run ≤ 1 s module time per host (%d hosts)' % count,
                    '%s in keyops.mysql modules, %s in all %d tasks (mean per host); ansible.builtin.ping %s%s'
                    % (_s(mod['keyops_mean']), _s(mod['mean']), mod['tasks'], _s(row['ping_s']), floor),
                    mod['keyops_mean'] <= GOAL_RERUN_MODULE_S))
        fresh = row.get('rerun_no_ssh_reuse_module_s_per_host')
        if fresh:
            out.append(('re-run ≤ 1 s module time per host (%d hosts), a new SSH connection per task' % count,
                        '%s in keyops.mysql modules, %s in all %d tasks (mean per host)'
                        % (_s(fresh['keyops_mean']), _s(fresh['mean']), fresh['tasks']),
                        fresh['keyops_mean'] <= GOAL_RERUN_MODULE_S))
    out.extend(rolling_goals(results))
    return out


def _rolling_pairs(results):
    """kind -> (one group's row, two groups' row), for each kind of group measured both ways."""
    rows = dict(((r['kind'], r['groups']), r) for r in results.get('rolling', []))
    return dict((kind, (rows[(kind, 1)], rows[(kind, 2)])) for kind, groups in rows if groups == 1 and (kind, 2) in rows)


def rolling_goals(results):
    """Issue 17's two goals, per kind of replication group."""
    out = []
    for kind, (one, two) in sorted(_rolling_pairs(results).items()):
        overhead = one['wall_s'] / one['ideal_s'] - 1
        out.append(('%s group of 3, every server restarted: wall ≤ %d %% above its restarts + gates'
                    % (kind, GOAL_ROLLING_OVERHEAD * 100),
                    '%+.0f %% (%s vs %s; the rollout itself, first pause to last gate, %s: %+.0f %%)'
                    % (overhead * 100, _s(one['wall_s']), _s(one['ideal_s']), _s(one['rollout_s']),
                       (one['rollout_s'] / one['ideal_s'] - 1) * 100),
                    overhead <= GOAL_ROLLING_OVERHEAD))
        ratio = two['wall_s'] / one['wall_s']
        out.append(('2 %s groups ≤ %.1f× one group' % (kind, GOAL_ROLLING_GROUPS_RATIO),
                    '%s (%s vs %s)' % (_r(ratio), _s(two['wall_s']), _s(one['wall_s'])),
                    ratio <= GOAL_ROLLING_GROUPS_RATIO))
    return out


def ratios_text(results):
    lines = ['', 'keyops.mysql benchmark ratios (%s mode)' % results['mode']]
    load = results.get('server_load', {})
    for row in results.get('throughput', []):
        srv = load.get(row['keys']) or load.get(str(row['keys']))
        lines.append('  %-26s %7d keys: library/server-load %s  ansible/server-load %s  library/cp+sync %s'
                     % (row['path'], row['keys'], _r(_ratio(row['library_s'], srv['load_s'] if srv else None)),
                        _r(_ratio(row['ansible_s'], srv['load_s'] if srv else None)),
                        _r(_ratio(row['library_s'], row['cp_sync_s']))))
    for n, row in sorted((int(k), v) for k, v in results.get('pause', {}).items()):
        share = row['polled_s'] / GOAL_PAUSE_S
        lines.append('  pause window %6d keys: %s (goal 100 ms: %.2f of it)' % (n, _ms(row['polled_s']), share))
    for n, row in sorted((int(k), v) for k, v in results.get('switch_pause', {}).items()):
        share = row['polled_s'] / GOAL_PAUSE_S
        lines.append('  zero-restart switch %6d keys: paused %s (goal 100 ms: %.2f of it)'
                     % (n, _ms(row['polled_s']), share))
    for part, label in (('role_pause', 'role path'), ('role_pause_restart', 'restarting procedure')):
        for n, row in sorted((int(k), v) for k, v in results.get(part, {}).items()):
            lines.append('  %s %6d keys: worst server OFF %s (general log; goal 100 ms: %.2f of it), %d restarts'
                         % (label, n, _ms(row['max_pause_s']), row['max_pause_s'] / GOAL_PAUSE_S, row['restarts']))
    fleet = {r['hosts']: r for r in results.get('fleet', []) if 'error' not in r}
    for count, row in sorted(fleet.items()):
        if row.get('first_controller_cpu_s_per_host') is not None:
            lines.append('  fleet %2d hosts: controller CPU per host: migrate %.2f s, re-run %.2f s (goal <= 0.5 s at 5+ '
                         'hosts); migrate wall %s vs CPU floor %s (%s)'
                         % (count, row['first_controller_cpu_s_per_host'], row['rerun_controller_cpu_s_per_host'],
                            _s(row['first_s']), _s(row['cpu_floor_s']), _r(_ratio(row['first_s'], row['cpu_floor_s']))))
        lines.append('  fleet %2d hosts: migrate %s = %s of one host; re-run %s of one host'
                     % (count, _s(row['first_s']), _r(_ratio(row['first_s'], fleet.get(1, row)['first_s'])),
                        _r(_ratio(row['rerun_s'], fleet.get(1, row)['rerun_s']))))
    for goal, measured, ok in goals(results):
        lines.append('  goal: %-60s %-44s %s' % (goal, measured, {True: 'met', False: 'MISSED', None: 'n/a'}[ok]))
    return '\n'.join(lines)


def write(results, out_dir):
    (out_dir / 'benchmarks.md').write_text(markdown(results))
    try:
        plot(results, out_dir / 'benchmarks.png')
    except ImportError as exc:
        print('bench: no plot (%s); pip install matplotlib into the venv' % exc)


def markdown(results):
    m = results['machine']
    load = results.get('server_load', {})
    L = []
    L.append('# Benchmarks')
    L.append('')
    L.append('Produced by `bench/run` (%s mode) on %s — do not edit by hand; re-run the harness. The harness is '
             'not part of the test pass/fail.' % (results['mode'], results['started']))
    for part in results.get('remeasured', []):
        # A later run of some parts only (bench/__main__.py --merge-into): its figures replace those parts.
        L.append('')
        L.append('Re-measured on %s by `bench/run %s`: %s; every ratio in those sections is from that run.'
                 % (part['started'], part['args'], ', '.join(part['parts'])))
    L.append('')
    L.append('Machine: %d CPUs (%s), Linux %s, Python %s (controller venv), %s. Shared with other work: %s at '
             'the start, %s at the end. Absolute times drift on a shared machine; the ratios are the figures '
             'to compare. The whole run took %.0f s.'
             % (m['cpus'], m['cpu'], m['kernel'], m['python'], m['ansible'], m['load'], m.get('load_end', '?'),
                results.get('seconds', 0)))
    L.append('')
    L.append('![benchmarks](benchmarks.png)')
    L.append('')
    L.append('## Goals')
    L.append('')
    L.append('| goal | measured | |')
    L.append('|---|---|---|')
    for goal, measured, ok in goals(results):
        L.append('| %s | %s | %s |' % (goal, measured, _verdict(ok)))
    L.append('')
    if results.get('throughput'):
        L.append('## Throughput')
        L.append('')
        L.append('A fresh destination each run; median of %d library runs and %d Ansible runs. *server load* is '
                 'the real mysqld 9.7\'s start-up time with the migrated component keystore minus its start-up '
                 'time with the host\'s own keystore (see Method); *cp + sync* copies the destination\'s bytes '
                 'and fsyncs them (the floor). Ansible\'s own overhead (`ansible localhost -m ping`, same '
                 'interpreter): %s.' % (results.get('library_repeats', results['repeats']), results['ansible_repeats'],
                                        _s(results.get('ansible_noop_s'))))
        L.append('')
        L.append('| path | keys | file | library | via Ansible | server load | cp + sync | library ÷ server | '
                 'Ansible ÷ server | library ÷ cp+sync | module peak RSS |')
        L.append('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
        for row in results['throughput']:
            srv = load.get(row['keys']) or load.get(str(row['keys']))
            sl = srv['load_s'] if srv else None
            L.append('| %s | %d | %.1f MB | %s | %s | %s | %s | %s | %s | %s | %s |'
                     % (row['path'], row['keys'], row['dst_bytes'] / 1e6, _s(row['library_s']), _s(row['ansible_s']),
                        _s(sl), _s(row['cp_sync_s']), _r(_ratio(row['library_s'], sl)),
                        _r(_ratio(row['ansible_s'], sl)), _r(_ratio(row['library_s'], row['cp_sync_s'])),
                        _mib(row['module_rss_kib'])))
        L.append('')
    if load:
        L.append('## Server load time')
        L.append('')
        L.append('Median of %s interleaved starts per file (exec to first connection, see Method). Start-up jitter on '
                 'this shared machine is tens of ms, so small key counts can come out at or below zero.'
                 % results.get('server_repeats', '?'))
        L.append('')
        L.append('| keys | start-up with it | start-up with the host\'s own (%s keys) | load time | keys the server '
                 'lists | error-log window, with it / own | runs (s) |' % load.get('base_keys'))
        L.append('|---:|---:|---:|---:|---:|---:|---|')
        for n in results['sizes']:
            row = load.get(n) or load.get(str(n))
            if row:
                L.append('| %d | %s | %s | %s | %d | %s / %s | %s |'
                         % (n, _s(row['startup_s']), _s(row['empty_startup_s']), _s(row['load_s']),
                            row['keys_seen_by_server'], _s(row.get('log_window_s')),
                            _s(row.get('empty_log_window_s')), ', '.join('%.3f' % x for x in row['runs'])))
        L.append('')
    if results.get('pause'):
        L.append('## Pause window (online: true)')
        L.append('')
        before = dict((int(k), v) for k, v in results.get('pause_before', {}).items())
        L.append('| keys | OFF, polled | OFF, server statement timers | poll interval | Ansible task wall | runs (polled) '
                 '| before the optimisation (%s), polled |' % (results.get('baseline_rev') or '—'))
        L.append('|---:|---:|---:|---:|---:|---|---:|')
        for n, row in sorted((int(k), v) for k, v in results['pause'].items()):
            L.append('| %d | %s | %s | %.2f ms | %s | %s | %s |'
                     % (n, _ms(row['polled_s']), _ms(row['server_timer_s']), row['poll_interval_s'] * 1000,
                        _s(row['ansible_wall_s']), ', '.join('%.1f ms' % (x * 1000) for x in row['polled_runs']),
                        _ms(before[n]['polled_s']) if n in before else '—'))
        L.append('')
    if results.get('switch_pause'):
        L.append('## Pause window of a zero-restart switch (online: true, switch_config)')
        L.append('')
        L.append('The server holds the n keys (on the source) and is moved to the destination: paused for the copy and '
                 'the rewrite of its component configuration, then RELOAD KEYRING after the resume.')
        L.append('')
        L.append('| keys | OFF, polled | OFF, server statement timers | Ansible task wall | runs (polled) |')
        L.append('|---:|---:|---:|---:|---|')
        for n, row in sorted((int(k), v) for k, v in results['switch_pause'].items()):
            L.append('| %d | %s | %s | %s | %s |'
                     % (n, _ms(row['polled_s']), _ms(row['server_timer_s']), _s(row['ansible_wall_s']),
                        ', '.join('%.1f ms' % (x * 1000) for x in row['polled_runs'])))
        L.append('')
    for part, title in (('role_pause', 'no restart'),
                        ('role_pause_restart', 'the restarting procedure, restart_policy: always')):
        if not results.get(part):
            continue
        L.append('## Pause window on the role\'s path (keyops.mysql.migrate, %s)' % title)
        L.append('')
        L.append('Each server holds the n keys in its source keystore and is moved to a new path; its OFF -> ON window '
                 'is read from its own general log (SET GLOBAL keyring_operations statements).')
        L.append('')
        L.append('| keys | hosts | worst server OFF | per server | restarts | playbook wall | controller CPU per host |')
        L.append('|---:|---:|---:|---|---:|---:|---:|')
        for n, row in sorted((int(k), v) for k, v in results[part].items()):
            L.append('| %d | %d | %s | %s | %d | %s | %s |'
                     % (n, row['hosts'], _ms(row['max_pause_s']),
                        ', '.join('%s %.1f ms' % (h, x * 1000) for h, x in sorted(row['pauses_s'].items())),
                        row['restarts'], _s(row['wall_s']), _s(row['controller_cpu_s_per_host'])))
        L.append('')
    if results.get('rolling'):
        L.extend(rolling_markdown(results['rolling']))
    if results.get('fleet') and any('first_controller_cpu_s_per_host' in r for r in results['fleet']):
        L.append('## Controller CPU per host (keyops.mysql.migrate)')
        L.append('')
        L.append('CPU-seconds of the ansible-playbook process tree (getrusage RUSAGE_CHILDREN), divided by hosts, with '
                 'Ansible\'s default SSH connection reuse (ControlPersist), the mux masters\' CPU included (the bench is '
                 'their subreaper); the last column is the re-run with a new SSH connection per task. The CPU floor is '
                 'all busy CPU-seconds of the machine during the migration divided by its cores.')
        L.append('')
        L.append('| hosts | migrate: controller CPU per host | re-run: controller CPU per host | migrate wall | CPU floor '
                 '| wall ÷ floor | restarts | re-run, no SSH reuse: controller CPU per host |')
        L.append('|---:|---:|---:|---:|---:|---:|---:|---:|')
        for row in results['fleet']:
            if 'error' in row or 'first_controller_cpu_s_per_host' not in row:
                continue
            L.append('| %d | %s | %s | %s | %s | %s | %d | %s |'
                     % (row['hosts'], _s(row['first_controller_cpu_s_per_host']),
                        _s(row['rerun_controller_cpu_s_per_host']), _s(row['first_s']), _s(row['cpu_floor_s']),
                        _r(_ratio(row['first_s'], row['cpu_floor_s'])), row['first_restarts'],
                        _s(row.get('rerun_no_ssh_reuse_controller_cpu_s_per_host'))))
        L.append('')
    if results.get('fleet'):
        L.append('## Fleet scale (keyops.mysql.migrate)')
        L.append('')
        L.append('| hosts | forks | migrate | ÷ one host | changed | idempotent re-run | ÷ one host | changed | '
                 're-run wall ÷ hosts | re-run, per host: keyops.mysql modules (mean / max) | all tasks (mean / max) '
                 '| one ping | re-run, a new SSH connection per task: wall, keyops.mysql modules per host (mean) |')
        L.append('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
        one = {r['hosts']: r for r in results['fleet'] if 'error' not in r}.get(1)
        for row in results['fleet']:
            if 'error' in row:
                error = '; '.join(row['error'])[:400].replace('|', '/').replace('\n', ' ')
                L.append('| %d | failed: %s | | | | | | | | | | | |' % (row['hosts'], error))
                continue
            mod = row['rerun_module_s_per_host']
            fresh = row.get('rerun_no_ssh_reuse_module_s_per_host')
            reused_cell = ('%s, %s' % (_s(row['rerun_no_ssh_reuse_s']), _s(fresh['keyops_mean']))) if fresh else '—'
            L.append('| %d | %d | %s | %s | %d | %s | %s | %d | %s | %s / %s | %s / %s | %s | %s |'
                     % (row['hosts'], row['forks'], _s(row['first_s']),
                        _r(_ratio(row['first_s'], one['first_s'] if one else None)), row['first_changed'],
                        _s(row['rerun_s']), _r(_ratio(row['rerun_s'], one['rerun_s'] if one else None)),
                        row['rerun_changed'], _s(row['rerun_s_per_host']), _s(mod['keyops_mean']),
                        _s(mod['keyops_max']), _s(mod['mean']), _s(mod['max']), _s(row['ping_s']), reused_cell))
        L.append('')
    if results.get('throughput'):
        big = max(results['sizes'])
        L.append('## Memory')
        L.append('')
        L.append('| path | keys | module process peak RSS (via Ansible) | library alone, peak RSS of its process '
                 '| of which the interpreter and imports |')
        L.append('|---|---:|---:|---:|---:|')
        for row in results['throughput']:
            if row['keys'] == big:
                cells = (row['path'], row['keys'], _mib(row['module_rss_kib']), _mib(row['library_rss_kib']),
                         _mib(row['interpreter_rss_kib']))
                L.append('| %s | %d | %s | %s | %s |' % cells)
        L.append('')
    if results.get('before_after'):
        ba = results['before_after']
        L.append('## Library before / after the optimisation')
        L.append('')
        L.append('`plan.migrate` alone (fresh process, fresh destination), the keystore library of commit `%s` '
                 '(before) and of the working tree (after), alternating, same files, median of %d.'
                 % (ba[0]['rev'], results['repeats']))
        L.append('')
        L.append('| path | keys | before | after | speed-up | peak RSS before | after | same bytes written |')
        L.append('|---|---:|---:|---:|---:|---:|---:|---|')
        for row in ba:
            L.append('| %s | %d | %s | %s | %s | %s | %s | %s |'
                     % (row['path'], row['keys'], _s(row['before_s']), _s(row['after_s']),
                        _r(_ratio(row['before_s'], row['after_s'])), _mib(row['before_rss_kib']),
                        _mib(row['after_rss_kib']),
                        'n/a (random IV)' if row['same_bytes'] is None else ('yes' if row['same_bytes'] else '**NO**')))
        L.append('')
    L.append(notes(results))
    L.append(METHOD)
    return '\n'.join(L) + '\n'


def notes(results):
    """What the figures say: where the time goes where a goal is missed (computed from this run)."""
    L = ['## Notes', '']
    rows = results.get('throughput', [])
    big = max(results.get('sizes', [0]))
    top = [r for r in rows if r['keys'] == big]
    noop = results.get('ansible_noop_s') or 0
    load = results.get('server_load', {})
    srv = load.get(big) or load.get(str(big))
    if top:
        lib = max(r['library_s'] for r in top)
        extra = statistics_median([r['ansible_s'] - r['library_s'] - noop for r in top])
        floor = (' Ansible\'s start-up alone is %s the server\'s load time, so no module run through Ansible can '
                 'meet 2× server load at this size: that goal is below Ansible\'s own floor.'
                 % _r(_ratio(noop, srv['load_s']))) if srv and noop else ''
        L.append('- **Throughput.** At %d keys the library alone takes %s at most; through Ansible it takes %s more '
                 'than the library plus Ansible\'s own start-up (%s): the AnsiballZ payload, the module\'s imports, '
                 'AnsibleModule\'s no_log scrubbing of the result and JSON both ways (the result lists at most '
                 '`max_keys_listed`, 1000, keys).%s The library\'s own time is two strict parses (the source, and '
                 'the check that the new bytes decode to the intended keys), a render and the plan, in Python; the '
                 'server parses once, in C++ (rapidjson). At 100,000 keys (keyring_file → component) about 40%% of '
                 'it is decoding the source, 27%% checking the new bytes, 19%% rendering and 7%% planning; the '
                 'write, fsync and read-back run in a thread during the check. cp + sync is the I/O floor.'
                 % (big, _s(lib), _s(extra), _s(noop), floor))
    p10 = (results.get('pause') or {}).get(10000) or (results.get('pause') or {}).get('10000')
    if p10:
        L.append('- **Pause window.** With `online: true` the module loads both keystores, plans, renders the new '
                 'bytes and checks that they decode to the intended keys before it pauses the server; a conflict '
                 'fails before the pause, and nothing to copy means no pause. While paused it only checks that '
                 'neither file changed (read and hash) and writes (temp file, fsync, read-back, rename, directory '
                 'fsync); if either changed it redoes the copy while paused. %s at 10k keys on this machine.'
                 % _ms(p10['polled_s']))
    fleet = {r['hosts']: r for r in results.get('fleet', []) if 'error' not in r}
    failed = [r for r in results.get('fleet', []) if 'error' in r or r.get('earlier_attempts_failed')]
    for r in failed:
        L.append('- **Fleet of %d hosts: %s.** %s' % (r['hosts'], 'failed' if 'error' in r else 'a first attempt failed',
                                                      '; '.join(r.get('error') or r.get('earlier_attempts_failed'))[:500]
                                                      .replace('\n', ' ')))
    if len(fleet) > 1 and 1 in fleet:
        topn = max(fleet)
        L.append('- **Fleet scale.** %d hosts share this machine\'s %s CPUs: %d mysqld restarts, %d SSH sessions per '
                 'task (the sandbox inventory turns SSH multiplexing off) and the AnsiballZ start-ups all run on the '
                 'same cores. One `ansible.builtin.ping` per host takes %s with %d hosts against %s with one, so '
                 'per-task overhead, not the keystore work (a dozen keys per host), sets the slope; the busy '
                 'CPU-seconds in the goals table bound the run from below. On real hosts each server and module '
                 'runs on its own machine and only the controller is shared.'
                 % (topn, results['machine'].get('cpus'), topn, topn, _s(fleet[topn]['ping_s']), topn,
                    _s(fleet[1]['ping_s'])))
        one = fleet[1]['rerun_module_s_per_host']
        L.append('- **Re-run.** An idempotent re-run changes nothing and restarts nothing. Every host runs %d tasks, '
                 'one of them a keyops module: `keyring_info`, which reports the server and, through its `migration` '
                 'option, plans the copy as `keyring_migrate` would in check mode (before, a second module task did '
                 'the plan). That is %s of keyops module time per host with one host, of which one '
                 '`ansible.builtin.ping` (%s) is Ansible\'s per-task floor. With 5 and 20 hosts on 2 CPUs that floor '
                 'itself grows past 1 s per task, so the per-host goal holds only where hosts do not share two CPUs.'
                 % (one['tasks'], _s(one['keyops_mean']), _s(fleet[1]['ping_s'])))
    for kind, (one, two) in sorted(_rolling_pairs(results).items()):
        servers = one['hosts']
        fixed = one['wall_s'] - one['rollout_s']
        between = one['rollout_s'] - one['ideal_s']
        # The restart + gate a server would need for this run's overhead to stay within the goal.
        needed = (one['wall_s'] - one['ideal_s']) / (GOAL_ROLLING_OVERHEAD * servers)
        L.append('- **Rolling restart, %s.** Of one group\'s %s over its ideal, %s is outside the rollout (Ansible\'s '
                 'start, the preflight on every server, the report) and %s inside it, %s per server: the tasks '
                 'around each restart that the ideal does not count - the copy while the server runs, the check '
                 'that it came back, the verification, and the gate\'s look at the source (each an Ansible task of '
                 'about 0.4-0.8 s). That overhead is the same whatever a restart takes, so it stays within the goal '
                 'once a server\'s restart and gate take %s or more; here they take %s on average (sandbox servers '
                 'with tiny buffer pools start in seconds). Two groups take %s one group: they go in parallel, '
                 'wave by wave.'
                 % (kind, _s(one['wall_s'] - one['ideal_s']), _s(fixed), _s(between), _s(between / servers),
                    _s(needed), _s(one['ideal_s'] / servers), _r(two['wall_s'] / one['wall_s'])))
    L.append('- **Library changes (plugins/module_utils/keystore).** One-pass readers for what MySQL writes '
             '(keyring_file in LE_64; a canonical component document with no escaped character, read by one '
             'regex whose strings are matched as anything but a quote, with one scan for backslashes and control '
             'characters; anything else takes the unchanged strict parsers), `Key` as a tuple, new documents '
             'rendered without escaping and then checked for any character that needed it, plans by identity '
             'for component destinations (one dict look-up per key), the temp file written, fsynced and read back '
             'in a thread while the new bytes are checked, the cyclic GC paused during decode/encode/migrate, '
             'and no regex over an encrypted keystore\'s hex. Same bytes written, same errors (the fast paths are '
             'tested against the strict ones); see the before/after table.')
    L.append('')
    return '\n'.join(L)


def statistics_median(values):
    values = sorted(values)
    n = len(values)
    return None if not n else (values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2.0)


METHOD = """## Method

- **Keystores.** Every measured file starts with the sandbox host's own keys (its InnoDB master key and the
  seeded keys, so that the server can still open its encrypted tables) followed by *n* synthetic AES-256 keys
  (ids `bench_NNNNNNN`, four owners, random 32-byte keys), written once by the library as a `keyring_file`
  (2.0) and as a `component_keyring_file` source. The key counts in the tables are *n*.
- **Library.** `plan.migrate(open_keystore(src), open_keystore(dst))` in a fresh Python process
  (`bench/_child.py`): source load, destination load, plan, render, atomic write (temp file, fsync, read-back
  verification, rename, directory fsync). The destination does not exist before each run.
- **Via Ansible.** `ansible localhost -c local -m keyops.mysql.keyring_migrate` with the same arguments, wall
  time of the whole command (Ansible start-up, AnsiballZ, the module, its JSON result listing the first
  `max_keys_listed` (1000) copied keys and the counts). The interpreter is `bench/rss_python`, which runs the venv's python under `/usr/bin/time -f %M`: the
  module process's peak RSS.
- **Server load time.** One sandbox host (real mysqld 9.7.4, `component_keyring_file`). For each file the
  harness points the host's `component_keyring_file.cnf` at it, stops the server with the host's `mysql-service`
  and starts `mysqld` exactly as that script does (`setsid setpriv --reuid=mysql ...`), timing from the exec to
  the first accepted connection on its socket (polled every millisecond from the controller; same clock). The
  same with the host's own keystore (the base keys alone) is subtracted. Sizes are interleaved, repeated,
  medians. After each round of starts the library migrates each path once more at the largest size: the
  goal's library ratio is taken between these runs and the starts beside them, because this machine's speed
  drifts by tens of percent within minutes and runs minutes apart are not comparable (the Throughput table's
  library column is from the separate, earlier runs). `performance_schema.keyring_keys` is counted to confirm the server loaded every key. (The error log's
  `starting as process` → `ready for connections` window is reported too: it does not grow with the keystore,
  i.e. the keyring component is loaded before the log's first line, which is why wall time is used.) The server
  cannot load an encrypted component keystore (Enterprise only), so the encrypted path is compared with the
  same server figure for the same keys.
- **cp + sync.** `cp` of the migrated destination's bytes to a new file and `sync` of that file.
- **Pause window.** `keyops.mysql.keyring_migrate` with `online: true` through Ansible over SSH to the sandbox
  host (the module runs in the host's Python 3 with the collection's library), copying a component keystore
  of *n* keys to a new file. From the server side, two ways: (1) a second connection polls
  `SELECT @@GLOBAL.keyring_operations` in a tight loop (its interval is in the table; the window is accurate to
  about one interval) and the OFF window is from the first OFF answer to the first ON answer; (2) the server's
  own statement timers in `performance_schema.events_statements_history_long` (consumer enabled for the run,
  the poller's thread not instrumented): end of `SET GLOBAL keyring_operations = OFF` to end of the `= ON`.
- **Fleet scale.** For each size a fresh sandbox fleet (`python -m tests.sandbox up --hosts N`), then
  `ansible-playbook keyops.mysql.migrate -e @tests/sandbox/demo/migration_vars.yml -f N+5` (the demo migration:
  preflight, pause all, copy to a new path, switch and restart each server, resume, verify encrypted reads)
  and the same playbook again (the idempotent re-run: nothing changes, no restart). Wall time of each
  `ansible-playbook`. Module time per host on the re-run comes from a small callback
  (`bench/callback_plugins/bench_timer.py`; `ansible.builtin.json` is not in ansible-core 2.19): for each host
  and task, from the worker's start to its result, i.e. the module plus its SSH connection (the inventory turns
  SSH multiplexing off) and AnsiballZ start-up. Summed per host over the `keyops.mysql.*` module tasks (the goal's
  figure) and over all tasks; one `ansible.builtin.ping` per host gives the floor of any remote task, and the
  module time "beyond pings" subtracts one ping per keyops task. The re-run is made once more with Ansible's
  default SSH multiplexing (`ControlPersist`), as most users run it. The machine's busy CPU-seconds over the
  first run (`/proc/stat`, all processes: controller, SSH, modules, servers) divided by the CPU count are the
  shortest that run could take here. The fleet is stopped after each size.
- **Memory.** Peak RSS (`VmHWM` of the library process, `time -f %M` of the module process) of the process that runs the module or the library call,
  including the interpreter.
"""


def plot(results, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9.5))
    load = results.get('server_load', {})
    ax = axes[0][0]
    rows = results.get('throughput', [])
    sizes = sorted(set(r['keys'] for r in rows))
    styles = {'keyring_file → component': 'tab:blue', 'component → component': 'tab:green',
              'component → encrypted': 'tab:purple'}
    for label, color in styles.items():
        pts = [r for r in rows if r['path'] == label]
        if pts:
            ax.plot([r['keys'] for r in pts], [r['library_s'] for r in pts], 'o-', color=color, label=label + ' (library)')
            ax.plot([r['keys'] for r in pts], [r['ansible_s'] for r in pts], 's--', color=color, alpha=0.6,
                    label=label + ' (Ansible)')
    srv = [(n, (load.get(n) or load.get(str(n)) or {}).get('load_s')) for n in sizes]
    srv = [(n, s) for n, s in srv if s is not None and s > 0]    # small sizes can come out at or below 0 (jitter)
    if srv:
        ax.plot([n for n, _load in srv], [s for _size, s in srv], 'k^-', lw=2, label='mysqld 9.7 own load time')
        ax.plot([n for n, _load in srv], [2 * s for _size, s in srv], 'k:', label='goal: 2× server load')
    cps = [r for r in rows if r['path'] == 'component → component']
    if cps:
        ax.plot([r['keys'] for r in cps], [r['cp_sync_s'] for r in cps], 'x-', color='gray', label='cp + sync')
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlabel('keys')
    ax.set_ylabel('seconds (median)')
    ax.set_title('Throughput: one keyring_migrate')
    ax.legend(fontsize=7)
    ax.grid(True, which='both', alpha=0.3)

    ax = axes[0][1]
    pause = sorted((int(k), v) for k, v in results.get('pause', {}).items())
    if pause:
        xs = range(len(pause))
        ax.bar([x - 0.2 for x in xs], [v['polled_s'] * 1000 for _size, v in pause], 0.4, label='polled')
        ax.bar([x + 0.2 for x in xs], [(v['server_timer_s'] or 0) * 1000 for _size, v in pause], 0.4,
               label='server statement timers')
        ax.axhline(GOAL_PAUSE_S * 1000, color='red', ls=':', label='goal 100 ms (10k keys)')
        ax.set_xticks(list(xs))
        ax.set_xticklabels(['%dk keys' % (n // 1000) if n >= 1000 else str(n) for n, _value in pause])
        ax.set_ylabel('ms with keyring_operations OFF')
        ax.legend(fontsize=8)
    ax.set_title('Pause window (online: true)')

    ax = axes[1][0]
    fleet = [r for r in results.get('fleet', []) if 'error' not in r]
    if fleet:
        hs = [r['hosts'] for r in fleet]
        ax.plot(hs, [r['first_s'] for r in fleet], 'o-', label='migrate')
        ax.plot(hs, [r['rerun_s'] for r in fleet], 's-', label='idempotent re-run')
        one = [r for r in fleet if r['hosts'] == 1]
        if one:
            ax.axhline(one[0]['first_s'] * GOAL_FLEET_RATIO, color='red', ls=':', label='goal: 1.5× one host')
        ax.set_xlabel('sandbox hosts (forks ≥ hosts)')
        ax.set_ylabel('seconds (ansible-playbook wall)')
        ax.set_xticks(hs)
        ax.legend(fontsize=8)
        ax.set_ylim(bottom=0)
    ax.set_title('Fleet scale: keyops.mysql.migrate')

    ax = axes[1][1]
    for label, color in styles.items():
        pts = [r for r in rows if r['path'] == label]
        if pts:
            ax.plot([r['keys'] for r in pts], [r['module_rss_kib'] / 1024 for r in pts], 'o-', color=color,
                    label=label + ' (module via Ansible)')
            ax.plot([r['keys'] for r in pts], [r['library_rss_kib'] / 1024 for r in pts], 's--', color=color,
                    alpha=0.6, label=label + ' (library alone)')
    ax.set_xscale('log')
    ax.set_xlabel('keys')
    ax.set_ylabel('peak RSS, MiB')
    ax.set_title('Memory')
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.suptitle('keyops.mysql benchmarks (%s mode, %s)' % (results['mode'], results['started']))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def rolling_markdown(rows):
    """The rolling restart's section: one line per run."""
    L = ['## Rolling restart of replication groups (keyops.mysql.migrate, restart_policy: always)', '',
         'Fresh fleets from `tests.sandbox up --topology kind:3[,kind:3]`; every server restarted, one at a time in '
         'its group, replicas (secondaries) first. The ideal is a group\'s members\' restarts plus their health gates '
         'one after the other (from each host\'s timeline in the run\'s report; with two groups, the longer group\'s); '
         'the rollout runs from the first pause to the last gate; the wall time is the whole playbook.', '',
         '| groups | servers | restarts | playbook wall | rollout | ideal | wall ÷ ideal | controller CPU |',
         '|---|---:|---:|---:|---:|---:|---:|---:|']
    for row in rows:
        L.append('| %d × %s | %d | %d | %s | %s | %s | %s | %s |'
                 % (row['groups'], row['kind'], row['hosts'], row['restarts'], _s(row['wall_s']), _s(row['rollout_s']),
                    _s(row['ideal_s']), _r(_ratio(row['wall_s'], row['ideal_s'])), _s(row['controller_cpu_s'])))
    L.append('')
    return L
