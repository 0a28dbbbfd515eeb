# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replication topologies over a fleet's MySQL hosts: `up --topology async:3,gr:3`.

A group takes the next K mysql hosts in order:

* ``async:K``: asynchronous GTID replication; the first host is the source, the others replicate from it;
* ``gr:K``: a single-primary Group Replication group (K = 3..9); the first host bootstraps it and is the primary.

Every host is seeded on its own first (seed.py), so each has local GTIDs: they are reset before replication is
configured, else replicas would see errant transactions and Group Replication would refuse the joins. What is then
written on the source or primary (the `ha` database, a master key rotation) replicates.
"""

import concurrent.futures
import copy
import secrets
import time
import uuid

from . import seed, util

GR_PORT = 33061
GR_SIZES = range(3, 10)  # Group Replication allows at most 9 members
KINDS = ("async", "gr")
DATABASE = "ha"
# Replicated tables (ENCRYPTION='Y'; Group Replication needs a primary key) and their rows.
TABLES = {
    "ledger": ("id INT PRIMARY KEY, account VARCHAR(32) NOT NULL, amount DECIMAL(10,2) NOT NULL",
               [(i, f"account {i}", f"{i * 12.5:.2f}") for i in range(1, 6)]),
}
# What a replication-aware migration does on a group host, beyond reading (seed.accounts): restart an applier a
# rotation stopped during a pause (START REPLICA), and have a GR member it expelled rejoin (STOP/START
# GROUP_REPLICATION).
MIGRATION_GRANTS = ["REPLICATION_SLAVE_ADMIN, GROUP_REPLICATION_ADMIN ON *.*"]
# On a GR member, also CONNECTION_ADMIN: a member that a rotation expels during the pause turns offline_mode ON
# (exit_state_action OFFLINE_MODE), which disconnects any login without it before it can resume the keyring.
GR_MIGRATION_GRANTS = ["CONNECTION_ADMIN ON *.*"]
REPLICATION_USER = "keyops_repl"
RECOVERY_CHANNEL = "group_replication_recovery"
# group_replication_message_cache_size's minimum (128 MiB); the cache only grows with traffic.
GR_MESSAGE_CACHE = 134217728
WAIT_SECONDS = 120
MYSQL = ["mysql", "--batch", "--skip-column-names", "-uroot"]


def parse(spec, mysql_hosts):
    """'async:3,gr:3' -> [{"name": "async1", "kind": "async", "hosts": ["mysql1", ...]}, ...]; SandboxError if bad."""
    groups, ordinals, used = [], {k: 0 for k in KINDS}, 0
    for item in str(spec).split(","):
        kind, _sep, size = item.strip().partition(":")
        if kind not in KINDS or not size.isdigit():
            raise util.SandboxError(f"--topology: bad group {item.strip()!r};"
                                    " expected a comma list of async:K and gr:K")
        size = int(size)
        if kind == "async" and size < 2:
            raise util.SandboxError(f"--topology: {item.strip()} needs K >= 2 (a source and at least one replica)")
        if kind == "gr" and size not in GR_SIZES:
            raise util.SandboxError(f"--topology: {item.strip()} needs K = 3..9 (Group Replication members)")
        ordinals[kind] += 1
        groups.append({"name": f"{kind}{ordinals[kind]}", "kind": kind,
                       "hosts": [f"mysql{i}" for i in range(used + 1, used + size + 1)]})
        used += size
    if used > mysql_hosts:
        raise util.SandboxError(f"--topology {spec} needs {used} MySQL hosts, --hosts gives {mysql_hosts}")
    for group in groups:
        group["password"] = secrets.token_hex(12)
        if group["kind"] == "gr":
            group["group_name"] = str(uuid.uuid4())
    return groups


def member(groups, name):
    """This host's place in the topology, or None: group, kind, role at start, source, server id."""
    for group in groups:
        if name in group["hosts"]:
            first = group["hosts"][0]
            roles = ("source", "replica") if group["kind"] == "async" else ("primary", "secondary")
            return {"group": group["name"], "kind": group["kind"], "role": roles[name != first],
                    "source": first if group["kind"] == "async" and name != first else None,
                    "server_id": int(name[len("mysql"):])}
    return None


def group_of(groups, name):
    return next(g for g in groups if name in g["hosts"])


def accounts(base, group):
    """A group host's accounts: the migration account may read and restart replication; a replication account."""
    accts = copy.deepcopy(base)
    accts["migration"]["grants"] += MIGRATION_GRANTS + (GR_MIGRATION_GRANTS if group["kind"] == "gr" else [])
    accts["replication"] = {"user": REPLICATION_USER, "host": "%", "password": group["password"],
                            # Made on every member (before the GTID reset): any member can be a source or donor.
                            "grants": ["REPLICATION SLAVE ON *.*"]}
    return accts


def server_options(groups, name, ip_of, fid):
    """my.cnf lines for a group host. ip_of(name) -> the host's address."""
    m = member(groups, name)
    group = group_of(groups, name)
    lines = [f"server_id = {m['server_id']}", "gtid_mode = ON", "enforce_gtid_consistency = ON",
             # Binary and relay logs encrypted: their keys (MySQLReplicationKey_<uuid>_<n>) live in the keystore.
             "binlog_encryption = ON", f"report_host = {ip_of(name)}"]
    if m["kind"] == "gr":
        lines += ["plugin_load_add = group_replication.so",
                  f"group_replication_group_name = {group['group_name']}",
                  f"group_replication_local_address = {ip_of(name)}:{GR_PORT}",
                  "group_replication_group_seeds = " + ",".join(f"{ip_of(h)}:{GR_PORT}" for h in group["hosts"]),
                  # AUTOMATIC would allow only the host's own /30.
                  f"group_replication_ip_allowlist = 10.231.{fid}.0/24,127.0.0.1/8",
                  "group_replication_bootstrap_group = OFF",
                  # Turned ON once the group exists (start_on_boot_on): a restarted member then rejoins by itself.
                  "group_replication_start_on_boot = OFF",
                  # The recovery account uses caching_sha2_password: its first login needs TLS.
                  "group_replication_recovery_use_ssl = ON",
                  f"group_replication_message_cache_size = {GR_MESSAGE_CACHE}"]
    return lines


def sql(host_exec, host, text, timeout=180):
    return host_exec(host, MYSQL, input=text, timeout=timeout).stdout


def setup(fleet, groups, log=print):
    """Configure every group after seeding; groups are independent and set up in parallel."""
    hosts = fleet.hosts
    members = [hosts[n] for g in groups for n in g["hosts"]]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        # The seeding's local GTIDs would be errant transactions on every other member.
        list(pool.map(lambda h: sql(fleet.host_exec, h, "RESET BINARY LOGS AND GTIDS;\n"), members))
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(_setup_async if g["kind"] == "async" else _setup_gr, fleet, g, log)
                       for g in groups]:
            future.result()


def _replication_sql(group):
    return f"SOURCE_USER={seed.quote(REPLICATION_USER)}, SOURCE_PASSWORD={seed.quote(group['password'])}"


def _data_sql():
    out = [f"CREATE DATABASE {DATABASE};"]
    for table, (columns, rows) in TABLES.items():
        out.append(f"CREATE TABLE {DATABASE}.{table} ({columns}) ENCRYPTION='Y';")
        values = ", ".join("(" + ", ".join(seed.quote(v) for v in row) + ")" for row in rows)
        out.append(f"INSERT INTO {DATABASE}.{table} VALUES {values};")
    # Replicates: each member adds an INNODBKey-<its own uuid>-<n>.
    out += ["ALTER INSTANCE ROTATE INNODB MASTER KEY;", "SELECT @@GLOBAL.gtid_executed;"]
    return "\n".join(out) + "\n"


def _setup_async(fleet, group, log):
    hosts = [fleet.hosts[n] for n in group["hosts"]]
    source, replicas = hosts[0], hosts[1:]
    change = (f"CHANGE REPLICATION SOURCE TO SOURCE_HOST={seed.quote(source['ip'])}, SOURCE_PORT=3306, "
              f"{_replication_sql(group)}, SOURCE_AUTO_POSITION=1, SOURCE_SSL=1, "
              # Reconnect every second, for a day: a restarted source is re-joined within seconds
              # (the default, 60 s x 10 tries, gives up during a slow source restart).
              "SOURCE_CONNECT_RETRY=1, SOURCE_RETRY_COUNT=86400;\nSTART REPLICA;\n")
    for replica in replicas:
        sql(fleet.host_exec, replica, change)
    gtids = sql(fleet.host_exec, source, _data_sql()).strip()
    for replica in replicas:
        _wait_gtids(fleet, replica, gtids)
        wait_replica_running(fleet, replica)
    log(f"{group['name']}: {source['name']} source, replicas {', '.join(r['name'] for r in replicas)}")


def _setup_gr(fleet, group, log):
    hosts = [fleet.hosts[n] for n in group["hosts"]]
    primary, secondaries = hosts[0], hosts[1:]
    # START GROUP_REPLICATION USER=... is not persisted: a member restarted later would have no credentials.
    for host in hosts:
        sql(fleet.host_exec, host, f"CHANGE REPLICATION SOURCE TO {_replication_sql(group)}"
                                   f" FOR CHANNEL '{RECOVERY_CHANNEL}';\n")
    sql(fleet.host_exec, primary, "SET GLOBAL group_replication_bootstrap_group=ON; START GROUP_REPLICATION;"
                                  " SET GLOBAL group_replication_bootstrap_group=OFF;\n")
    wait_member_online(fleet, primary)
    # One join at a time: each recovers from a donor, and the group's view changes once per join.
    for host in secondaries:
        sql(fleet.host_exec, host, "START GROUP_REPLICATION;\n")
        wait_member_online(fleet, host)
    gtids = sql(fleet.host_exec, primary, _data_sql()).strip()
    for host in secondaries:
        _wait_gtids(fleet, host, gtids)
    for host in hosts:
        start_on_boot_on(host)
    log(f"{group['name']}: {primary['name']} primary, secondaries {', '.join(h['name'] for h in secondaries)}")


def start_on_boot_on(host):
    path = util.host_path(host["root"], "/etc/mysql/my.cnf")
    text = path.read_text()
    util.write_host_file(host["root"], "/etc/mysql/my.cnf", text.replace(
        "group_replication_start_on_boot = OFF", "group_replication_start_on_boot = ON"))


def _wait_gtids(fleet, host, gtids):
    out = sql(fleet.host_exec, host, f"SELECT WAIT_FOR_EXECUTED_GTID_SET({seed.quote(gtids)}, {WAIT_SECONDS});\n",
              timeout=WAIT_SECONDS + 30).strip()
    if out != "0":
        raise util.SandboxError(f"{host['name']}: did not apply {gtids} within {WAIT_SECONDS}s: "
                                f"{replica_state(fleet, host)}")


def replica_state(fleet, host):
    return sql(fleet.host_exec, host,
               # The default channel's name is '': it goes last, where no strip() can lose it.
               "SELECT c.SERVICE_STATE, a.SERVICE_STATE, c.LAST_ERROR_MESSAGE, a.LAST_ERROR_MESSAGE, c.CHANNEL_NAME"
               " FROM performance_schema.replication_connection_status c"
               " JOIN performance_schema.replication_applier_status_by_worker a USING (CHANNEL_NAME);\n").strip()


def _poll(what, check, timeout=WAIT_SECONDS):
    deadline = time.monotonic() + timeout
    while True:
        ok, state = check()
        if ok:
            return state
        if time.monotonic() > deadline:
            raise util.SandboxError(f"{what} not reached within {timeout}s: {state}")
        time.sleep(0.3)


def wait_replica_running(fleet, host):
    def check():
        rows = [r.split("\t") for r in replica_state(fleet, host).splitlines()]
        return bool(rows) and all(r[0] == "ON" and r[1] == "ON" for r in rows), rows
    return _poll(f"{host['name']}: replication threads ON", check)


def wait_member_online(fleet, host):
    def check():
        state = sql(fleet.host_exec, host, "SELECT MEMBER_STATE FROM performance_schema.replication_group_members"
                                           " WHERE MEMBER_ID=@@GLOBAL.server_uuid;\n").strip()
        return state == "ONLINE", state
    return _poll(f"{host['name']}: group member ONLINE", check)
