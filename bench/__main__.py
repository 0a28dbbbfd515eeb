"""bench/run (python -m bench): the keyops.mysql benchmark harness of issue 7. Not part of any test pass/fail.

    bench/run                 # full: 1k, 10k, 100k keys; pause window at 1k, 10k; fleets of 1, 5, 20 hosts
    bench/run --quick         # 1k, 10k keys; fleets of 1 and 5 hosts
    bench/run --sizes 1000,50000 --hosts 1,3 --repeats 5 --out-dir /tmp/bench-docs

Needs root (sandbox fleets), the venv with matplotlib. Writes docs/benchmarks.md, docs/benchmarks.png and
docs/benchmarks.json (raw figures), prints ratios to stdout. Stops every fleet it started.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import harness, report, rolling


def parse_list(text):
    return [int(x) for x in text.split(',') if x.strip()]


def main(argv=None):
    p = argparse.ArgumentParser(prog='bench/run', description=__doc__.split('\n\n', maxsplit=1)[0])
    p.add_argument('--quick', action='store_true', help='1k and 10k keys, fleets of 1 and 5 hosts')
    p.add_argument('--sizes', type=parse_list, help='key counts for throughput and server load (default 1000,10000,100000)')
    p.add_argument('--pause-sizes', type=parse_list, help='key counts for the pause window (default 1000,10000)')
    p.add_argument('--hosts', type=parse_list, help='fleet sizes (default 1,5,20)')
    p.add_argument('--repeats', type=int, default=3, help='repeats of each library / server measurement (default 3)')
    p.add_argument('--server-repeats', type=int, default=5, help='repeats of each server start-up (default 5)')
    p.add_argument('--ansible-repeats', type=int, default=3, help='repeats of each Ansible module run (default 3)')
    p.add_argument('--skip', default='',
                   help='comma list of parts to skip: throughput,server,pause,rolepause,fleet,rolling')
    p.add_argument('--baseline-rev', help='also time the keystore library of this git revision (before/after)')
    p.add_argument('--out-dir', type=Path, default=harness.REPO / 'docs', help='where benchmarks.md/.png go')
    p.add_argument('--work-dir', type=Path, help='scratch directory (default: a new one under /tmp)')
    p.add_argument('--merge-into', type=Path, metavar='JSON',
                   help='put the parts this run measured into the benchmarks.json of an earlier full run, and write '
                        'benchmarks.md beside it (for a run with --skip)')
    p.add_argument('--report-only', type=Path, metavar='JSON',
                   help='only rewrite benchmarks.md/.png from a benchmarks.json of an earlier run')
    args = p.parse_args(argv)
    if args.report_only:
        results = json.loads(args.report_only.read_text())
        args.out_dir.mkdir(parents=True, exist_ok=True)
        report.write(results, args.out_dir)
        print(report.ratios_text(results))
        return 0
    sizes = args.sizes or ([1000, 10000] if args.quick else [1000, 10000, 100000])
    pause_sizes = args.pause_sizes or [n for n in (1000, 10000) if n in sizes] or sizes[:1]
    hosts = args.hosts or ([1, 5] if args.quick else [1, 5, 20])
    skip = set(filter(None, args.skip.split(',')))
    if os.geteuid() != 0 and 'server' not in skip:
        p.error('needs root (sandbox fleets); or --skip server,pause,fleet')
    harness.ensure_collection_link()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix='keyops-bench-'))
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results = dict(mode='quick' if args.quick else 'full', sizes=sizes, pause_sizes=pause_sizes, hosts=hosts,
                   repeats=args.repeats, library_repeats=harness.library_repeats(args.repeats),
                   ansible_repeats=args.ansible_repeats, server_repeats=args.server_repeats,
                   baseline_rev=args.baseline_rev, machine=report.machine_info(),
                   started=time.strftime('%Y-%m-%d %H:%M:%S %Z'))
    harness.log('bench: %s mode, keys %s, pause %s, hosts %s, scratch %s; %s'
                % (results['mode'], sizes, pause_sizes, hosts, work, results['machine']['load']))
    fleet = None
    try:
        base_keys = []
        if not ({'server', 'pause'} <= skip):
            fleet = harness.SandboxFleet(1, work / 'server-fleet')
            host = fleet.hosts()[0]
            ks = harness.open_keystore('component_keyring_file',
                                       str(Path(host['root']) / 'var/lib/mysql-keyring/component_keyring_file'))
            base_keys = list(ks.load())
            harness.log('server host up (%.1f s); its keystore has %d keys, put first in every measured file'
                        % (fleet.up_seconds, len(base_keys)))
        harness.log('writing source keystores')
        sources = harness.make_sources(work, sorted(set(sizes) | set(pause_sizes)), base_keys)
        if args.baseline_rev:
            results['before_after'] = harness.before_after(work, sources, sizes, args.repeats, args.baseline_rev)
        if 'throughput' not in skip:
            results['ansible_noop_s'] = harness.ansible_noop_seconds(args.ansible_repeats)
            results['throughput'] = harness.throughput(work, sources, sizes, args.repeats, args.ansible_repeats)
        else:
            for n in set(sizes) | set(pause_sizes):
                shutil.copyfile(sources[('comp', n)], work / ('server-%d' % n))
        for n in pause_sizes:
            if not (work / ('server-%d' % n)).exists():
                shutil.copyfile(sources[('comp', n)], work / ('server-%d' % n))
        if 'server' not in skip:
            interleaved = harness.InterleavedLibraryRuns(work, sources, max(sizes))
            results['server_load'] = harness.server_load(fleet, work, sizes, args.server_repeats, between=interleaved)
            results['interleaved'] = interleaved.results()
        if 'pause' not in skip:
            results['pause'] = harness.pause_window(fleet, work, pause_sizes, args.repeats)
            results['switch_pause'] = harness.pause_window(fleet, work, pause_sizes, args.repeats, switch=True)
        if 'rolepause' not in skip:
            results['role_pause'] = harness.role_pause(work, pause_sizes)
            results['role_pause_restart'] = harness.role_pause(work, pause_sizes, restart=True)
            if args.baseline_rev:
                results['pause_before'] = harness.pause_window(
                    fleet, work, pause_sizes, args.repeats,
                    collections=harness.baseline_collection(args.baseline_rev, work))
    finally:
        if fleet is not None:
            fleet.down()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (work / 'benchmarks-partial.json').write_text(json.dumps(results, indent=1, default=str) + '\n')
    if 'fleet' not in skip:
        results['fleet'] = harness.fleet_scale(work, hosts)
    if 'rolling' not in skip:
        results['rolling'] = rolling.rolling(work)
    results['seconds'] = time.time() - started
    results['machine']['load_end'] = report.machine_info()['load']
    if args.merge_into:
        # This run's own figures stay in the scratch directory: written to out_dir they would replace the very file
        # they are merged into (docs/ is both), and the earlier run's parts would be lost.
        (work / 'benchmarks.json').write_text(json.dumps(results, indent=1, default=str) + '\n')
        results = merge(json.loads(args.merge_into.read_text()), results, argv if argv is not None else sys.argv[1:])
        args.merge_into.write_text(json.dumps(results, indent=1, default=str) + '\n')
        args.out_dir = args.merge_into.parent
    else:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / 'benchmarks.json').write_text(json.dumps(results, indent=1, default=str) + '\n')
    report.write(results, args.out_dir)
    print(report.ratios_text(results))
    harness.log('bench: done in %.0f s; wrote %s/benchmarks.md, .png, .json' % (results['seconds'], args.out_dir))
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


MEASURED_PARTS = ('throughput', 'ansible_noop_s', 'server_load', 'interleaved', 'pause', 'switch_pause', 'pause_before',
                  'before_after', 'role_pause', 'role_pause_restart', 'fleet', 'rolling')


def merge(earlier, later, argv):
    """The earlier full run's results with the parts the later run measured put in, and a record of it."""
    parts = [name for name in MEASURED_PARTS if name in later]
    merged = dict(earlier, **dict((name, later[name]) for name in parts))
    shown = []
    for arg in argv:
        if shown and shown[-1] == '--merge-into':
            shown[-1:] = []          # the option and its file are not part of what was measured
        elif not arg.startswith('--merge-into'):
            shown.append(arg)
        else:
            shown.append('--merge-into')
    merged['remeasured'] = list(earlier.get('remeasured', [])) + [
        dict(started=later['started'], args=' '.join(a for a in shown if a != '--merge-into'), parts=parts,
             machine_load=later['machine'].get('load'))]
    return merged


if __name__ == '__main__':
    sys.exit(main())
