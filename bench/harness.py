"""The measurements of issue 7. Each function returns plain dicts; report.py turns them into docs/.

Everything runs on this machine in one go. Times are medians of repeated runs; the report's headline figures
are ratios (to the server's own load time, to cp + sync, to one host), which drift less than absolute times
on a shared machine.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / '.venv' / 'bin' / 'python'
COLLECTIONS = REPO / '.cache' / 'collections'
sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore  # noqa: E402
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key  # noqa: E402

from ._reaper import stop_masters  # noqa: E402

PASSWORD = 'bench-password'
# (label, source type, source file kind, destination type)
PATHS = [
    ('keyring_file → component', 'keyring_file', 'kf', 'component_keyring_file'),
    ('component → component', 'component_keyring_file', 'comp', 'component_keyring_file'),
    ('component → encrypted', 'component_keyring_file', 'comp', 'component_keyring_encrypted_file'),
]
MYSQL_KEYSTORE_DIR = '/var/lib/mysql-keyring'
COMPONENT_CNF = '/var/lib/mysql/component_keyring_file.cnf'


def log(msg):
    print('[%s] %s' % (time.strftime('%H:%M:%S'), msg), flush=True)


def median(values):
    return statistics.median(values) if values else None


def _num(value, digits=3):
    return '?' if value is None else '%.*f' % (digits, value)


def ensure_collection_link():
    link = COLLECTIONS / 'ansible_collections' / 'keyops' / 'mysql'
    if os.path.realpath(link) != str(REPO):
        link.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(link):
            link.unlink()
        link.symlink_to(REPO)


def run(cmd, timeout=1800, check=True, env=None, **kw):
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=env,
                         check=False, **kw)
    if check and res.returncode != 0:
        command = ' '.join(map(str, cmd))[:200]
        raise RuntimeError('%s failed (%d): %s%s' % (command, res.returncode, res.stdout[-1500:], res.stderr[-1500:]))
    return res


# ------------------------------------------------------------------------------------------------ key files

def synthetic_keys(n, prefix='bench'):
    """n AES-256 keys under a few owners, deterministic ids, random bytes (like InnoDB's 32-byte keys)."""
    owners = ['', 'app@localhost', 'reporting@localhost', 'root@localhost']
    return [Key('%s_%07d' % (prefix, i), owners[i % len(owners)], 'AES', os.urandom(32)) for i in range(n)]


def make_sources(workdir, sizes, base_keys):
    """Source keystores per size: keyring_file and component, each base_keys (a real server's own keys,
    so that a server can start on the result) followed by n synthetic keys."""
    files = {}
    for n in sizes:
        keys = list(base_keys) + synthetic_keys(n)
        for kind, ktype in (('kf', 'keyring_file'), ('comp', 'component_keyring_file')):
            path = workdir / ('src-%s-%d' % (kind, n))
            if path.exists():
                path.unlink()
            open_keystore(ktype, str(path)).write(keys)
            files[(kind, n)] = path
    return files


# ------------------------------------------------------------------------------------------------ throughput

def library_migration(src_type, src, dst_type, dst, collections=None):
    if dst.exists():
        dst.unlink()
    env = dict(os.environ, BENCH_COLLECTIONS=str(collections)) if collections else None
    out = run([PYTHON, REPO / 'bench' / '_child.py', src_type, src, dst_type, dst, PASSWORD], env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def baseline_library(rev, workdir):
    """The keystore library as of git revision `rev`, as a collections path of its own."""
    top = workdir / ('baseline-%s' % re.sub(r'[^A-Za-z0-9_.-]', '_', rev))
    pkg = top / 'ansible_collections' / 'keyops' / 'mysql' / 'plugins' / 'module_utils'
    if top.exists():
        shutil.rmtree(top)
    pkg.mkdir(parents=True)
    archive = subprocess.run(['git', '-C', str(REPO), 'archive', rev, 'plugins/module_utils/keystore'],
                             capture_output=True, check=True).stdout
    subprocess.run(['tar', '-x', '--strip-components=2', '-C', str(pkg)], input=archive, check=True)
    for d in (top / 'ansible_collections', pkg.parents[2], pkg.parents[1], pkg.parents[0], pkg):
        (d / '__init__.py').touch()
    commit = run(['git', '-C', REPO, 'rev-parse', '--short', rev]).stdout.strip()
    return top, commit


def baseline_collection(rev, workdir):
    """The whole collection as of git revision `rev`, as a collections path (for Ansible runs)."""
    top = workdir / ('baseline-collection-%s' % re.sub(r'[^A-Za-z0-9_.-]', '_', rev))
    dest = top / 'ansible_collections' / 'keyops' / 'mysql'
    if top.exists():
        shutil.rmtree(top)
    dest.mkdir(parents=True)
    archive = subprocess.run(['git', '-C', str(REPO), 'archive', rev, 'plugins', 'roles', 'playbooks', 'meta',
                              'galaxy.yml'], capture_output=True, check=True).stdout
    subprocess.run(['tar', '-x', '-C', str(dest)], input=archive, check=True)
    return top


def before_after(workdir, sources, sizes, repeats, rev):
    """Library migration time with the keystore library of `rev` (before) and of the working tree (after),
    alternating runs, on the same files; and whether both wrote the same bytes (component destinations)."""
    base, commit = baseline_library(rev, workdir)
    rows = []
    for n in sizes:
        for label, src_type, kind, dst_type in PATHS:
            src = sources[(kind, n)]
            before, after = [], []
            dst_b, dst_a = workdir / 'ba-before', workdir / 'ba-after'
            for _repeat in range(repeats):
                before.append(library_migration(src_type, src, dst_type, dst_b, collections=base))
                after.append(library_migration(src_type, src, dst_type, dst_a))
            same = None
            if dst_type == 'component_keyring_file':
                same = dst_b.read_bytes() == dst_a.read_bytes()
            row = dict(path=label, keys=n, rev=commit, before_s=median([r['seconds'] for r in before]),
                       after_s=median([r['seconds'] for r in after]),
                       before_rss_kib=max(r['maxrss_kib'] for r in before),
                       after_rss_kib=max(r['maxrss_kib'] for r in after), same_bytes=same)
            rows.append(row)
            log('before/after %-26s %7d keys: %s %.3f s -> working tree %.3f s (%.1fx); same bytes: %s'
                % (label, n, commit, row['before_s'], row['after_s'], row['before_s'] / row['after_s'], same))
            for d in (dst_b, dst_a):
                if d.exists():
                    d.unlink()
    return rows


def ansible_migration(src_type, src, dst_type, dst, rss_file):
    if dst.exists():
        dst.unlink()
    args = {'source': {'type': src_type, 'path': str(src)},
            'destination': {'type': dst_type, 'path': str(dst)}}
    if dst_type.endswith('encrypted_file'):
        args['destination']['password'] = PASSWORD
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), BENCH_RSS_FILE=str(rss_file),
               ANSIBLE_LOCALHOST_WARNING='False', ANSIBLE_INVENTORY_UNPARSED_WARNING='False',
               ANSIBLE_DEPRECATION_WARNINGS='False')
    started = time.perf_counter()
    res = run([REPO / '.venv' / 'bin' / 'ansible', 'localhost', '-c', 'local', '-o',
               '-m', 'keyops.mysql.keyring_migrate', '-a', json.dumps(args),
               '-e', 'ansible_python_interpreter=%s' % (REPO / 'bench' / 'rss_python')], env=env, check=False)
    seconds = time.perf_counter() - started
    if res.returncode != 0 or 'CHANGED' not in res.stdout[:300]:
        raise RuntimeError('ansible keyring_migrate failed: %s %s' % (res.stdout[:1500], res.stderr[-1500:]))
    return seconds


def ansible_noop_seconds(repeats):
    """Wall time of `ansible localhost -m ansible.builtin.ping` with the same interpreter: Ansible's own start-up
    and module round trip, reported beside the module runs."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_LOCALHOST_WARNING='False',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='False')
    times = []
    for _repeat in range(repeats):
        started = time.perf_counter()
        run([REPO / '.venv' / 'bin' / 'ansible', 'localhost', '-c', 'local', '-o', '-m', 'ansible.builtin.ping',
             '-e', 'ansible_python_interpreter=%s' % PYTHON], env=env)
        times.append(time.perf_counter() - started)
    return median(times)


def cp_sync_seconds(src, dst, repeats):
    times = []
    for _repeat in range(repeats):
        if dst.exists():
            dst.unlink()
        started = time.perf_counter()
        run(['sh', '-c', 'cp "$1" "$2" && sync "$2"', 'sh', src, dst])
        times.append(time.perf_counter() - started)
    dst.unlink()
    return median(times)


def library_repeats(repeats):
    """Library runs are cheap and this machine's speed drifts by tens of percent: at least 5, for the median."""
    return max(repeats, 5)


def throughput(workdir, sources, sizes, repeats, ansible_repeats):
    rows = []
    rss_file = workdir / 'rss.txt'
    for n in sizes:
        for label, src_type, kind, dst_type in PATHS:
            src = sources[(kind, n)]
            dst = workdir / ('dst-%s-%d' % (dst_type, n))
            lib = [library_migration(src_type, src, dst_type, dst) for _repeat in range(library_repeats(repeats))]
            if rss_file.exists():
                rss_file.unlink()
            ans = [ansible_migration(src_type, src, dst_type, dst, rss_file) for _repeat in range(ansible_repeats)]
            module_rss = max(int(x) for x in rss_file.read_text().split() if x.isdigit())
            row = dict(path=label, keys=n, src_type=src_type, dst_type=dst_type, src_bytes=src.stat().st_size,
                       dst_bytes=dst.stat().st_size, library_s=median([r['seconds'] for r in lib]),
                       library_runs=[round(r['seconds'], 4) for r in lib],
                       library_rss_kib=max(r['maxrss_kib'] for r in lib),
                       interpreter_rss_kib=min(r['baseline_rss_kib'] for r in lib),
                       ansible_s=median(ans), ansible_runs=[round(t, 3) for t in ans], module_rss_kib=module_rss,
                       cp_sync_s=cp_sync_seconds(dst, workdir / 'cp-copy', repeats))
            if dst_type == 'component_keyring_file' and kind == 'comp':
                keep = workdir / ('server-%d' % n)      # the bytes the server will load
                shutil.copyfile(dst, keep)
            rows.append(row)
            log('throughput %-26s %7d keys: library %s s, ansible %s s, cp+sync %s s, module RSS %d MiB'
                % (label, n, _num(row['library_s']), _num(row['ansible_s']), _num(row['cp_sync_s'], 4),
                   (module_rss or 0) // 1024))
            dst.unlink()
    return rows


class InterleavedLibraryRuns:
    """Library migrations of every path at one size, one round per round of server starts (server_load's
    `between`): this machine's speed drifts by tens of percent within minutes, so the goal's ratio is taken
    between figures measured side by side."""

    def __init__(self, workdir, sources, keys):
        self.workdir = workdir
        self.sources = sources
        self.keys = keys
        self.runs = dict((label, []) for label, _src_type, _kind, _dst_type in PATHS)

    def __call__(self):
        for label, src_type, kind, dst_type in PATHS:
            dst = self.workdir / ('interleaved-%s' % dst_type)
            self.runs[label].append(library_migration(src_type, self.sources[(kind, self.keys)], dst_type,
                                                      dst)['seconds'])
            dst.unlink()

    def results(self):
        return dict(keys=self.keys, library_s=dict((label, median(runs)) for label, runs in self.runs.items()),
                    runs=dict((label, [round(x, 4) for x in runs]) for label, runs in self.runs.items()))


# ------------------------------------------------------------------------------------------------ sandbox

class SandboxFleet:
    """A fleet of ours (never anyone else's): up in the constructor, down() always."""

    def __init__(self, hosts, state_dir, topology=None):
        self.state_dir = Path(state_dir)
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        started = time.perf_counter()
        self.up_result = run([PYTHON, '-m', 'tests.sandbox', 'up', '--hosts', hosts, '--state-dir', self.state_dir]
                             + (['--topology', topology] if topology else []), cwd=REPO, timeout=1200)
        self.up_seconds = time.perf_counter() - started
        self.state = json.loads((self.state_dir / 'fleet.json').read_text())
        self.inventory = self.state_dir / 'inventory.yml'

    def hosts(self):
        return list(self.state['hosts'].values())

    def host_exec(self, host, cmd, timeout=300, check=True):
        return run(['nsenter', '-t', host['sshd_pid'], '-n', '-u', '-m', '-r', '-w', *cmd], timeout=timeout,
                   check=check)

    def down(self):
        run([PYTHON, '-m', 'tests.sandbox', 'down', '--state-dir', self.state_dir], cwd=REPO, timeout=600,
            check=False)


def host_ids(root, user='mysql'):
    for line in (Path(root) / 'etc/passwd').read_text().splitlines():
        f = line.split(':')
        if f[0] == user:
            return int(f[2]), int(f[3])
    raise RuntimeError('no %s user in %s' % (user, root))


_TS = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z? .*?(starting as process|ready for connections)')


def last_start_seconds(error_log, offset):
    """Server-side start-up time of the last start in the error log (after byte offset): the log's own
    microsecond timestamps from 'starting as process' to 'ready for connections'."""
    with open(error_log, 'rb') as f:
        f.seek(offset)
        text = f.read().decode('utf-8', 'replace')
    start = ready = None
    for line in text.splitlines():
        m = _TS.match(line)
        if not m:
            continue
        ts = datetime.fromisoformat(m.group(1))
        if m.group(2) == 'starting as process':
            start, ready = ts, None
        elif start is not None:
            ready = ts
    if start is None or ready is None:
        raise RuntimeError('no start/ready pair in %s' % error_log)
    return (ready - start).total_seconds()


def timed_server_start(fleet, host, sock):
    """Start the host's mysqld as its service script does and return the seconds from the exec to the first
    accepted connection on its socket (polled every ms from here; host and controller share one clock)."""
    import pymysql
    if os.path.exists(sock):
        os.unlink(sock)
    started = time.perf_counter()
    fleet.host_exec(host, ['sh', '-c', 'setsid setpriv --reuid=mysql --regid=mysql --init-groups /usr/sbin/mysqld '
                                       '--defaults-file=/etc/mysql/my.cnf </dev/null >>/var/log/mysql/error.log.stdout '
                                       '2>&1 &'])
    deadline = started + 120
    while time.perf_counter() < deadline:
        if os.path.exists(sock):
            try:
                pymysql.connect(unix_socket=sock, user='root', connect_timeout=5).close()
                return time.perf_counter() - started
            except pymysql.err.OperationalError:
                pass
        time.sleep(0.001)
    raise RuntimeError('mysqld on %s did not answer within 120 s' % host['name'])


def server_load(fleet, workdir, sizes, repeats, between=None):
    """The server's own time to load each keystore: start-up with it minus start-up with the host's own
    (a dozen keys: the InnoDB master key and the seeded keys, which every measured file also holds).
    `between()` runs after each round of starts, so that what it times meets the same machine speed."""
    host = fleet.hosts()[0]
    root = Path(host['root'])
    uid, gid = host_ids(root)
    cnf = root / COMPONENT_CNF.lstrip('/')
    original_cnf = cnf.read_text()
    error_log = root / 'var/log/mysql/error.log'
    sock = str(root / 'run/mysqld/mysqld.sock')
    files = {0: MYSQL_KEYSTORE_DIR + '/component_keyring_file'}
    for n in sizes:
        target = root / MYSQL_KEYSTORE_DIR.lstrip('/') / ('bench-%d' % n)
        shutil.copyfile(workdir / ('server-%d' % n), target)
        os.chown(target, uid, gid)
        os.chmod(target, 0o640)
        files[n] = MYSQL_KEYSTORE_DIR + '/bench-%d' % n
    samples = {n: [] for n in files}
    logged = {n: [] for n in files}
    counts = {}
    try:
        for rep in range(repeats):
            for n, path in files.items():        # interleaved, so drift hits every size alike
                cnf.write_text(json.dumps({'path': path, 'read_only': False}) + '\n')
                fleet.host_exec(host, ['/usr/local/sbin/mysql-service', 'stop'])
                offset = error_log.stat().st_size
                samples[n].append(timed_server_start(fleet, host, sock))
                logged[n].append(last_start_seconds(error_log, offset))
                if rep == 0:
                    out = fleet.host_exec(host, ['mysql', '-uroot', '--batch', '--skip-column-names', '-e',
                                                 'SELECT COUNT(*) FROM performance_schema.keyring_keys']).stdout
                    counts[n] = int(out.strip())
            if between is not None:
                # with the server stopped: a just-started mysqld keeps a CPU busy for a while
                fleet.host_exec(host, ['/usr/local/sbin/mysql-service', 'stop'])
                between()
    finally:
        cnf.write_text(original_cnf)
        fleet.host_exec(host, ['/usr/local/sbin/mysql-service', 'restart'], check=False)
    base = median(samples[0])
    rows = {}
    for n in sizes:
        rows[n] = dict(keys=n, startup_s=median(samples[n]), empty_startup_s=base,
                       load_s=median(samples[n]) - base, runs=[round(x, 4) for x in samples[n]],
                       empty_runs=[round(x, 4) for x in samples[0]], keys_seen_by_server=counts[n],
                       log_window_s=median(logged[n]), empty_log_window_s=median(logged[0]))
        values = (n, rows[n]['startup_s'], base, counts[0], rows[n]['load_s'], counts[n], rows[n]['log_window_s'],
                  rows[n]['empty_log_window_s'])
        log('server load %7d keys: start-up %.3f s - %.3f s (host keystore, %d keys) = %.3f s; server sees %d keys; '
            'error-log window %.3f s vs %.3f s' % values)
    rows['base_keys'] = counts[0]
    return rows


class KeyringPoller(threading.Thread):
    """Polls SELECT @@GLOBAL.keyring_operations as fast as the server answers, from its own connection, and
    records every change with the local monotonic clock."""

    def __init__(self, socket_path):
        super().__init__(daemon=True)
        import pymysql
        self.conn = pymysql.connect(unix_socket=socket_path, user='root', autocommit=True)
        with self.conn.cursor() as cur:
            # Keep this connection's thousands of SELECTs out of the statement history read afterwards.
            cur.execute("UPDATE performance_schema.threads SET INSTRUMENTED = 'NO' "
                        "WHERE PROCESSLIST_ID = CONNECTION_ID()")
        self.stop = threading.Event()
        self.changes = []
        self.polls = 0

    def run(self):
        last = None
        with self.conn.cursor() as cur:
            while not self.stop.is_set():
                cur.execute('SELECT @@GLOBAL.keyring_operations')
                value = cur.fetchone()[0]
                now = time.perf_counter()
                self.polls += 1
                if value != last:
                    self.changes.append((now, value))
                    last = value
        self.conn.close()

    def off_windows(self):
        return off_windows((t, v == 0) for t, v in self.changes)


def off_windows(changes):
    """Each OFF -> ON interval (seconds) of (time, is_off) changes, in order."""
    windows, off_at = [], None
    for t, is_off in changes:
        if is_off:
            off_at = t
        elif off_at is not None:
            windows.append(t - off_at)
            off_at = None
    return windows


def pause_window(fleet, workdir, sizes, repeats, collections=None, switch=False):
    """keyring_migrate online: true through Ansible on a sandbox host; how long keyring_operations is OFF,
    seen from the server: (a) a poller on a second connection, (b) the server's own statement timers.

    switch: also move the server to the destination without a restart (switch_config). Before each run the server is
    put on the source with n keys (its configuration rewritten, RELOAD KEYRING), so that it holds the keys as a
    production server would; afterwards its own configuration is put back."""
    import pymysql
    host = fleet.hosts()[0]
    root = Path(host['root'])
    cnf = root / COMPONENT_CNF.lstrip('/')
    original_cnf = cnf.read_text()
    uid, gid = host_ids(root)
    sock = str(root / 'run/mysqld/mysqld.sock')
    admin = pymysql.connect(unix_socket=sock, user='root', autocommit=True)
    with admin.cursor() as cur:
        cur.execute("UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' "
                    "WHERE NAME = 'events_statements_history_long'")
        cur.execute("UPDATE performance_schema.threads SET INSTRUMENTED = 'NO' WHERE PROCESSLIST_ID = CONNECTION_ID()")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections or COLLECTIONS), ANSIBLE_HOST_KEY_CHECKING='False')
    rows = {}
    try:
        for n in sizes:
            src = root / MYSQL_KEYSTORE_DIR.lstrip('/') / ('pause-src-%d' % n)
            shutil.copyfile(workdir / ('server-%d' % n), src)
            os.chown(src, uid, gid)
            dst_rel = MYSQL_KEYSTORE_DIR + '/pause-dst-%d' % n
            polled, timed, walls = [], [], []
            for _repeat in range(repeats):
                dst = root / dst_rel.lstrip('/')
                if dst.exists():
                    dst.unlink()
                if switch:
                    put_server_on(admin, cnf, '/' + str(src.relative_to(root)))
                with admin.cursor() as cur:
                    cur.execute('TRUNCATE TABLE performance_schema.events_statements_history_long')
                poller = KeyringPoller(sock)
                poller.start()
                time.sleep(0.2)
                args = {'source': {'type': 'component_keyring_file', 'path': '/' + str(src.relative_to(root))},
                        'destination': {'type': 'component_keyring_file', 'path': dst_rel},
                        'online': True, 'login_unix_socket': '/run/mysqld/mysqld.sock', 'login_user': 'root'}
                if switch:
                    args['switch_config'] = COMPONENT_CNF
                started = time.perf_counter()
                res = run([REPO / '.venv' / 'bin' / 'ansible', host['name'], '-i', fleet.inventory, '-o',
                           '-m', 'keyops.mysql.keyring_migrate', '-a', json.dumps(args)], env=env, check=False)
                walls.append(time.perf_counter() - started)
                time.sleep(0.2)
                poller.stop.set()
                poller.join()
                if res.returncode != 0:
                    raise RuntimeError('online keyring_migrate failed: %s %s' % (res.stdout[:1500], res.stderr[-800:]))
                windows = poller.off_windows()
                if len(windows) != 1:
                    raise RuntimeError('expected one OFF window, saw %r' % (poller.changes,))
                polled.append(windows[0])
                with admin.cursor() as cur:
                    cur.execute("SELECT SQL_TEXT, TIMER_START, TIMER_END FROM "
                                "performance_schema.events_statements_history_long "
                                "WHERE SQL_TEXT LIKE 'SET GLOBAL keyring_operations%' ORDER BY TIMER_START")
                    stmts = cur.fetchall()
                off = [s for s in stmts if 'OFF' in s[0].upper() or s[0].rstrip().endswith('0')]
                on = [s for s in stmts if s not in off]
                if off and on:
                    # From the end of SET ... OFF to the end of SET ... ON (picoseconds): the OFF interval.
                    timed.append((on[-1][2] - off[0][2]) / 1e12)
                poll_interval = (poller.changes[-1][0] - poller.changes[0][0]) / max(poller.polls, 1)
            rows[n] = dict(keys=n, polled_s=median(polled), server_timer_s=median(timed),
                           polled_runs=[round(x, 4) for x in polled], server_timer_runs=[round(x, 4) for x in timed],
                           ansible_wall_s=median(walls), poll_interval_s=poll_interval)
            log('pause window %6d keys%s: polled %.1f ms, server statement timers %s ms (poll every ~%.2f ms)'
                % (n, ' (baseline collection)' if collections else ' (zero-restart switch)' if switch else '',
                   rows[n]['polled_s'] * 1000,
                   '%.1f' % (rows[n]['server_timer_s'] * 1000) if timed else 'n/a', poll_interval * 1000))
    finally:
        if switch:
            cnf.write_text(original_cnf)
            with admin.cursor() as cur:
                cur.execute('ALTER INSTANCE RELOAD KEYRING')
        admin.close()
    return rows


def put_server_on(admin, cnf, keystore_path):
    """Point the running server's component at keystore_path (its configuration, then RELOAD KEYRING)."""
    stat = cnf.stat()
    cnf.write_text(json.dumps({'path': keystore_path, 'read_only': False}) + '\n')
    os.chown(cnf, stat.st_uid, stat.st_gid)
    with admin.cursor() as cur:
        cur.execute('ALTER INSTANCE RELOAD KEYRING')


# ------------------------------------------------------------------------------------------------ fleet scale

# Ansible's default SSH multiplexing, which a user's controller has (the sandbox inventory turns it off so that no
# mux process outlives a test): one SSH connection per host for the whole run instead of one per task. Both the
# inventory's ssh_args and its common args (which also say ControlMaster=no) are replaced.
SSH_REUSE_CONTROL_PATH = '/tmp/kb-%C'
SSH_REUSE_CONTROL_GLOB = SSH_REUSE_CONTROL_PATH.replace('%C', '*')
SSH_REUSE_ARGS = ['-e', 'ansible_ssh_args="-o ControlMaster=auto -o ControlPersist=60s -o ControlPath=%s"'
                  % SSH_REUSE_CONTROL_PATH,
                  '-e', 'ansible_ssh_common_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null '
                  '-o LogLevel=ERROR -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=10"']


def machine_busy_seconds():
    """CPU-seconds the whole machine has spent busy (all CPUs, /proc/stat), for a run's CPU floor."""
    with open('/proc/stat') as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)     # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf('SC_CLK_TCK')


def timed_ansible_env(timer_file):
    """Environment for ansible / ansible-playbook on a sandbox fleet with the bench_timer callback writing to
    timer_file (ad-hoc runs load callbacks only with ANSIBLE_LOAD_CALLBACK_PLUGINS)."""
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_HOST_KEY_CHECKING='False',
                ANSIBLE_CALLBACK_PLUGINS=str(REPO / 'bench' / 'callback_plugins'), ANSIBLE_LOAD_CALLBACK_PLUGINS='True',
                ANSIBLE_CALLBACKS_ENABLED='bench_timer', BENCH_TIMER_FILE=str(timer_file))


def playbook_run(fleet, forks, workdir, tag, extra_args=(), ssh_reuse=True):
    """keyops.mysql.migrate on the fleet; by default with Ansible's default SSH connection reuse, as a user's
    controller runs it, its mux masters' CPU counted in the run's controller CPU."""
    timer_file = workdir / ('playbook-%s.json' % tag)
    env = timed_ansible_env(timer_file)
    if timer_file.exists():
        timer_file.unlink()
    stop_masters(SSH_REUSE_CONTROL_GLOB)      # an earlier run's: each run pays for its own connections
    cpu_file = workdir / ('controller-cpu-%s.json' % tag)
    busy_before = machine_busy_seconds()
    started = time.perf_counter()
    report_dir = workdir / ('report-%s' % tag)
    # bench/_reaper.py runs ansible-playbook as the subreaper of its SSH mux masters, and counts their CPU with it.
    res = run([sys.executable, '-m', 'bench._reaper', cpu_file, SSH_REUSE_CONTROL_GLOB,
               REPO / '.venv' / 'bin' / 'ansible-playbook', '-i', fleet.inventory, 'keyops.mysql.migrate',
               '-e', '@' + str(REPO / 'tests/sandbox/demo/migration_vars.yml'), '-f', forks,
               '-e', 'keyring_migration_report_dir=%s' % report_dir]
              + (SSH_REUSE_ARGS if ssh_reuse else []) + list(extra_args),
              env=env, check=False,
              cwd=REPO, timeout=3600)
    wall = time.perf_counter() - started
    cpu = machine_busy_seconds() - busy_before
    controller_cpu = json.loads(cpu_file.read_text())['cpu_s'] if cpu_file.exists() else None
    (workdir / ('playbook-%s.log' % tag)).write_text(res.stdout + res.stderr)
    if res.returncode != 0 or not timer_file.exists():
        raise RuntimeError('playbook failed (rc %d): %s %s' % (res.returncode, res.stdout[-2500:], res.stderr[-1500:]))
    doc = json.loads(timer_file.read_text())
    stats = doc['stats']
    if any(s.get('failures') or s.get('unreachable') for s in stats.values()):
        raise RuntimeError('playbook failed: %s' % json.dumps(stats))
    changed = sum(s.get('changed', 0) for s in stats.values())
    # Servers the role restarted, as its report says (the restarting procedure's stop and start).
    report = json.loads((report_dir / 'keyring-migration-report.json').read_text())
    restarts = sum(1 for line in report['hosts'].values() if line.get('restarted'))
    return dict(wall_s=wall, cpu_s=cpu, controller_cpu_s=controller_cpu, changed=changed, restarts=restarts,
                module=module_seconds_per_host(doc))


def module_seconds_per_host(doc):
    """Per host: the sum, over the tasks it ran (skipped ones excluded), of the time from its worker's start to
    its result (bench/callback_plugins/bench_timer.py): the module's time on that host including its SSH round
    trips and AnsiballZ start-up, not the waiting for other hosts."""
    spans, keyops, tasks, keyops_tasks = {}, {}, {}, {}
    for r in doc['records']:
        if r['status'] == 'skipped' or r['start'] is None:
            continue
        spans[r['host']] = spans.get(r['host'], 0.0) + (r['end'] - r['start'])
        tasks[r['host']] = tasks.get(r['host'], 0) + 1
        if r['action'].startswith('keyops.mysql.'):
            keyops[r['host']] = keyops.get(r['host'], 0.0) + (r['end'] - r['start'])
            keyops_tasks[r['host']] = keyops_tasks.get(r['host'], 0) + 1
    values = list(spans.values()) or [0.0]
    kvalues = list(keyops.values()) or [0.0]
    return dict(mean=statistics.mean(values), max=max(values), hosts=len(values),
                keyops_mean=statistics.mean(kvalues), keyops_max=max(kvalues),
                tasks=max(tasks.values()) if tasks else 0,
                keyops_tasks=max(keyops_tasks.values()) if keyops_tasks else 0)


def ping_seconds(fleet, forks, workdir):
    """Per host: one ansible.builtin.ping over the same SSH settings: the per-task floor of a remote module."""
    timer_file = workdir / 'ping.json'
    env = timed_ansible_env(timer_file)
    run([REPO / '.venv' / 'bin' / 'ansible', 'mysql', '-i', fleet.inventory, '-f', forks, '-o', '-m',
         'ansible.builtin.ping'], env=env)
    doc = json.loads(timer_file.read_text())
    return median([r['end'] - r['start'] for r in doc['records'] if r['start'] is not None])


def fleet_scale(workdir, host_counts, repeats_rerun=1, attempts=2):
    """Per fleet size, a fresh fleet; a failed attempt (e.g. a host lost under load) is retried once on a new
    fleet, and a size that fails every attempt is reported with its error instead of figures."""
    rows = []
    for count in host_counts:
        errors = []
        for attempt in range(attempts):
            try:
                rows.append(_fleet_once(workdir, count, repeats_rerun, attempt))
                break
            except Exception as exc:  # recorded in the report; the other sizes still run
                errors.append('%s: %s' % (type(exc).__name__, str(exc)[:600]))
                log('fleet %d host(s), attempt %d failed: %s' % (count, attempt + 1, errors[-1][:300]))
        else:
            rows.append(dict(hosts=count, error=errors))
        if errors and 'error' not in rows[-1]:
            rows[-1]['earlier_attempts_failed'] = errors
    return rows


def _fleet_once(workdir, count, repeats_rerun, attempt):
    fleet = None
    try:
        log('fleet scale: starting %d sandbox host(s)' % count)
        fleet = SandboxFleet(count, workdir / ('fleet-%d-%d' % (count, attempt)))
        forks = max(count + 5, 5)
        first = playbook_run(fleet, forks, workdir, '%d-first' % count)
        reruns = [playbook_run(fleet, forks, workdir, '%d-rerun%d' % (count, i)) for i in range(repeats_rerun)]
        rerun_wall = median([r['wall_s'] for r in reruns])
        module_s = reruns[0]['module']
        # The same re-run without SSH connection reuse (a new connection per task, as the sandbox inventory has it).
        fresh = playbook_run(fleet, forks, workdir, '%d-rerun-no-ssh-reuse' % count, ssh_reuse=False)
        ping = ping_seconds(fleet, forks, workdir)
        row = dict(hosts=count, forks=forks, up_s=fleet.up_seconds, first_s=first['wall_s'], first_cpu_s=first['cpu_s'],
                   cpus=os.cpu_count(), first_restarts=first['restarts'],
                   first_controller_cpu_s_per_host=first['controller_cpu_s'] / count,
                   rerun_controller_cpu_s_per_host=median([r['controller_cpu_s'] for r in reruns]) / count,
                   cpu_floor_s=first['cpu_s'] / os.cpu_count(),
                   first_changed=first['changed'], rerun_s=rerun_wall, rerun_changed=reruns[0]['changed'],
                   first_module_s_per_host=first['module'], rerun_restarts=reruns[0]['restarts'],
                   ping_s=ping, rerun_s_per_host=rerun_wall / count, rerun_module_s_per_host=module_s,
                   rerun_no_ssh_reuse_s=fresh['wall_s'], rerun_no_ssh_reuse_changed=fresh['changed'],
                   rerun_no_ssh_reuse_module_s_per_host=fresh['module'],
                   rerun_no_ssh_reuse_controller_cpu_s_per_host=fresh['controller_cpu_s'] / count)
        log('fleet %2d host(s): controller CPU per host: migrate %.2f s, re-run %.2f s; migrate wall %.1f s vs CPU '
            'floor %.1f s; restarts %d' % (count, row['first_controller_cpu_s_per_host'],
                                           row['rerun_controller_cpu_s_per_host'], row['first_s'], row['cpu_floor_s'],
                                           row['first_restarts']))
        log('fleet %2d host(s): migrate %.1f s (%d changed), re-run %.1f s (%d changed), re-run time per host: '
            'all tasks %.2f s, keyops modules %.2f s (%d tasks; one ping %.2f s); a new SSH connection per task: keyops '
            'modules %.2f s, controller CPU %.2f s per host'
            % (count, row['first_s'], row['first_changed'], row['rerun_s'], row['rerun_changed'],
               module_s['mean'], module_s['keyops_mean'], module_s['tasks'], ping, fresh['module']['keyops_mean'],
               row['rerun_no_ssh_reuse_controller_cpu_s_per_host']))
        return row
    finally:
        if fleet is not None:
            fleet.down()


# ------------------------------------------------------------------------------------------------ role pause

def general_log_windows(sock):
    """Each OFF -> ON interval (seconds) of SET GLOBAL keyring_operations in the server's general log table."""
    import pymysql
    conn = pymysql.connect(unix_socket=sock, user='root', autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT UNIX_TIMESTAMP(event_time), CONVERT(argument USING utf8mb4) FROM mysql.general_log "
                        "WHERE command_type = 'Query' AND CONVERT(argument USING utf8mb4) "
                        "LIKE 'SET GLOBAL keyring_operations%' ORDER BY event_time")
            rows = cur.fetchall()
            cur.execute('SET GLOBAL general_log = OFF')
    finally:
        conn.close()
    return off_windows((float(at), re.search(r'(OFF|0)\s*$', text, re.I) is not None) for at, text in rows)


def role_pause(workdir, sizes, hosts=2, restart=False):
    """keyops.mysql.migrate on a fresh fleet whose servers each hold n more keys in their source keystore: every
    server's keyring OFF -> ON window, from its own general log. The role's path without restarts, or (restart) the
    restarting procedure (restart_policy: always), whose restart is its pause: one OFF window, the copy while the
    server runs, then a stop and a start (the general log table keeps the rows across the restart)."""
    import pymysql
    rows = {}
    extra = ['-e', 'keyring_migration_restart_policy=always'] if restart else []
    for n in sizes:
        fleet = SandboxFleet(hosts, workdir / ('role-pause-%s%d' % ('restart-' if restart else '', n)))
        try:
            for host in fleet.hosts():
                root = Path(host['root'])
                source = root / 'var/lib/mysql-keyring/component_keyring_file'
                keys = list(open_keystore('component_keyring_file', str(source)).load()) + synthetic_keys(n)
                source.unlink()
                open_keystore('component_keyring_file', str(source)).write(keys)
                os.chown(source, *host_ids(root))
                admin = pymysql.connect(unix_socket=str(root / 'run/mysqld/mysqld.sock'), user='root', autocommit=True)
                with admin.cursor() as cur:
                    cur.execute('ALTER INSTANCE RELOAD KEYRING')       # the server holds the n keys, as in production
                    for sql in ("SET GLOBAL log_output = 'TABLE'", 'TRUNCATE mysql.general_log',
                                'SET GLOBAL general_log = ON'):
                        cur.execute(sql)
                admin.close()
            res = playbook_run(fleet, hosts + 5, workdir, 'role-pause-%s%d' % ('restart-' if restart else '', n),
                               extra_args=extra)
            windows = dict((host['name'], general_log_windows(str(Path(host['root']) / 'run/mysqld/mysqld.sock')))
                           for host in fleet.hosts())
            if any(len(w) != 1 for w in windows.values()):
                raise RuntimeError('expected one OFF window per server, saw %r' % windows)
            worst = max(w[0] for w in windows.values())
            rows[n] = dict(keys=n, hosts=hosts, max_pause_s=worst, pauses_s=dict((h, round(w[0], 4))
                                                                                 for h, w in windows.items()),
                           restarts=res['restarts'], wall_s=res['wall_s'],
                           controller_cpu_s_per_host=res['controller_cpu_s'] / hosts)
            log('role path%s %6d keys, %d hosts: worst OFF -> ON %.1f ms (general log), %d restarts, controller CPU '
                '%.2f s per host' % (' (restarting)' if restart else '', n, hosts, worst * 1000, res['restarts'],
                                     rows[n]['controller_cpu_s_per_host']))
        finally:
            fleet.down()
    return rows
