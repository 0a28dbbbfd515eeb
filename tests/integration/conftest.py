# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest fixtures for tests against real servers: a fleet of sandbox hosts (tests/sandbox).

    def test_something(sandbox_fleet):
        fleet = sandbox_fleet(n=3, mariadb=True)      # brought up once per session and arguments
        results = fleet.command("mysql", ["mysql", "-uroot", "-e", "SELECT 1"])   # over real SSH

The fleet needs root and Linux. Without them the tests are skipped with the reason shown;
with KEYOPS_SANDBOX_REQUIRED=1 (CI) they fail instead, so CI can never silently skip them.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NEEDED_COMMANDS = ("ip", "mount", "umount", "chroot", "nsenter", "unshare", "ssh", "ssh-keygen")


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: runs against real servers of the sandbox fleet (needs root)")


def sandbox_unavailable():
    """Why this machine cannot run the sandbox, or None."""
    if sys.platform != "linux":
        return "the sandbox fleet needs Linux (network namespaces, overlayfs)"
    if os.geteuid() != 0:
        return "the sandbox fleet needs root (network namespaces, mounts, chroot)"
    missing = [c for c in NEEDED_COMMANDS if shutil.which(c) is None]
    if missing:
        return f"the sandbox fleet needs the commands {', '.join(missing)}"
    return None


def sandbox_cli(*args, timeout=1800):
    """Run `python -m tests.sandbox ARGS` the way CI and the demo do."""
    return subprocess.run([sys.executable, "-m", "tests.sandbox", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, check=False)


class SandboxFleet:
    """A running fleet: its inventory, hosts (name -> inventory host vars) and Ansible helpers."""

    def __init__(self, state_dir, ansible_home):
        self.state_dir = Path(state_dir)
        self.ansible_home = Path(ansible_home)
        self.state = json.loads((self.state_dir / "fleet.json").read_text())
        self.inventory = Path(self.state["inventory"])
        self.ssh_key = self.state["ssh_key"]
        self.hosts = {name: h["vars"] for name, h in self.state["hosts"].items()}
        self._runs = 0

    def group(self, kind):
        return sorted(n for n, v in self.hosts.items() if v["keyops_sandbox_kind"] == kind)

    def replication_group(self, name):
        """The hosts of a replication group (e.g. "async1", "gr1"), source or primary first."""
        return sorted((n for n, v in self.hosts.items() if v.get("mysql_replication_group") == name),
                      key=lambda n: self.hosts[n]["mysql_server_id"])

    def ansible_env(self, **extra):
        env = dict(os.environ, ANSIBLE_HOME=str(self.ansible_home), ANSIBLE_HOST_KEY_CHECKING="False",
                   ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(extra)
        return env

    def ansible_bin(self, name):
        local = Path(sys.executable).parent / name
        return str(local) if local.exists() else name

    def command(self, pattern, argv, stdin=None, timeout=300):
        """Run ansible.builtin.command with argv (Jinja allowed: host vars) on every host of pattern
        through `ansible` over SSH; return {host: module result}."""
        self._runs += 1
        tree = self.state_dir / "ansible-results" / str(self._runs)
        args = {"argv": argv}
        if stdin is not None:
            args["stdin"] = stdin
        res = subprocess.run(
            [self.ansible_bin("ansible"), "-i", str(self.inventory), pattern, "-m", "ansible.builtin.command",
             "-a", json.dumps(args), "--forks", "10"],
            env=self.ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
                                 ANSIBLE_CALLBACK_TREE_DIR=str(tree)),
            cwd=self.state_dir, capture_output=True, text=True, timeout=timeout, check=False)
        results = {p.name: json.loads(p.read_text()) for p in tree.glob("*")} if tree.is_dir() else {}
        if not results:
            raise AssertionError(f"ansible returned no results (rc {res.returncode}):\n{res.stdout}\n{res.stderr}")
        return results

    def playbook(self, path, timeout=600):
        """Run ansible-playbook against the fleet; return the CompletedProcess."""
        return subprocess.run([self.ansible_bin("ansible-playbook"), "-i", str(self.inventory), str(path)],
                              env=self.ansible_env(), cwd=self.state_dir, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def query(self, host, sql):
        """The rows of sql, run as root@localhost over the host's socket (its root is mounted on the controller)."""
        import pymysql
        conn = pymysql.connect(unix_socket=self.hosts[host]["keyops_sandbox_root"] + "/run/mysqld/mysqld.sock",
                               user="root", autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        finally:
            conn.close()

    def down(self):
        """Stop the fleet; fail if anything it started is left."""
        res = sandbox_cli("down", "--state-dir", self.state_dir, timeout=600)
        if res.returncode != 0:
            raise AssertionError(f"sandbox down failed:\n{res.stdout}\n{res.stderr}")
        return res


@pytest.fixture(name="sandbox_cli", scope="session")
def sandbox_cli_fixture():
    """The sandbox CLI as a function: sandbox_cli("status", "--state-dir", d) -> CompletedProcess."""
    return sandbox_cli


@pytest.fixture(scope="session")
def sandbox_fleet():
    """Factory: sandbox_fleet(n=3, plugin_host=False, mariadb=False, topology=None) -> SandboxFleet.

    Each distinct set of arguments is brought up once per session and torn down at its end;
    fresh=True gives a fleet of the caller's own (the caller brings it down)."""
    reason = sandbox_unavailable()
    fleets, failures, own = {}, {}, []
    home = Path(tempfile.mkdtemp(prefix="keyops-ansible-home-"))

    def get(n=3, plugin_host=False, mariadb=False, fresh=False, topology=None):
        if reason:
            if os.environ.get("KEYOPS_SANDBOX_REQUIRED") == "1":
                pytest.fail(f"KEYOPS_SANDBOX_REQUIRED=1 but {reason}")
            pytest.skip(reason)
        key = (n, plugin_host, mariadb, topology)
        if key in failures:
            pytest.fail(failures[key])
        if key in fleets and not fresh:
            return fleets[key]
        # Not under pytest's basetemp: pytest prunes old basetemps with rmtree, which must never
        # meet a host's mounts if a run was killed before its teardown.
        state = tempfile.mkdtemp(prefix="keyops-fleet-")
        args = ["up", "--hosts", n, "--state-dir", state] + ["--plugin-host"] * plugin_host + ["--mariadb"] * mariadb
        args += ["--topology", topology] if topology else []
        res = sandbox_cli(*args)
        if res.returncode != 0:
            msg = f"sandbox up failed (rc {res.returncode}):\n{res.stdout}\n{res.stderr}"
            if not fresh:
                failures[key] = msg
            pytest.fail(msg)
        fleet = SandboxFleet(state, home)
        if fresh:
            own.append(fleet)
        else:
            fleets[key] = fleet
        return fleet

    yield get
    errors = []
    for fleet in list(fleets.values()) + own:
        try:
            if json.loads((fleet.state_dir / "fleet.json").read_text())["status"] != "down":
                fleet.down()
            # `down` succeeded, so no mount is left under the state dir: a plain rmtree is safe.
            shutil.rmtree(fleet.state_dir)
        except AssertionError as exc:
            errors.append(str(exc))
    shutil.rmtree(home, ignore_errors=True)
    if errors:
        pytest.fail("\n".join(errors))
