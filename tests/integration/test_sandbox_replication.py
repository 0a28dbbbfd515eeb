# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replication topologies in the sandbox: real async GTID replicas and a real Group Replication group.

One fleet, `--hosts 6 --topology async:3,gr:3`, shared through the sandbox_fleet factory. Replication state is read
from performance_schema over the migration account (what a replication-aware migration may read), never from
SHOW SLAVE STATUS. The tests run in file order: the last ones rotate master keys and restart servers (the GR primary
moves), and each leaves the groups healthy.
"""

import json
import os
import re
import subprocess

import pytest

from ..conftest import REPO_ROOT

pytestmark = pytest.mark.integration

TOPOLOGY = "async:3,gr:3"
ROOT = ["mysql", "-uroot", "--batch", "--skip-column-names", "-e"]
# The migration account over TCP to the host's address: its grants are enough to read replication state.
MIGRATE = ["mysql", "--batch", "--skip-column-names", "--protocol=TCP", "-h{{ ansible_host }}",
           "-u{{ mysql_accounts.migration.user }}", "-p{{ mysql_accounts.migration.password }}", "-e"]
# Every channel of the host: receiver state, applier worker states, and errors; one line per channel.
CHANNELS = ("SELECT c.CHANNEL_NAME = '', c.SERVICE_STATE, GROUP_CONCAT(DISTINCT w.SERVICE_STATE),"
            " c.LAST_ERROR_NUMBER + MAX(w.LAST_ERROR_NUMBER)"
            " FROM performance_schema.replication_connection_status c"
            " JOIN performance_schema.replication_applier_status_by_worker w USING (CHANNEL_NAME)"
            " GROUP BY c.CHANNEL_NAME, c.SERVICE_STATE, c.LAST_ERROR_NUMBER")
MEMBERS = ("SELECT MEMBER_HOST, MEMBER_STATE, MEMBER_ROLE FROM performance_schema.replication_group_members"
           " ORDER BY MEMBER_HOST")


@pytest.fixture(scope="module")
def fleet(sandbox_fleet):
    return sandbox_fleet(n=6, topology=TOPOLOGY)


def ok(results, hosts):
    """Assert the command succeeded on exactly these hosts; return {host: stdout}."""
    assert sorted(results) == sorted(hosts)
    for host, r in results.items():
        assert r.get("rc") == 0 and not r.get("failed"), f"{host}: {json.dumps(r, indent=2)[:2000]}"
    return {host: r["stdout"] for host, r in results.items()}


def rows(text):
    return [line.split("\t") for line in text.splitlines() if line]


def wait_until(fleet, hosts, sql, seconds=60):
    """Poll sql (as root, on each host) until it returns 1; return {host: seconds waited}. One SSH session per host."""
    loop = ('i=0; until [ "$(mysql -uroot -N -B -e "$1" 2>/dev/null)" = 1 ]; do i=$((i+1));'
            ' [ $i -ge $(($2*5)) ] && { mysql -uroot -e "$3" >&2; exit 1; }; sleep 0.2; done; echo $((i/5))')
    out = ok(fleet.command(":".join(hosts), ["sh", "-c", loop, "wait", sql, str(seconds),
                                             f"{CHANNELS}; {MEMBERS}"]), hosts)
    return {h: int(s) for h, s in out.items()}


def replicas_running(fleet, hosts):
    return wait_until(fleet, hosts, "SELECT COUNT(*) > 0 AND SUM(NOT (c.SERVICE_STATE = 'ON'"
                                    " AND w.SERVICE_STATE = 'ON' AND c.LAST_ERROR_NUMBER = 0"
                                    " AND w.LAST_ERROR_NUMBER = 0)) = 0"
                                    " FROM performance_schema.replication_connection_status c"
                                    " JOIN performance_schema.replication_applier_status_by_worker w"
                                    " USING (CHANNEL_NAME) WHERE CHANNEL_NAME = ''")


def members_online(fleet, hosts, count):
    return wait_until(fleet, hosts, "SELECT SUM(MEMBER_STATE = 'ONLINE') = %d AND COUNT(*) = %d"
                                    " AND SUM(MEMBER_ROLE = 'PRIMARY') = 1"
                                    " FROM performance_schema.replication_group_members" % (count, count))


def primary_of(fleet, group, asked=None):
    """The group's primary as a member (asked, default the first host) sees it."""
    hosts = fleet.replication_group(group)
    asked = asked or hosts[0]
    out = ok(fleet.command(asked, [*MIGRATE, "SELECT MEMBER_HOST FROM performance_schema.replication_group_members"
                                             " WHERE MEMBER_ROLE = 'PRIMARY'"]), [asked])
    by_ip = {fleet.hosts[h]["ansible_host"]: h for h in hosts}
    return by_ip[out[asked].strip()]


def test_inventory_describes_the_groups(fleet):
    inv = fleet.inventory.read_text()
    groups = json.loads(inv[inv.index("{"):])["all"]["children"]
    assert sorted(groups["async1"]["hosts"]) == ["mysql1", "mysql2", "mysql3"]
    assert sorted(groups["gr1"]["hosts"]) == ["mysql4", "mysql5", "mysql6"]
    want = {"mysql1": ("async1", "source"), "mysql2": ("async1", "replica"), "mysql3": ("async1", "replica"),
            "mysql4": ("gr1", "primary"), "mysql5": ("gr1", "secondary"), "mysql6": ("gr1", "secondary")}
    for host, (group, role) in want.items():
        v = fleet.hosts[host]
        assert (v["mysql_replication_group"], v["mysql_replication_role"]) == (group, role)
        assert v.get("mysql_replication_source") == ("mysql1" if role == "replica" else None)
        assert v["replicated_tables"] == {"ha.ledger": 5}
    assert len({fleet.hosts[h]["mysql_server_id"] for h in want}) == 6
    out = ok(fleet.command("mysql", [*ROOT, "SELECT @@server_id, @@gtid_mode, @@binlog_encryption, @@report_host"]),
             list(want))
    for host, text in out.items():
        assert text.split("\t") == [str(fleet.hosts[host]["mysql_server_id"]), "ON", "1",
                                    fleet.hosts[host]["ansible_host"]], (host, text)


def test_async_replicas_run_without_errors(fleet):
    source, *replicas = fleet.replication_group("async1")
    replicas_running(fleet, replicas)
    sql = (f"{CHANNELS}; SELECT HOST, PORT, CONNECTION_RETRY_INTERVAL, AUTO_POSITION, SSL_ALLOWED"
           " FROM performance_schema.replication_connection_configuration;"
           " SELECT SERVICE_STATE FROM performance_schema.replication_applier_status")
    out = ok(fleet.command(":".join(replicas), [*MIGRATE, sql]), replicas)
    for host, text in out.items():
        channel, config, applier = rows(text)
        assert channel == ["1", "ON", "ON", "0"], (host, text)
        assert config == [fleet.hosts[source]["ansible_host"], "3306", "1", "1", "YES"], (host, text)
        assert applier == ["ON"], (host, text)


def test_group_has_three_online_members_and_one_primary(fleet):
    hosts = fleet.replication_group("gr1")
    members_online(fleet, hosts, 3)
    out = ok(fleet.command("gr1", [*MIGRATE, MEMBERS]), hosts)
    ips = sorted(fleet.hosts[h]["ansible_host"] for h in hosts)
    for host, text in out.items():
        members = rows(text)
        assert [m[0] for m in members] == ips and {m[1] for m in members} == {"ONLINE"}, (host, text)
        assert sorted(m[2] for m in members) == ["PRIMARY", "SECONDARY", "SECONDARY"], (host, text)
    assert primary_of(fleet, "gr1") == "mysql4"
    # Secondaries are read-only, as Group Replication makes them.
    out = ok(fleet.command("gr1", [*ROOT, "SELECT @@super_read_only"]), hosts)
    assert out == {"mysql4": "0", "mysql5": "1", "mysql6": "1"}


def test_replicated_table_is_encrypted_and_identical(fleet):
    for group in ("async1", "gr1"):
        hosts = fleet.replication_group(group)
        tables = fleet.hosts[hosts[0]]["replicated_tables"]
        sql = "".join(f"SELECT COUNT(*) FROM {t}; CHECKSUM TABLE {t};" for t in tables)
        sql += " SELECT ENCRYPTION FROM information_schema.INNODB_TABLESPACES WHERE NAME LIKE 'ha/%'"
        out = ok(fleet.command(group, [*ROOT, sql]), hosts)
        assert len(set(out.values())) == 1, out  # same rows, same checksums, on every member
        lines = rows(out[hosts[0]])
        for i, (table, count) in enumerate(tables.items()):
            assert lines[2 * i] == [str(count)]
            assert lines[2 * i + 1][0] == table and lines[2 * i + 1][1] not in ("0", "NULL")
        assert lines[2 * len(tables):] == [["Y"]] * len(tables)


def test_binary_log_keys_in_every_keystore(fleet):
    hosts = fleet.replication_group("async1") + fleet.replication_group("gr1")
    uuids = server_uuids(fleet, hosts)
    out = ok(fleet.command(":".join(hosts), [*MIGRATE, "SELECT KEY_ID FROM performance_schema.keyring_keys"
                                                       " WHERE KEY_ID LIKE 'MySQLReplicationKey%'"]), hosts)
    for host, text in out.items():
        keys = text.split()
        assert f"MySQLReplicationKey_{uuids[host]}_1" in keys, (host, keys)
        assert all(k.startswith(f"MySQLReplicationKey_{uuids[host]}") for k in keys), (host, keys)
        # The sandbox recorded them among the expected keys.
        expected = {k["id"] for k in fleet.hosts[host]["keyring_expected_keys"]}
        assert set(keys) <= expected, (host, keys)


def run_module(fleet, pattern, module, args):
    """Run a keyops.mysql module ad hoc on the hosts of pattern; return {host: module result}."""
    tree = fleet.state_dir / "ansible-results" / ("module-%s" % module)
    subprocess.run([fleet.ansible_bin("ansible"), "-i", str(fleet.inventory), pattern, "-m", "keyops.mysql." + module,
                    "-a", json.dumps(args)],
                   env=fleet.ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
                                         ANSIBLE_CALLBACK_TREE_DIR=str(tree),
                                         ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, ".cache", "collections")),
                   cwd=fleet.state_dir, capture_output=True, text=True, timeout=300, check=False)
    return {p.name: json.loads(p.read_text()) for p in tree.glob("*")}


def test_keyring_info_reads_the_oldest_and_newest_encrypted_binary_log(fleet):
    # A second binary log on the source, so that the oldest and the newest differ; both are encrypted
    # (binlog_encryption=ON from the start), their file passwords under the binary log master key in the keyring.
    source = fleet.replication_group("async1")[0]
    ok(fleet.command(source, [*ROOT, "FLUSH BINARY LOGS"]), [source])
    logs = rows(ok(fleet.command(source, [*ROOT, "SHOW BINARY LOGS"]), [source])[source])
    encrypted = [log[0] for log in logs if log[2] == "Yes"]
    assert len(encrypted) >= 2, logs
    result = run_module(fleet, source, "keyring_info",
                        {"login_unix_socket": "/run/mysqld/mysqld.sock", "verify_binary_logs": True})[source]
    assert not result.get("failed"), result
    assert result["verify_queries"] == [
        {"query": "SHOW BINLOG EVENTS IN '%s' LIMIT 1" % name, "row_count": 1} for name in (encrypted[0], encrypted[-1])]


def server_uuids(fleet, hosts):
    return {h: u.strip() for h, u in ok(fleet.command(":".join(hosts), [*ROOT, "SELECT @@server_uuid"]), hosts).items()}


def innodb_keys(fleet, hosts, uuids):
    out = ok(fleet.command(":".join(hosts), [*MIGRATE, "SELECT KEY_ID FROM performance_schema.keyring_keys"
                                                       " WHERE KEY_ID LIKE 'INNODBKey-%'"]), hosts)
    found = {}
    for host, text in out.items():
        assert all(k.startswith(f"INNODBKey-{uuids[host]}-") for k in text.split()), (host, text)
        found[host] = sorted(int(k.rsplit("-", 1)[1]) for k in text.split())
    return found


def rotate_and_wait(fleet, source, members):
    """Rotate the master key on source; wait until every member applied it; return the source's gtid_executed."""
    out = ok(fleet.command(source, [*ROOT, "ALTER INSTANCE ROTATE INNODB MASTER KEY;"
                                           " SELECT @@GLOBAL.gtid_executed"]), [source])
    gtids = out[source].replace("\\n", "").strip()
    out = ok(fleet.command(":".join(members), [*ROOT, f"SELECT WAIT_FOR_EXECUTED_GTID_SET('{gtids}', 60)"]), members)
    assert set(out.values()) == {"0"}, out
    return gtids


@pytest.mark.parametrize("group", ["async1", "gr1"])
def test_master_key_rotation_replicates(fleet, group):
    hosts = fleet.replication_group(group)
    source = hosts[0] if group == "async1" else primary_of(fleet, group)
    others = [h for h in hosts if h != source]
    uuids = server_uuids(fleet, hosts)
    before = innodb_keys(fleet, hosts, uuids)
    rotate_and_wait(fleet, source, others)
    after = innodb_keys(fleet, hosts, uuids)
    for host in hosts:
        # Each member made a master key of its own (INNODBKey-<its uuid>-<n+1>), the replicas by applying the event.
        assert after[host] == before[host] + [max(before[host]) + 1], (host, before[host], after[host])
    if group == "async1":
        replicas_running(fleet, others)


def test_replica_restart_resumes_replication(fleet):
    source, replica, _other = fleet.replication_group("async1")
    out = ok(fleet.command(replica, ["sh", "-c", "{{ mysql_service }} stop && {{ mysql_service }} start"]), [replica])
    assert "started" in out[replica]
    waited = replicas_running(fleet, [replica])
    assert waited[replica] <= 10, waited
    rotate_and_wait(fleet, source, [replica])  # it applies what the source writes after the restart
    replicas_running(fleet, [replica])


def test_source_restart_replicas_reconnect_by_themselves(fleet):
    source, *replicas = fleet.replication_group("async1")
    ok(fleet.command(source, ["sh", "-c", "{{ mysql_service }} stop && {{ mysql_service }} start"]), [source])
    # SOURCE_CONNECT_RETRY=1: they are back within seconds of the source, with nobody running START REPLICA.
    waited = replicas_running(fleet, replicas)
    assert max(waited.values()) <= 15, waited
    rotate_and_wait(fleet, source, replicas)


def test_group_primary_restart_elects_a_new_primary_and_rejoins(fleet):
    hosts = fleet.replication_group("gr1")
    old = primary_of(fleet, "gr1")
    rest = [h for h in hosts if h != old]
    ok(fleet.command(old, ["{{ mysql_service }}", "stop"]), [old])
    members_online(fleet, rest, 2)
    new = primary_of(fleet, "gr1", asked=rest[0])
    assert new in rest
    out = ok(fleet.command(old, ["{{ mysql_service }}", "start"]), [old])
    assert re.search(r"started \(pid \d+\)", out[old])
    # group_replication_start_on_boot: it rejoins by itself, RECOVERING then ONLINE, as a secondary.
    waited = members_online(fleet, hosts, 3)
    assert max(waited.values()) <= 30, waited
    assert {primary_of(fleet, "gr1", asked=h) for h in hosts} == {new}
    out = ok(fleet.command(old, [*ROOT, "SELECT MEMBER_ROLE FROM performance_schema.replication_group_members"
                                        " WHERE MEMBER_ID = @@server_uuid; SELECT @@super_read_only"]), [old])
    assert out[old].split() == ["SECONDARY", "1"]
    rotate_and_wait(fleet, new, [h for h in hosts if h != new])  # the group still replicates, old primary included


@pytest.mark.parametrize("hosts, spec, message", [
    (6, "async:3,gr:4", "async:3,gr:4 needs 7 MySQL hosts, --hosts gives 6"),
    (6, "async:1", "async:1 needs K >= 2"),
    (6, "gr:2", "gr:2 needs K = 3..9"),
    (12, "gr:10", "gr:10 needs K = 3..9"),
    (6, "galera:3", "bad group 'galera:3'"),
    (6, "async:3,,gr:3", "bad group ''"),
])
def test_bad_topology_is_refused_and_leaves_nothing(sandbox_cli, tmp_path, hosts, spec, message):
    state = tmp_path / "fleet"
    res = sandbox_cli("up", "--hosts", hosts, "--topology", spec, "--state-dir", state, timeout=60)
    assert res.returncode == 1 and res.stderr.startswith("sandbox: error: --topology") and message in res.stderr, \
        res.stderr
    assert len(res.stderr.splitlines()) == 1 and "Traceback" not in res.stderr
    assert not state.exists()
