# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sandbox fleet gives real, separate MySQL 9.7 hosts that Ansible reaches over SSH.

Everything below goes through `ansible` / `ansible-playbook` and SSH to each host, as the
collection's modules and role will; nothing talks to the servers behind Ansible's back.
"""

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

MYSQL = ["mysql", "-uroot", "--batch", "--skip-column-names", "-e"]


@pytest.fixture(scope="module")
def fleet(sandbox_fleet):
    return sandbox_fleet(n=3, plugin_host=True, mariadb=True)


def ok(results, hosts):
    """Assert the command succeeded on exactly these hosts; return {host: stdout}."""
    assert sorted(results) == sorted(hosts)
    for host, r in results.items():
        assert r.get("rc") == 0 and not r.get("failed"), f"{host}: {json.dumps(r, indent=2)[:2000]}"
    return {host: r["stdout"] for host, r in results.items()}


def test_each_host_is_its_own_machine(fleet):
    hosts = sorted(fleet.hosts)
    assert len(hosts) == 5
    out = ok(fleet.command("all", ["sh", "-c", "hostname; ip -o -4 addr show dev eth0"]), hosts)
    addrs = set()
    for host, text in out.items():
        name, addr_line = text.splitlines()[:2]
        assert name == host
        assert f" {fleet.hosts[host]['ansible_host']}/30 " in addr_line
        addrs.add(fleet.hosts[host]["ansible_host"])
    assert len(addrs) == len(hosts)
    # Own filesystem: a file written on one host is not on another.
    ok(fleet.command("mysql1", ["sh", "-c", "echo only-here > /root/marker"]), ["mysql1"])
    out = ok(fleet.command("mysql2", ["sh", "-c", "test -e /root/marker && echo present || echo absent"]), ["mysql2"])
    assert out["mysql2"] == "absent"


def test_keyring_operations_toggles(fleet):
    hosts = fleet.group("mysql")
    out = ok(fleet.command("mysql", [*MYSQL, "SET GLOBAL keyring_operations=OFF; SELECT @@GLOBAL.keyring_operations;"
                                     " SET GLOBAL keyring_operations=ON; SELECT @@GLOBAL.keyring_operations;"]), hosts)
    assert all(text.split() == ["0", "1"] for text in out.values()), out
    # The migration account's privileges are enough to toggle it, over TCP to the host address.
    migrate = ["mysql", "--batch", "--skip-column-names", "--protocol=TCP", "-h{{ ansible_host }}",
               "-u{{ mysql_accounts.migration.user }}", "-p{{ mysql_accounts.migration.password }}", "-e",
               "SET GLOBAL keyring_operations=OFF; SELECT @@GLOBAL.keyring_operations;"
               " SET GLOBAL keyring_operations=ON; SELECT @@GLOBAL.keyring_operations;"
               " SELECT COUNT(*) > 0 FROM performance_schema.keyring_keys;"
               " SELECT STATUS_VALUE FROM performance_schema.keyring_component_status"
               " WHERE STATUS_KEY='Component_status'"]
    out = ok(fleet.command("mysql", migrate), hosts)
    assert all(text.split() == ["0", "1", "1", "Active"] for text in out.values()), out
    # The non-SUPER account may not.
    app = ["mysql", "-u{{ mysql_accounts.unprivileged.user }}", "-p{{ mysql_accounts.unprivileged.password }}",
           "-e", "SET GLOBAL keyring_operations=OFF"]
    for host, r in fleet.command("mysql", app).items():
        assert r["rc"] != 0 and "ERROR 1227" in r["stderr"], (host, r["stderr"])
    out = ok(fleet.command("mysql", [*MYSQL, "SELECT @@GLOBAL.keyring_operations"]), hosts)
    assert set(out.values()) == {"1"}


def test_keys_of_every_type_and_owner_exist(fleet):
    hosts = fleet.group("mysql")
    listed = ok(fleet.command("mysql", [*MYSQL, "SELECT KEY_ID, KEY_OWNER FROM performance_schema.keyring_keys"]),
                hosts)
    stores = ok(fleet.command("mysql", ["cat", "{{ keyring_path }}"]), hosts)
    for host in hosts:
        expected = fleet.hosts[host]["keyring_expected_keys"]
        rows = {tuple((line + "\t").split("\t")[:2]) for line in listed[host].splitlines()}
        assert rows == {(k["id"], k["owner"]) for k in expected}
        assert {k["type"] for k in expected} == {"AES", "RSA", "SECRET"}
        assert len({k["owner"] for k in expected if k["owner"]}) >= 3
        assert any(k["id"].startswith("INNODBKey-") and k["owner"] == "" for k in expected)
        # The server's own keystore file agrees on every key's type.
        doc = json.loads(stores[host])
        on_disk = {(e["data_id"], e["user"]): e["data_type"] for e in doc["elements"]}
        assert on_disk == {(k["id"], k["owner"]): k["type"] for k in expected}
    # Hosts are separate servers: their InnoDB master keys differ.
    masters = {k["id"] for h in hosts for k in fleet.hosts[h]["keyring_expected_keys"] if k["owner"] == ""}
    assert len(masters) == len(hosts)
    out = ok(fleet.command("mysql", [*MYSQL, "SELECT keyring_key_type_fetch('root_aes_256'),"
                                     " keyring_key_type_fetch('root_rsa_2048'), keyring_key_type_fetch('root_secret')"]),
             hosts)
    assert all(text.split() == ["AES", "RSA", "SECRET"] for text in out.values()), out


def test_encrypted_tables_read_back(fleet):
    hosts = fleet.group("mysql")
    tables = fleet.hosts[hosts[0]]["encrypted_tables"]
    sql = ("SELECT NAME, ENCRYPTION FROM information_schema.INNODB_TABLESPACES WHERE NAME LIKE 'shop/%' ORDER BY NAME;"
           + "".join(f" SELECT '{t}', COUNT(*) FROM {t};" for t in tables))
    out = ok(fleet.command("mysql", [*MYSQL, sql]), hosts)
    for host, text in out.items():
        rows = dict(line.split("\t") for line in text.splitlines())
        for table, count in tables.items():
            assert rows[table.replace(".", "/")] == "Y", (host, rows)
            assert rows[table] == str(count), (host, rows)
        assert rows["shop/audit_log"] == "N"


def test_keystore_files_owned_by_mysql(fleet):
    hosts = fleet.group("mysql") + fleet.group("plugin")
    out = ok(fleet.command("mysql:plugin", ["stat", "-c", "%U:%G %a", "{{ keyring_path }}", "/var/lib/mysql-keyring"]),
             hosts)
    for host, text in out.items():
        file_line, dir_line = text.splitlines()
        assert file_line.split()[0] == "mysql:mysql", (host, text)
        assert dir_line == "mysql:mysql 750", (host, text)


def test_restart_through_the_service_script(fleet, tmp_path):
    """A play restarts each server the way a role's handler would, and proves it came back."""
    hosts = fleet.group("mysql")
    before = ok(fleet.command("mysql", ["cat", "/run/mysqld/mysqld.pid"]), hosts)
    play = [{"hosts": "mysql", "gather_facts": False, "tasks": [
        {"name": "restart through the host's service script",
         "ansible.builtin.command": {"argv": ["{{ mysql_service }}", "restart"]}, "register": "restart"},
        {"name": "server state after the restart", "register": "after",
         "ansible.builtin.command": {"argv": [*MYSQL,
                                              "SELECT VARIABLE_VALUE FROM performance_schema.global_status"
                                              " WHERE VARIABLE_NAME='Uptime';"
                                              " SELECT STATUS_VALUE FROM performance_schema.keyring_component_status"
                                              " WHERE STATUS_KEY='Component_status';"
                                              " SELECT @@GLOBAL.keyring_operations;"
                                              " SELECT COUNT(*) FROM shop.customers;"]}},
        {"name": "came back with the keyring active and encrypted data readable",
         "ansible.builtin.assert": {"that": [
             "after.stdout_lines[0] | int < 60",
             "after.stdout_lines[1] == 'Active'",
             "after.stdout_lines[2] == '1'",
             "after.stdout_lines[3] | int == encrypted_tables['shop.customers']"]}},
        {"name": "the service script reports it running",
         "ansible.builtin.command": {"argv": ["{{ mysql_service }}", "status"]}},
    ]}]
    path = tmp_path / "restart.yml"
    path.write_text(json.dumps(play, indent=2))
    res = fleet.playbook(path)
    assert res.returncode == 0, res.stdout + res.stderr
    for host in hosts:
        assert re.search(rf"^{host}\s+: ok=4\s+changed=3\s.*failed=0", res.stdout, re.M), res.stdout
    after = ok(fleet.command("mysql", ["cat", "/run/mysqld/mysqld.pid"]), hosts)
    assert all(after[h] != before[h] for h in hosts), (before, after)


def test_mariadb_host_has_no_keyring_operations(fleet):
    results = fleet.command("mariadb", [*MYSQL, "SELECT @@GLOBAL.keyring_operations"])
    assert list(results) == ["mariadb1"]
    r = results["mariadb1"]
    assert r["rc"] == 1 and "ERROR 1193" in r["stderr"], r
    out = ok(fleet.command("mariadb", [*MYSQL, "SELECT VERSION()"]), ["mariadb1"])
    assert "10.11." in out["mariadb1"] and "MariaDB" in out["mariadb1"]


def test_plugin_host_holds_the_plugin_keystore(fleet):
    host = fleet.hosts["plugin1"]
    assert host["keyring_type"] == "keyring_file"
    want = hashlib.sha256(Path(host["keyring_vector"]).read_bytes()).hexdigest()
    out = ok(fleet.command("plugin", ["sha256sum", "{{ keyring_path }}"]), ["plugin1"])
    assert out["plugin1"].split()[0] == want
    status = fleet.command("plugin", ["{{ mysql_service }}", "status"])["plugin1"]
    assert status["rc"] == 3 and "not running" in status["stdout"]  # offline-only host


def _fleet_pids(fleet):
    pids = [r["pid"] for r in fleet.state["resources"] if r["type"] == "process"]
    for host in fleet.hosts.values():
        pidfile = Path(host["keyops_sandbox_root"]) / "run/mysqld/mysqld.pid"
        if pidfile.exists():
            pids.append(int(pidfile.read_text()))
    return pids


def _alive(pid):
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def test_down_leaves_nothing(sandbox_fleet):
    fleet = sandbox_fleet(n=1, plugin_host=True, mariadb=True, fresh=True)
    fid = fleet.state["fleet_id"]
    # Use it over SSH once, so sessions and their processes existed.
    ok(fleet.command("all", ["true"]), list(fleet.hosts))
    pids = _fleet_pids(fleet)
    assert len(pids) == 5 and all(_alive(p) for p in pids)  # 3 sshd, 2 servers
    fleet.down()
    assert [p for p in pids if _alive(p)] == []
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    assert [m for m in mounts if m.startswith(str(fleet.state_dir))] == []
    netns = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    assert [n for n in netns if n.startswith(f"keyops-f{fid}-")] == []
    assert [n for n in os.listdir("/sys/class/net") if n.startswith(f"kf{fid}h")] == []
    # No ssh client or multiplexer left holding the fleet's key.
    key = fleet.ssh_key
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            assert key not in cmdline, cmdline
    assert not Path(f"/run/keyops-sandbox/fleet-{fid}.json").exists()


def test_bad_input_is_refused_and_leaves_nothing(fleet, sandbox_cli, tmp_path):
    busy = fleet.state["fleet_id"]
    for args, message in ((["--hosts", "1", "--fleet-id", str(busy)], f"fleet {busy} collides"),
                          (["--hosts", "500"], "1 to 62 hosts"),
                          (["--hosts", "1", "--state-dir", str(fleet.state_dir)], "already holds a fleet")):
        state = tmp_path / "new-fleet"
        if "--state-dir" not in args:
            args = [*args, "--state-dir", str(state)]
        res = sandbox_cli("up", *args, timeout=120)
        assert res.returncode == 1 and message in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
        assert not state.exists()
    # The running fleet was not disturbed.
    ok(fleet.command("mysql1", [*MYSQL, "SELECT 1"]), ["mysql1"])
