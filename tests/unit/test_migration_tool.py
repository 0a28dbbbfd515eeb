# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/mysql_tool: output parser, option files, command lines, runner, snapshot, run record.

The parser is checked against what the real MySQL 9.7.4 binaries printed on a sandbox host
(fixtures/migration_tool/real_outputs.json, each entry says which command produced it). Success and skipped-key
outputs cannot be produced by 9.7 community binaries (one keyring component, no keyring plugins), so those few
cases are built from the message formats in MySQL's source (client/migrate_keyring/components.cc,
migrate_keyring.cc; sql/migrate_keyring.cc) and marked SOURCE-DERIVED below.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat
import subprocess
import sys
import tempfile
import textwrap

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool import catalog as tool_catalog
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool import invocation as tool_invocation
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool import record as tool_record
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool import runner as tool_runner
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool import migration as tool_migration
from ansible_collections.keyops.mysql.plugins.module_utils.mysql_tool import verdict as tool_verdict
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.atomic import write_atomically
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'migration_tool', 'real_outputs.json')
with open(FIXTURES) as _f:
    REAL = json.load(_f)

SECRET = 'S3cr3t-keystore-pw'
LOGIN_SECRET = 'L0gin-pw'


def _run(entry):
    return tool_runner.ToolRun(['x'], entry['exit_status'], entry['stdout'], entry['stderr'], 0.1)


def _method(name):
    return tool_catalog.METHOD_MYSQL_MIGRATE_KEYRING if REAL[name]['tool'] == 'mysql_migrate_keyring' else \
        tool_catalog.METHOD_MIGRATION_SERVER


# ---- the parser on real outputs ------------------------------------------------------------------------------

def test_every_real_output_is_judged_a_failure_whatever_its_exit_status():
    # 9.7 community binaries can only fail: none of these may ever be taken for success.
    assert len(REAL) >= 12
    for name, entry in REAL.items():
        outcome = tool_verdict.parse_output(_method(name), _run(entry))
        assert not outcome.ok, name
        assert outcome.reason, name


@pytest.mark.parametrize('name', ['mmk_same_component', 'mmk_missing_destination_option'])
def test_mysql_migrate_keyring_refusals_exit_0_and_are_failures(name):
    entry = REAL[name]
    assert entry['exit_status'] == 0          # what the real binary did
    outcome = tool_verdict.parse_output(tool_catalog.METHOD_MYSQL_MIGRATE_KEYRING, _run(entry))
    assert outcome.refused and not outcome.ok
    assert outcome.reason.startswith('the tool refused to run')


def test_same_component_refusal_text():
    outcome = tool_verdict.parse_output(tool_catalog.METHOD_MYSQL_MIGRATE_KEYRING, _run(REAL['mmk_same_component']))
    assert outcome.errors == ['Source and destination cannot be the same.']


@pytest.mark.parametrize('name, role', [('mmk_missing_destination_component', 'destination'),
                                        ('mmk_missing_source_component', 'source'),
                                        ('mmk_bad_component_dir', 'source')])
def test_missing_component_is_an_error_naming_the_side(name, role):
    outcome = tool_verdict.parse_output(tool_catalog.METHOD_MYSQL_MIGRATE_KEYRING, _run(REAL[name]))
    assert not outcome.ok and not outcome.refused
    assert any(e.startswith('[error ID: 1126') for e in outcome.errors)
    assert any('Failed to load %s keyring' % role in e for e in outcome.errors)


@pytest.mark.parametrize('name, words', [
    ('mysqld_source_plugin_missing', 'Failed to load source keyring plugin'),
    ('mysqld_online_source_loaded_destination_plugin_missing', 'Failed to load destination keyring plugin'),
    ('mysqld_online_connection_failed', 'Connection to server failed'),
    ('mysqld_source_component_no_config', 'cannot read config file'),
    ('mysqld_component_to_component', 'Please use mysql_migrate_keyring utility'),
    ('mysqld_invalid_destination_value', 'Invalid destination plugin option value'),
    ('mysqld_missing_source_option', 'Invalid --keyring-migration-source option'),
])
def test_migration_server_failures_keep_the_servers_words(name, words):
    outcome = tool_verdict.parse_output(tool_catalog.METHOD_MIGRATION_SERVER, _run(REAL[name]))
    assert not outcome.ok
    assert any(words in e for e in outcome.errors), outcome.errors
    # The log's warnings about the sandbox's set-up are not errors.
    assert not any('Manifest file' in e for e in outcome.errors)


def test_migration_server_online_run_paused_and_resumed_the_real_server():
    entry = REAL['mysqld_online_destination_plugin_missing']
    log = entry['server_general_log']
    assert log.index('SET GLOBAL KEYRING_OPERATIONS=0') < log.index('SET GLOBAL KEYRING_OPERATIONS=1')


def test_refusals_of_the_migration_server():
    outcome = tool_verdict.parse_output(tool_catalog.METHOD_MIGRATION_SERVER, _run(REAL['mysqld_component_to_component']))
    assert outcome.refused


# ---- the parser on source-derived outputs (9.7 community cannot produce these) -----------------------------

MMK_SUCCESS = textwrap.dedent('''\
    2026-11-23 04:10:39 [NOTE]    Successfully loaded source and destination keyrings. Initiating migration.
    2026-11-23 04:10:39 [NOTE]    Successfully migrated 3 keys. Skipped 0 keys.
    2026-11-23 04:10:39 [NOTE]    Key migration successful.
    ''')     # SOURCE-DERIVED: client/migrate_keyring/migrate_keyring.cc, components.cc log_info lines


def test_mysql_migrate_keyring_success():
    outcome = tool_verdict.parse_output(tool_catalog.METHOD_MYSQL_MIGRATE_KEYRING, tool_runner.ToolRun(['x'], 0, MMK_SUCCESS, '', 1))
    assert outcome.ok and outcome.migrated_count == 3 and outcome.skipped_count == 0


def test_mysql_migrate_keyring_skipped_keys_exit_0_are_a_failure():
    # SOURCE-DERIVED: components.cc log_warning "... Skipping" and the final count line; the run exits 0.
    stdout = MMK_SUCCESS.replace('Successfully migrated 3 keys. Skipped 0 keys.',
                                 'Successfully migrated 1 keys. Skipped 2 keys.')
    stderr = ('2026-11-23 04:10:39 [WARNING] Could not find data pointed by data_id: k1, auth_id: root@localhost. '
              'Skipping\n'
              '2026-11-23 04:10:39 [WARNING] Length (20000) of data identified by data_id: big, auth_id:  exceeds '
              'maximum supported length by migration tool (16384). Skipping\n')
    outcome = tool_verdict.parse_output(tool_catalog.METHOD_MYSQL_MIGRATE_KEYRING, tool_runner.ToolRun(['x'], 0, stdout, stderr, 1))
    assert not outcome.ok
    assert outcome.skipped_count == 2
    assert outcome.skipped == [dict(key_id='k1', user_id='root@localhost'), dict(key_id='big', user_id='')]
    assert 'skipped 2 key' in outcome.reason


def test_mysql_migrate_keyring_write_failure_exits_1():
    # SOURCE-DERIVED: components.cc, a key the destination already holds.
    stderr = ('2026-11-23 04:10:39 [ERROR]   Failed to write data pointed by data_id: k1, auth_id: u into destination '
              'keyring\n2026-11-23 04:10:39 [ERROR]   Failed to migrate all keys to destination keyring. Please check '
              'log for more details\n')
    outcome = tool_verdict.parse_output(tool_catalog.METHOD_MYSQL_MIGRATE_KEYRING, tool_runner.ToolRun(['x'], 1, '', stderr, 1))
    assert not outcome.ok and len(outcome.errors) == 2


def test_exit_0_without_the_success_line_is_a_failure():
    outcome = tool_verdict.parse_output(tool_catalog.METHOD_MYSQL_MIGRATE_KEYRING, tool_runner.ToolRun(['x'], 0, '', '', 1))
    assert not outcome.ok and 'never said' in outcome.reason


def test_migration_server_success_and_its_exit_status():
    # SOURCE-DERIVED: ER_KEYRING_MIGRATION_SUCCESSFUL MY-011085, in 9.7's log line format (seen for real above).
    line = '2026-11-23T04:11:01.208249Z 0 [System] [MY-011085] [Server] Keyring migration successful.\n'
    assert tool_verdict.parse_output(tool_catalog.METHOD_MIGRATION_SERVER, tool_runner.ToolRun(['x'], 0, '', line, 1)).ok
    assert not tool_verdict.parse_output(tool_catalog.METHOD_MIGRATION_SERVER, tool_runner.ToolRun(['x'], 1, '', line, 1)).ok


def test_a_killed_tool_is_a_failure_even_after_a_success_line():
    run = tool_runner.ToolRun(['x'], None, MMK_SUCCESS, '', 1, killed_by='timeout')
    outcome = tool_verdict.parse_output(tool_catalog.METHOD_MYSQL_MIGRATE_KEYRING, run)
    assert not outcome.ok and 'killed (timeout)' in outcome.reason


# ---- choosing the tool ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('source, destination, requested, expected', [
    ('keyring_file', 'component_keyring_file', 'auto', tool_catalog.METHOD_NATIVE),
    ('component_keyring_file', 'component_keyring_encrypted_file', 'auto', tool_catalog.METHOD_NATIVE),
    ('keyring_file', 'keyring_encrypted_file', 'auto', tool_catalog.METHOD_MIGRATION_SERVER),
    ('keyring_okv', 'component_keyring_file', 'auto', tool_catalog.METHOD_MIGRATION_SERVER),
    ('component_keyring_file', 'keyring_aws', 'auto', tool_catalog.METHOD_MIGRATION_SERVER),
    ('component_keyring_file', 'component_keyring_kmip', 'auto', tool_catalog.METHOD_MYSQL_MIGRATE_KEYRING),
    ('component_keyring_file', 'component_keyring_file', 'mysql_tool', tool_catalog.METHOD_MYSQL_MIGRATE_KEYRING),
    ('keyring_file', 'component_keyring_file', 'mysql_tool', tool_catalog.METHOD_MIGRATION_SERVER),
])
def test_choose_method(source, destination, requested, expected):
    assert tool_catalog.choose_method(source, destination, requested) == expected


def test_native_cannot_read_enterprise_keystores():
    with pytest.raises(KeystoreError, match='cannot read keyring_encrypted_file'):
        tool_catalog.choose_method('keyring_file', 'keyring_encrypted_file', 'native')


# ---- command lines and private files ------------------------------------------------------------------------

TOOL = dict(tool_migration.DEFAULT_TOOL_SETTINGS)
CONNECTION = dict(socket='/run/mysqld/mysqld.sock', user='root', password=LOGIN_SECRET)


def _plugin_invocation(online=True):
    return tool_invocation.Invocation(
        tool_catalog.METHOD_MIGRATION_SERVER,
        dict(type='keyring_file', path='/var/lib/mysql-keyring/keyring'),
        dict(type='keyring_encrypted_file', path='/var/lib/mysql-keyring/enc', password=SECRET,
             options={'keyring_encrypted_file_open_mode': 0}, secret_options={'extra_secret_thing': 'X-s3cret'}),
        TOOL, connection=CONNECTION if online else None, online=online)


def test_migration_server_argv_has_no_secret_and_the_option_file_has_them(tmp_path):
    invocation = _plugin_invocation()
    argv = invocation.argv('/w')
    assert argv[:3] == ['/usr/sbin/mysqld', '--defaults-file=/w/tool.cnf', '--user=mysql']
    assert '--keyring-migration-source=keyring_file.so' in argv
    assert '--keyring-migration-destination=keyring_encrypted_file.so' in argv
    assert not any('component' in a for a in argv)
    joined = ' '.join(argv)
    for secret in (SECRET, LOGIN_SECRET, 'X-s3cret'):
        assert secret not in joined
    text = invocation.files()['tool.cnf']
    assert text.startswith('[mysqld]\n')
    assert 'loose-keyring_encrypted_file_password="%s"' % SECRET in text
    assert 'loose-keyring_encrypted_file_data="/var/lib/mysql-keyring/enc"' in text
    assert 'loose-keyring_file_data="/var/lib/mysql-keyring/keyring"' in text
    assert 'keyring-migration-password="%s"' % LOGIN_SECRET in text
    assert 'keyring-migration-socket="/run/mysqld/mysqld.sock"' in text
    assert sorted(invocation.secrets()) == sorted([SECRET, 'X-s3cret', LOGIN_SECRET])


def test_component_sides_get_to_and_from_component_flags():
    src = dict(type='component_keyring_file', path='/k/src')
    dst = dict(type='keyring_okv', options={'keyring_okv_conf_dir': '/etc/okv'})
    argv = tool_invocation.Invocation(tool_catalog.METHOD_MIGRATION_SERVER, src, dst, TOOL).argv('/w')
    assert '--keyring-migration-from-component' in argv and '--keyring-migration-to-component' not in argv
    assert '--keyring-migration-source=component_keyring_file.so' in argv
    files = tool_invocation.Invocation(tool_catalog.METHOD_MIGRATION_SERVER, src, dst, TOOL).files()
    assert json.loads(files['component_keyring_file.cnf']) == {'path': '/k/src', 'read_only': True}
    assert 'loose-keyring_okv_conf_dir="/etc/okv"' in files['tool.cnf']


def test_mysql_migrate_keyring_argv_and_configs():
    src = dict(type='component_keyring_file', path='/k/src')
    dst = dict(type='component_keyring_encrypted_file', path='/k/dst', password=SECRET)
    invocation = tool_invocation.Invocation(tool_catalog.METHOD_MYSQL_MIGRATE_KEYRING, src, dst, TOOL, connection=CONNECTION, online=True)
    argv = invocation.argv('/w')
    assert argv == ['/usr/bin/mysql_migrate_keyring', '--defaults-file=/w/tool.cnf',
                    '--component-dir=/usr/lib/mysql/plugin', '--source-keyring=component_keyring_file',
                    '--destination-keyring=component_keyring_encrypted_file',
                    '--source-keyring-configuration-dir=/w/source',
                    '--destination-keyring-configuration-dir=/w/destination', '--online-migration']
    files = invocation.files()
    assert files['tool.cnf'].startswith('[mysql_migrate_keyring]\n')
    assert 'password="%s"' % LOGIN_SECRET in files['tool.cnf']
    assert json.loads(files['destination/component_keyring_encrypted_file.cnf']) == dict(
        path='/k/dst', password=SECRET, read_only=False)
    assert SECRET not in ' '.join(argv) and LOGIN_SECRET not in ' '.join(argv)


@pytest.mark.skipif(os.geteuid() != 0, reason='chown to another user needs root')
def test_prepare_writes_files_the_tool_user_can_read_and_never_write():
    # The migration server reads tool.cnf as root before it drops to the tool's user: that user must not be able
    # to change it (or plant anything beside it).
    invocation = _plugin_invocation()
    argv = invocation.prepare(uid=65534, gid=65534)
    try:
        st = os.stat(invocation.workdir)
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o750, 0, 65534)
        option_file = os.path.join(invocation.workdir, 'tool.cnf')
        st = os.stat(option_file)
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, 65534)
        assert argv[1] == '--defaults-file=%s' % option_file
        assert not any(s in ' '.join(argv) for s in invocation.secrets())
        workdir = invocation.workdir
    finally:
        invocation.cleanup()
    assert not os.path.exists(workdir)


def test_prepare_removes_the_work_directories_that_killed_runs_left_behind(tmp_path, monkeypatch):
    # A SIGKILLed module never reaches its cleanup, and its directory holds passwords.
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))
    gone = subprocess.Popen(['true'])
    gone.wait()
    orphan = tmp_path / ('keyops-tool-%d-abc' % gone.pid)
    alive = tmp_path / ('keyops-tool-%d-def' % os.getpid())
    unrelated = tmp_path / 'keyops-tool-notapid'
    for directory in (orphan, alive, unrelated):
        (directory / 'destination').mkdir(parents=True)
        (directory / 'tool.cnf').write_text('password="%s"' % SECRET)
    invocation = _plugin_invocation()
    invocation.prepare()
    try:
        assert not orphan.exists() and alive.exists() and unrelated.exists()
        assert os.path.basename(invocation.workdir).startswith('keyops-tool-%d-' % os.getpid())
    finally:
        invocation.cleanup()


def test_secret_looking_plain_options_are_refused():
    with pytest.raises(KeystoreError, match='secret_options'):
        tool_invocation.Invocation(tool_catalog.METHOD_MIGRATION_SERVER, dict(type='keyring_hashicorp',
                                                                              options={'keyring_hashicorp_secret_id': 'x'}),
                                   dict(type='component_keyring_file', path='/k'), TOOL)


def test_relative_or_missing_paths_are_refused():
    with pytest.raises(KeystoreError, match='must be absolute'):
        tool_invocation.Invocation(tool_catalog.METHOD_MIGRATION_SERVER, dict(type='keyring_file', path='keyring'),
                                   dict(type='keyring_okv'), TOOL)


def test_option_file_values_are_quoted_and_line_breaks_refused():
    text = tool_invocation.option_file_text('mysqld', {'a': 'x # not a comment', 'b': 'q"uo\\te', 'c': True})
    assert text == '[mysqld]\na="x # not a comment"\nb="q\\"uo\\\\te"\nc="ON"\n'
    with pytest.raises(KeystoreError, match='line break'):
        tool_invocation.option_file_text('mysqld', {'a': 'x\ny'})


# ---- the runner ------------------------------------------------------------------------------------------------

def test_run_tool_collects_both_streams_and_the_status(tmp_path):
    run = tool_runner.run_tool([sys.executable, '-c', 'import sys; print("out"); sys.stderr.write("err\\n"); sys.exit(3)'],
                               cwd=str(tmp_path), timeout=30)
    assert (run.returncode, run.stdout, run.stderr, run.killed_by) == (3, 'out\n', 'err\n', None)


def test_run_tool_kills_on_timeout(tmp_path):
    run = tool_runner.run_tool([sys.executable, '-c', 'import time; time.sleep(30)'], cwd=str(tmp_path), timeout=0.5)
    assert run.killed_by == 'timeout' and run.returncode is None and run.seconds < 10


def test_run_tool_names_a_missing_binary(tmp_path):
    with pytest.raises(KeystoreError, match='cannot run /nonexistent/mysqld'):
        tool_runner.run_tool(['/nonexistent/mysqld'], cwd=str(tmp_path), timeout=5)


def test_run_tool_watch_may_kill(tmp_path):
    run = tool_runner.run_tool([sys.executable, '-c', 'import time; time.sleep(30)'], cwd=str(tmp_path), timeout=30,
                               watch=lambda process: tool_runner.kill_group(process) or True)
    assert run.killed_by == 'watch' and run.returncode is None


# ---- snapshot and record ---------------------------------------------------------------------------------------

def test_snapshot_restores_bytes_mode_and_backup_sibling(tmp_path):
    path = str(tmp_path / 'dest')
    with open(path, 'wb') as f:
        f.write(b'original')
    os.chmod(path, 0o640)
    snapshot = tool_record.FileSnapshot(path)
    with open(path, 'wb') as f:
        f.write(b'the tool half-wrote this')
    with open(path + '.backup', 'wb') as f:
        f.write(b'tool backup')
    assert not snapshot.unchanged()
    assert snapshot.restore(write_atomically)
    with open(path, 'rb') as f:
        assert f.read() == b'original'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert not os.path.exists(path + '.backup')
    assert snapshot.unchanged() and not snapshot.restore(write_atomically)


def test_snapshot_of_an_absent_file_removes_what_the_tool_created(tmp_path):
    path = str(tmp_path / 'new')
    snapshot = tool_record.FileSnapshot(path)
    with open(path, 'wb') as f:
        f.write(b'created')
    assert snapshot.restore(write_atomically) and not os.path.exists(path)


def test_run_record_round_trip_without_secrets(tmp_path):
    src = dict(type='keyring_encrypted_file', path='/k/src', password=SECRET, secret_options={'x': 'X-s3cret'})
    dst = dict(type='keyring_okv', options={'keyring_okv_conf_dir': '/etc/okv'})
    record = tool_record.RunRecord(str(tmp_path / 'records'), tool_catalog.METHOD_MIGRATION_SERVER, src, dst)
    assert record.load() is None
    record.save(source_sha256='abc', destination_sha256=None, migrated_count=None, keys=[])
    assert record.load()['source_sha256'] == 'abc'
    with open(record.path) as f:
        text = f.read()
    assert SECRET not in text and 'X-s3cret' not in text
    other = tool_record.RunRecord(str(tmp_path / 'records'), tool_catalog.METHOD_MIGRATION_SERVER, src,
                                  dict(dst, options={'keyring_okv_conf_dir': '/etc/okv2'}))
    assert other.load() is None


def test_scrub_masks_every_secret():
    assert tool_verdict.scrub('unknown variable keyring_encrypted_file_password=%s' % SECRET, [SECRET]).endswith('=********')
