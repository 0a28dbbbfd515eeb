# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile keystore directories (issue 14): whatever the server's OS user plants in a keystore directory, nothing
the collection does as root reaches a file or directory that user must not touch.

What is proven, for every name the collection reads or writes in a keystore directory - the keystore (a
migration's source and destination), its .backup, a stale temp name, the copy keyring_migrate's `backup: true`
makes, the name a .backup is set aside to, the keystore's directory and a directory above it - and for each of a
symbolic link to a root-only file, one to a root-only directory, a hard link to the root-only file, a fifo and a
character device (/dev/null's numbers), planted there by nobody in a directory nobody owns (0750):

- keyring_files_owner (listed keystore and directory; and recurse), keyring_migrate (offline, keyring_file ->
  component_keyring_file from a real vector), keyring_info (keystore files only), and the library's load(),
  write() and plan.migrate() (component_keyring_file -> keyring_file) each end cleanly, within 10 s: success, or
  a KeystoreError whose message names the planted path; recursion skips links, fifos and devices with a warning;
- the victims keep their owner, group, mode, inode and content, the victim directories their entries, and
  inotify sees no open, read or write of any victim (not even through a planted hard link, which every reader
  refuses before opening it) and no open of a planted fifo or device;
- no output (module result, stdout, stderr, exception text) holds a victim's bytes or its key's bytes;
- a stale temp name is removed as a name by every writer.

And a race: a child process swaps the keystore and its .backup between regular files and nobody's links to the
victim (tens of swaps per run) while keyring_files_owner and write() run 1000 times: each run succeeds or fails
cleanly, and the victim is never even opened.

The keyring_migrate-backup_copy-* cases plant at <destination>.<pid>.<local time>~ for the coming seconds: the
name of the copy `backup: true` keeps, known ahead (AnsibleModule.backup_local, which keyring_migrate used before
atomic.keep_copy, wrote through every one of them).

Root only (owners are changed); skipped, with the reason, otherwise.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import model, open_keystore
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import migrate
from ansible_collections.keyops.mysql.plugins.modules import keyring_files_owner, keyring_info, keyring_migrate

from ..unit.keystore.strategies import random_bytes
from .hostile_ground import (
    KINDS,
    NOBODY,
    STALE_TEMP,
    Ground,
    backup_local_names,
    run_call,
    run_module,
    set_aside_names,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='planting device nodes and links owned by another user, '
                                                          'and changing owners, need root')

LEGIT = [Key('legit-%d' % i, 'root@localhost', 'AES', random_bytes(900 + i, 32)) for i in range(2)]
NEW = Key('new-key', 'root@localhost', 'AES', random_bytes(950, 32))
DEST_OLD = [Key('dest-existing', 'root@localhost', 'AES', random_bytes(960, 32))]
VECTOR = os.path.join('keyring_file', 'plugin_keyring_file_data.v2')      # 3 keys, keyring_file 2.0
OWNER = dict(owner=str(NOBODY), group=str(NOBODY))
KEYSTORE_ERRORS = set(name for name, value in vars(model).items()
                      if isinstance(value, type) and issubclass(value, model.KeystoreError))


def _base(parent):
    base = tempfile.mkdtemp(prefix='keyops-hostile-', dir=parent)
    os.chmod(base, 0o711)
    return base


@pytest.fixture
def ground_base():
    """A fresh root-owned directory (0711) under /tmp, which the server's user can pass through: pytest's own
    tmp_path lies under /tmp/pytest-of-root (0700), where keyring_migrate rightly refuses to write a keystore its
    owner could not reach."""
    base = _base('/tmp')
    yield base
    shutil.rmtree(base)


@pytest.fixture
def race_base():
    """As ground_base, on tmpfs where there is one: on a disk file system the runs' fsyncs hold every rename in
    the directory up (about a thousand swaps a second); on tmpfs the swapper makes tens of thousands."""
    base = _base('/dev/shm' if os.path.isdir('/dev/shm') else '/tmp')
    yield base
    shutil.rmtree(base)


# ---- what each operation is, where its names are, how it runs ---------------------------------------------

SINGLE = ('keystore', 'backup', 'temp', 'dir', 'parent')
PAIR = ('source', 'source_backup', 'destination', 'destination_backup', 'temp', 'dir', 'parent')
Operation = collections.namedtuple('Operation', 'keystore_type source_type positions writes')
OPERATIONS = collections.OrderedDict([
    ('files_owner', Operation('component_keyring_file', None, SINGLE, False)),
    ('files_owner_recurse', Operation('component_keyring_file', None, SINGLE, False)),
    ('keyring_info', Operation('keyring_file', None, SINGLE, False)),
    ('load', Operation('component_keyring_file', None, SINGLE, False)),
    ('write', Operation('keyring_file', None, SINGLE, True)),
    ('keyring_migrate', Operation('component_keyring_file', 'keyring_file', PAIR + ('backup_copy', 'set_aside'), True)),
    ('migrate', Operation('keyring_file', 'component_keyring_file', PAIR, True)),
])
CASES = [(name, position, kind) for name, op in OPERATIONS.items() for position in op.positions for kind in KINDS]

REFUSED, OK, EITHER, SKIPPED = 'refused', 'succeeds', 'succeeds or is refused', 'skipped with a warning'


def expectation(operation, position, kind):
    """What the operation must do with `kind` planted at `position`."""
    if position in ('dir', 'parent'):
        return REFUSED                  # a link (of nobody's), a file, a fifo or a device is not a directory
    if position == 'set_aside':
        return OK                       # rename(2) over whatever is planted there replaces it, never follows it
    if position == 'backup_copy':
        return EITHER                   # a copy beside the planted names, or a refusal naming one
    if operation == 'files_owner_recurse':
        return REFUSED if kind == 'hardlink' else SKIPPED
    if position == 'temp':
        return OK                       # writers remove it as a name; the others never look at it
    return REFUSED                      # hard links included: reads refuse them too, before opening them


def make_keystores(operation, ground, vectors_dir):
    """The legitimate keystores, owned by the server's user; {role: path}."""
    if operation in ('keyring_migrate', 'migrate'):
        src = os.path.join(ground.source_dir, 'source')
        dst = os.path.join(ground.dir, 'destination')
        if operation == 'keyring_migrate':
            shutil.copyfile(os.path.join(vectors_dir, VECTOR), src)
            os.chown(src, NOBODY, NOBODY)
            os.chmod(src, 0o640)
        else:
            ground.keystore('component_keyring_file', src, LEGIT)
        ground.keystore(ground.keystore_type, dst, DEST_OLD)
        return dict(source=src, destination=dst, name='destination')
    ks = os.path.join(ground.dir, 'keystore')
    if operation == 'keyring_info':
        shutil.copyfile(os.path.join(vectors_dir, VECTOR), ks)
        os.chown(ks, NOBODY, NOBODY)
    elif operation.startswith('files_owner'):
        ground.keystore('component_keyring_file', ks, LEGIT, owner=0, mode=0o600)   # as a root mysqld leaves it
    else:
        ground.keystore(ground.keystore_type, ks, LEGIT)
    return dict(keystore=ks, name='keystore')


def planted_paths(position, ground, paths):
    main = paths.get('keystore') or paths.get('destination')
    return dict(
        keystore=[main], backup=[main + '.backup'],
        source=[paths.get('source')], source_backup=['%s.backup' % paths.get('source')],
        destination=[main], destination_backup=[main + '.backup'],
        temp=[os.path.join(ground.dir, STALE_TEMP % paths['name'])],
        dir=[ground.dir], parent=[ground.parent],
        backup_copy=backup_local_names(main), set_aside=set_aside_names(main + '.backup'),
    )[position]


def run(operation, position, ground, paths, capsys):
    if operation == 'files_owner':
        return run_module(keyring_files_owner, dict(OWNER, path=[paths['keystore'], ground.dir]), capsys)
    if operation == 'files_owner_recurse':
        return run_module(keyring_files_owner, dict(OWNER, path=[ground.dir], recurse=True), capsys)
    if operation == 'keyring_info':
        return run_module(keyring_info, dict(server=False, keystores=[dict(type='keyring_file',
                                                                           path=paths['keystore'])]), capsys)
    if operation == 'load':
        return run_call(lambda: open_keystore('component_keyring_file', paths['keystore']).load())
    if operation == 'write':
        return run_call(lambda: open_keystore('keyring_file', paths['keystore']).write(LEGIT + [NEW]))
    if operation == 'keyring_migrate':
        args = dict(source=dict(type='keyring_file', path=paths['source']),
                    destination=dict(type='component_keyring_file', path=paths['destination']))
        if position == 'backup_copy':
            args['backup'] = True
        if position == 'set_aside':
            args['on_backup_file'] = 'follow_server'
        return run_module(keyring_migrate, args, capsys)
    return run_call(lambda: migrate(open_keystore('component_keyring_file', paths['source']),
                                    open_keystore('keyring_file', paths['destination'])))


def names(message, path):
    """True when `message` names `path` itself (not merely a longer path that starts with it)."""
    return re.search(re.escape(path) + r'(?![\w./@~-])', message) is not None


def warnings(result):
    """The module's warning texts (ansible-core 2.19 returns each as a WarningSummary dict, older ones as str)."""
    return [w if isinstance(w, str) else (w.get('event') or {}).get('msg') or repr(w)
            for w in result.get('warnings', [])]


def check_work_done(operation, position, outcome, ground, paths):
    """A success must be the real thing, not a no-op that dodged the plant."""
    if operation == 'write':
        assert list(open_keystore('keyring_file', paths['keystore']).load()) == LEGIT + [NEW]
    elif operation == 'migrate':
        assert list(open_keystore('keyring_file', paths['destination']).load()) == DEST_OLD + LEGIT
    elif operation == 'keyring_migrate':
        assert outcome.result['migrated_count'] == 3 and outcome.result['changed']
        if position == 'set_aside':
            aside = outcome.result['backup_file_set_aside']
            assert aside in planted_paths('set_aside', ground, paths), aside   # it really landed on a planted name
            assert stat.S_ISREG(os.lstat(aside).st_mode)                       # and replaced it
        if position == 'backup_copy':
            copy = outcome.result['backup_file']
            assert stat.S_ISREG(os.lstat(copy).st_mode)
            assert list(open_keystore('component_keyring_file', copy).load()) == DEST_OLD
    elif operation == 'keyring_info':
        assert outcome.result['keystores'][0]['key_count'] == 3
    elif operation == 'load':
        assert list(outcome.value) == LEGIT


@pytest.mark.parametrize('operation,position,kind', CASES, ids=['-'.join(c) for c in CASES])
def test_planted_name(ground_base, capsys, vectors_dir, operation, position, kind):
    op = OPERATIONS[operation]
    ground = Ground(ground_base, op.keystore_type, op.source_type)
    paths = make_keystores(operation, ground, vectors_dir)
    if position == 'set_aside':
        ground.keystore('component_keyring_file', paths['destination'] + '.backup', DEST_OLD)
    ground.make_victims(ground.source_type if position.startswith('source') else ground.keystore_type)
    planted = [ground.plant(kind, path) for path in planted_paths(position, ground, paths)]
    expected = expectation(operation, position, kind)

    before = ground.snapshot()
    secrets = ground.secrets()
    watch = ground.watch()
    try:
        started = time.monotonic()
        outcome = run(operation, position, ground, paths, capsys)
        elapsed = time.monotonic() - started
        events = watch.events()
    finally:
        watch.close()
    after = ground.snapshot()

    problems = []
    if outcome.crash:
        problems.append('not a clean end: %s' % outcome.crash)
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            problems.append('victim %s changed: %r -> %r' % (path, before.get(path), after.get(path)))
    for label, what, entry in events:       # not even a hard link (the victim's own inode) is opened
        problems.append('%s: %s%s' % (label, what, ' (%s)' % entry if entry else ''))
    leaked = sorted(s for s in secrets if s and s in outcome.text)
    if leaked:
        problems.append('the output shows victim content: %r' % leaked[:3])
    if expected == OK and not outcome.ok:
        problems.append('expected success, but it %s' % outcome.describe())
    if expected in (REFUSED, SKIPPED) or (expected == EITHER and not outcome.ok and not outcome.crash):
        if expected == SKIPPED:
            skipped = [s['path'] for s in outcome.result.get('skipped', [])]
            warned = [w for w in warnings(outcome.result) if names(w, planted[0])]
            if not outcome.ok or planted[0] not in skipped or not warned:
                problems.append('expected %s to be skipped with a warning; it %s (skipped: %r, warnings: %r)'
                                % (planted[0], outcome.describe(), skipped, warnings(outcome.result)))
        elif outcome.ok:
            problems.append('expected a refusal naming %s, but it succeeded' % planted[0])
        elif outcome.error not in KEYSTORE_ERRORS or not any(names(outcome.message, p) for p in planted):
            problems.append('expected a KeystoreError naming %s; it %s' % (planted[0], outcome.describe()))
    if position == 'temp':
        if op.writes and os.path.lexists(planted[0]):
            problems.append('the stale temp name %s is still there' % planted[0])
        if not op.writes and not os.path.lexists(planted[0]):
            problems.append('%s removed the name %s, which it never writes' % (operation, planted[0]))
    if outcome.ok and not problems:
        check_work_done(operation, position, outcome, ground, paths)
    assert elapsed < 10
    assert not problems, '%s with a %s at %s (expected: %s):\n  %s' % (
        operation, kind, position, expected, '\n  '.join(problems))


# ---- the race ----------------------------------------------------------------------------------------------

RACE_RUNS = 1000
# The swapper: a child process, so that it runs truly alongside the runs (a thread of this process gets the GIL
# only when a run releases it, and managed about two swaps per run). It swaps the keystore between a regular file
# and nobody's link to the victim, and the .backup between nothing, a regular file and such a link, each by
# rename(2) over the name, until SIGTERM; then it prints how many swaps it made.
SWAPPER = textwrap.dedent('''
    import os, signal, sys
    directory, name, victim, content = sys.argv[1], sys.argv[2], sys.argv[3], open(sys.argv[4], 'rb').read()
    keystore, backup = os.path.join(directory, name), os.path.join(directory, name + '.backup')
    file_temp, link_temp = os.path.join(directory, '.swap-file'), os.path.join(directory, '.swap-link')
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))

    def regular(target):
        fd = os.open(file_temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, content)
        os.close(fd)
        os.rename(file_temp, target)

    def link(target):
        os.symlink(victim, link_temp)
        os.lchown(link_temp, %d, %d)
        os.rename(link_temp, target)

    swaps = 0
    sys.stdout.write('ready\\n')
    sys.stdout.flush()
    while not stop:
        swaps += 1
        (link if swaps %% 2 else regular)(keystore)
        state = swaps %% 12
        if state == 3:
            link(backup)
        elif state == 6:
            regular(backup)
        elif state in (5, 8) and os.path.lexists(backup):
            os.unlink(backup)
    print(swaps)
''' % (NOBODY, NOBODY))


def test_swapping_keystore_and_backup_never_reaches_the_victim(race_base, capsys):
    ground = Ground(race_base, 'component_keyring_file')
    keystore = ground.keystore('component_keyring_file', os.path.join(ground.dir, 'keystore'), LEGIT)
    ground.make_victims('component_keyring_file')
    content_file = os.path.join(race_base, 'regular-content')
    shutil.copyfile(keystore, content_file)
    before = ground.snapshot()
    secrets = ground.secrets()
    outcomes = collections.Counter()
    problems = []
    watch = ground.watch()
    started = time.monotonic()
    swapper = subprocess.Popen([sys.executable, '-c', SWAPPER, ground.dir, 'keystore', ground.victim_file,
                                content_file], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True)
    try:
        assert swapper.stdout.readline() == 'ready\n'
        for attempt in range(RACE_RUNS):
            if attempt % 2:
                outcome = run_call(lambda: open_keystore('component_keyring_file', keystore).write(LEGIT + [NEW]))
                label = 'write'
            else:
                outcome = run_module(keyring_files_owner, dict(OWNER, path=[keystore]), capsys)
                label = 'files_owner'
            outcomes['%s %s' % (label, 'ok' if outcome.ok else outcome.error)] += 1
            if 'while being opened' in outcome.message:
                outcomes['%s: caught between its check and its open' % label] += 1
            if outcome.crash or (not outcome.ok and outcome.error not in KEYSTORE_ERRORS):
                problems.append('%s run %d: %s' % (label, attempt, outcome.describe()))
            if any(s in outcome.text for s in secrets):
                problems.append('%s run %d showed victim content' % (label, attempt))
    finally:
        swapper.terminate()
        out, err = swapper.communicate(timeout=10)
        events = watch.events()
        watch.close()
    elapsed = time.monotonic() - started
    after = ground.snapshot()
    swaps = int(out.strip() or 0)
    print('%d runs in %.1f s, %d swaps: %s' % (RACE_RUNS, elapsed, swaps, dict(outcomes)))

    assert swapper.returncode == 0 and not err, err
    assert not problems, '\n'.join(problems[:20])
    assert before == after
    assert events == []                   # the victim was never even opened
    assert not [n for n in os.listdir(ground.dir) if n.endswith('.keyops-tmp')]
    # The race really ran: the swaps outnumber the runs, some runs met the link (and refused it), some a regular
    # file (and did their work).
    assert swaps > 10 * RACE_RUNS
    assert sum(n for k, n in outcomes.items() if k.endswith(' ok')) > 0
    assert sum(n for k, n in outcomes.items() if k.endswith('UnsafePathError')) > 0
    assert elapsed < 30
