# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, describe and stop a fleet of sandbox hosts.

A host is as close to a separate machine as one box allows without containers:

* filesystem: an overlay over the shared cached root (its own upper dir), with its own /proc,
  a small private /dev and a private devpts (sshd needs ptys for Ansible);
* network: its own network namespace with a veth pair; the controller side is .1 of a /30,
  the host .2, inside 10.231.<fleet>.0/24;
* sshd: started in that namespace and chroot (and its own UTS namespace, for the hostname);
* server: MySQL 9.7 (or MariaDB 10.11) at the standard port and paths, started as mysql by
  /usr/local/sbin/mysql-service inside the host.

Every resource is appended to <state-dir>/fleet.json as soon as it exists, so `down`
(and a failing `up`) undo exactly what was made, in reverse order, processes by PID.
"""

import concurrent.futures
import fcntl
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

from . import rootfs, seed, topology, util

SUBNET = "10.231"
NETNS_PREFIX = "keyops-"
REGISTRY = Path("/run/keyops-sandbox")  # tmpfs: forgotten on reboot, as are namespaces and mounts
MAX_FLEETS = 64
MAX_HOSTS = 62  # /30 per host in a /24
# Planning figures for the memory check (measured RSS plus headroom).
MEMORY_MIB = {"mysql": 320, "plugin": 30, "mariadb": 150}
# Extra for a host in a replication group (replication threads, Group Replication's plugin and caches).
TOPOLOGY_MEMORY_MIB = {"async": 20, "gr": 120}  # measured: ~250 MiB async, ~360 MiB GR
MEMORY_RESERVE_MIB = 1024

SERVICE_SCRIPT = "/usr/local/sbin/mysql-service"
SOCKET = "/run/mysqld/mysqld.sock"
KEYSTORE_DIR = "/var/lib/mysql-keyring"
COMPONENT_KEYSTORE = f"{KEYSTORE_DIR}/component_keyring_file"
PLUGIN_KEYSTORE = f"{KEYSTORE_DIR}/keyring"
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
FILES = Path(__file__).resolve().parent / "files"
REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_VECTOR = "keyring_file/plugin_keyring_file_data.v2"

SSH_OPTIONS = ["-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
               "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]


def vectors_dir():
    return Path(os.environ.get("KEYOPS_SANDBOX_VECTORS") or REPO_ROOT.parent / "shared" / "vectors")


class Fleet:
    def __init__(self, state_dir, log=print):
        self.dir = Path(state_dir).resolve()
        self.file = self.dir / "fleet.json"
        self.log = log
        self.state = json.loads(self.file.read_text()) if self.file.exists() else None
        self._lock = threading.RLock()  # servers start in threads; each records resources

    # ----------------------------------------------------------------- bookkeeping
    def save(self):
        with self._lock:
            tmp = self.file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.state, indent=2) + "\n")
            tmp.replace(self.file)  # atomic: a crash never leaves a torn fleet.json

    def record(self, **resource):
        with self._lock:
            self.state["resources"].append(resource)
            self.save()

    @property
    def hosts(self):
        return self.state["hosts"] if self.state else {}

    @property
    def topology(self):
        return self.state.get("topology") or [] if self.state else []

    @property
    def inventory(self):
        return self.dir / "inventory.yml"

    # ----------------------------------------------------------------- up
    def up(self, mysql_hosts=1, plugin_host=False, mariadb=False, fleet_id=None, topology_spec=None):
        started = time.monotonic()
        plan = [(f"mysql{i}", "mysql") for i in range(1, mysql_hosts + 1)]
        plan += [("plugin1", "plugin")] if plugin_host else []
        plan += [("mariadb1", "mariadb")] if mariadb else []
        groups = topology.parse(topology_spec, mysql_hosts) if topology_spec is not None else []
        self._preflight(plan, groups)
        roots = {"mysql": rootfs.ensure_root("mysql", log=self.log)}
        if mariadb:
            roots["mariadb"] = rootfs.ensure_root("mariadb", log=self.log)
        REGISTRY.mkdir(parents=True, exist_ok=True)
        with open(REGISTRY / ".lock", "w") as lock:
            # Serialise id allocation between concurrent `up`s.
            fcntl.flock(lock, fcntl.LOCK_EX)
            fid = self._allocate_id(fleet_id)  # before anything is made: a clash leaves nothing behind
            if self.file.exists():  # a fleet that was brought down here: reuse the dir
                for p in self.dir.iterdir():
                    util.safe_rmtree(p) if p.is_dir() else p.unlink()
            self.dir.mkdir(parents=True, exist_ok=True)
            self.state = {"fleet_id": fid, "state_dir": str(self.dir), "status": "starting", "up_pid": os.getpid(),
                          "roots": {k: str(v) for k, v in roots.items()}, "resources": [], "hosts": {},
                          "topology": groups}
            self.save()
            (REGISTRY / f"fleet-{fid}.json").write_text(json.dumps({"state_dir": str(self.dir)}) + "\n")
            self.record(type="registry", path=str(REGISTRY / f"fleet-{fid}.json"))
        try:
            self._up(plan, roots, fid)
        except BaseException as exc:  # includes KeyboardInterrupt/SIGTERM: never leave half a fleet
            self.log(f"up failed ({exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''});"
                     " tearing down what was started")
            self.state["status"] = "failed"
            self.save()
            try:
                self.down()
            except Exception as down_exc:  # report both; the original error is the one raised
                self.log(f"teardown after failed up also failed: {down_exc}")
            raise
        self.state["status"] = "up"
        self.state["up_seconds"] = round(time.monotonic() - started, 1)
        self.save()
        return self

    def _preflight(self, plan, groups):
        if os.geteuid() != 0:
            raise util.SandboxError("the sandbox needs root (network namespaces, mounts, chroot); run it as root")
        util.require_commands(["ip", "mount", "umount", "chroot", "nsenter", "unshare", "ssh", "ssh-keygen"],
                              "to run sandbox hosts (apt-get install -y iproute2 util-linux openssh-client)")
        if not 1 <= len(plan) <= MAX_HOSTS or not any(k == "mysql" for _name, k in plan):
            raise util.SandboxError(f"a fleet has 1 to {MAX_HOSTS} hosts including at least one MySQL host")
        if any(c in str(self.dir) for c in ":,= \n"):
            raise util.SandboxError(f"state dir {self.dir} must not contain ':', ',', '=' or spaces (overlay options)")
        if self.file.exists() and json.loads(self.file.read_text()).get("status") != "down":
            raise util.SandboxError(f"{self.dir} already holds a fleet; run `down --state-dir {self.dir}` first")
        if self.dir.exists() and not self.file.exists() and any(self.dir.iterdir()):
            raise util.SandboxError(f"state dir {self.dir} is not empty and holds no fleet")
        need = sum(MEMORY_MIB[k] for _name, k in plan) + MEMORY_RESERVE_MIB
        need += sum(TOPOLOGY_MEMORY_MIB[g["kind"]] * len(g["hosts"]) for g in groups)
        avail = _mem_available_mib()
        if need > avail:
            raise util.SandboxError(f"{len(plan)} hosts need about {need} MiB of memory, only {avail} MiB available;"
                                    " ask for fewer hosts")
        if any(k == "plugin" for _name, k in plan) and not (vectors_dir() / PLUGIN_VECTOR).is_file():
            raise util.SandboxError(f"plugin host needs the vector {vectors_dir() / PLUGIN_VECTOR}"
                                    " (set KEYOPS_SANDBOX_VECTORS to the shared vectors dir)")

    def _allocate_id(self, wanted):
        for fid in ([wanted] if wanted is not None else range(MAX_FLEETS)):
            if not 0 <= fid < MAX_FLEETS:
                raise util.SandboxError(f"fleet id must be 0..{MAX_FLEETS - 1}")
            clash = _fleet_collision(fid)
            if clash is None:
                return fid
            if wanted is not None:
                raise util.SandboxError(f"fleet {fid} collides with something already on this machine: {clash}")
        raise util.SandboxError(f"all {MAX_FLEETS} fleet ids are in use (see `ip netns list`, {REGISTRY})")

    def _up(self, plan, roots, fid):
        key = self.dir / "ssh" / "id_ed25519"
        key.parent.mkdir(mode=0o700)
        util.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"keyops-sandbox-{fid}", "-f", key])
        self.state["ssh_key"] = str(key)
        accounts = seed.accounts()
        for index, (name, kind) in enumerate(plan, start=1):
            self._make_host(name, kind, index, roots["mariadb" if kind == "mariadb" else "mysql"], fid, accounts)
        # Servers start and seed in parallel: first starts are I/O and CPU bound (2 cores).
        servers = [h for h in self.hosts.values() if h["kind"] in ("mysql", "mariadb")]
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            for future in [pool.submit(self._start_server, h) for h in servers]:
                future.result()
        if self.topology:
            topology.setup(self, self.topology, log=self.log)
            for name in (n for g in self.topology for n in g["hosts"]):
                # Replication added keys (binary log keys, the replicated master key rotation).
                self._record_keys(self.hosts[name])
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            for future in [pool.submit(self._check_ssh, h) for h in self.hosts.values()]:
                future.result()
        self._write_inventory()

    def _make_host(self, name, kind, index, lower, fid, accounts):
        hdir = self.dir / "hosts" / name
        upper, work, root = hdir / "upper", hdir / "work", hdir / "root"
        for d in (upper, work, root):
            d.mkdir(parents=True)
        host = {"name": name, "kind": kind, "index": index, "dir": str(hdir), "root": str(root),
                "ip": _host_ip(fid, index), "controller_ip": f"{SUBNET}.{fid}.{4 * index - 3}",
                "netns": f"{NETNS_PREFIX}f{fid}-{name}", "link": f"kf{fid}h{index}", "lower": str(lower),
                "replication": topology.member(self.topology, name)}
        if host["replication"]:
            accounts = topology.accounts(accounts, topology.group_of(self.topology, name))
        self.state["hosts"][name] = host
        self.save()

        # Filesystem view.
        self._mount(["-t", "overlay", "overlay", "-o", f"lowerdir={lower},upperdir={upper},workdir={work}"], root)
        self._mount(["-t", "proc", "proc"], root / "proc")
        self._mount(["-t", "tmpfs", "-o", "mode=755,size=1m", "tmpfs"], root / "dev")
        for node in DEV_NODES:
            (root / "dev" / node).touch()
            self._mount(["--bind", f"/dev/{node}"], root / "dev" / node)
        (root / "dev" / "pts").mkdir()
        # A private devpts instance: with the controller's /dev, sshd cannot allocate ptys.
        self._mount(["-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=620", "devpts"], root / "dev" / "pts")
        (root / "dev" / "ptmx").symlink_to("pts/ptmx")
        (root / "dev" / "shm").mkdir()
        self._mount(["-t", "tmpfs", "-o", "mode=1777,size=16m", "tmpfs"], root / "dev" / "shm")

        # Network: own namespace, a /30 to the controller.
        util.run(["ip", "netns", "add", host["netns"]])
        self.record(type="netns", name=host["netns"])
        util.run(["ip", "link", "add", host["link"], "type", "veth", "peer", "name", host["link"] + "p"])
        self.record(type="link", name=host["link"])
        ns = ["ip", "-n", host["netns"]]
        util.run(["ip", "link", "set", host["link"] + "p", "netns", host["netns"]])
        util.run([*ns, "link", "set", host["link"] + "p", "name", "eth0"])
        util.run(["ip", "addr", "add", f"{host['controller_ip']}/30", "dev", host["link"]])
        util.run(["ip", "link", "set", host["link"], "up"])
        util.run([*ns, "addr", "add", f"{host['ip']}/30", "dev", "eth0"])
        util.run([*ns, "link", "set", "eth0", "up"])
        util.run([*ns, "link", "set", "lo", "up"])
        if self.topology:
            # Hosts reach each other through the controller, which forwards between this fleet's
            # veths only (per-interface forwarding; the global ip_forward stays as it is).
            util.run([*ns, "route", "add", f"{SUBNET}.{fid}.0/24", "via", host["controller_ip"]])
            self.record(type="route", netns=host["netns"], dest=f"{SUBNET}.{fid}.0/24")
            _set_forwarding(host["link"], True)
            self.record(type="forwarding", link=host["link"])
        # In reverse order this runs after the service stop and the sshd kill, before the
        # namespace and the mounts go: it ends whatever else still runs inside the host.
        self.record(type="sweep", host=name, root=str(root), netns=host["netns"])

        self._write_host_files(host, accounts)
        self._start_sshd(host)

    def _mount(self, args, target):
        util.run(["mount", *args, target])
        self.record(type="mount", target=str(target))

    def _write_host_files(self, host, accounts):
        root, name, kind = host["root"], host["name"], host["kind"]
        mysql_ids = util.user_ids(root, "mysql")
        util.write_host_file(root, "/etc/hostname", name + "\n")
        util.write_host_file(root, "/etc/hosts", f"127.0.0.1 localhost\n{host['ip']} {name}\n")
        util.host_path(root, "/root/.ssh").mkdir(mode=0o700, exist_ok=True)
        pub = Path(self.state["ssh_key"] + ".pub").read_text()
        util.write_host_file(root, "/root/.ssh/authorized_keys", pub, mode=0o600)
        util.write_host_file(root, "/etc/ssh/sshd_config.d/keyops-sandbox.conf", "\n".join([
            "# keyops sandbox: key-only root login on the host's own address",
            f"ListenAddress {host['ip']}", "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UseDNS no", "HostKey /etc/ssh/ssh_host_ed25519_key",
            # A test can hold a module at a fault-injection point (plugins/module_utils/keystore/faults.py) in a play
            # it cannot add `environment` to - a shipped playbook run as AWX runs it - with ssh -o SetEnv.
            "AcceptEnv KEYOPS_FAULT_INJECT", ""]))
        util.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name}",
                  "-f", util.host_path(root, "/etc/ssh/ssh_host_ed25519_key")])
        util.host_path(root, "/run/sshd").mkdir(mode=0o755, exist_ok=True)

        server = "/usr/sbin/mariadbd" if kind == "mariadb" else "/usr/sbin/mysqld"
        util.write_host_file(root, "/etc/default/mysql-service", "\n".join([
            "# Read by /usr/local/sbin/mysql-service (keyops sandbox).",
            f"NAME={'mariadb' if kind == 'mariadb' else 'mysql'}", f"SERVER={server}",
            "DEFAULTS=/etc/mysql/my.cnf", "PIDFILE=/run/mysqld/mysqld.pid", f"SOCKET={SOCKET}",
            "LOG=/var/log/mysql/error.log", ""]))
        util.write_host_file(root, SERVICE_SCRIPT, (FILES / "mysql-service").read_text(), mode=0o755)
        recipe = rootfs.RECIPES["mariadb" if kind == "mariadb" else "mysql"]
        bind = "0.0.0.0" if kind == "mariadb" else f"{host['ip']},127.0.0.1"
        lines = [f"# keyops sandbox host {name}", "[mysqld]", "user = mysql", "datadir = /var/lib/mysql",
                 f"socket = {SOCKET}", "pid-file = /run/mysqld/mysqld.pid", "log-error = /var/log/mysql/error.log",
                 "port = 3306", f"bind-address = {bind}", "skip-name-resolve", 'secure-file-priv = ""']
        lines += ["mysqlx = OFF"] if kind != "mariadb" else []
        lines += [f"{k} = {v}" for k, v in recipe["small_options"].items()]
        if host.get("replication"):
            # mysqlN is host N: its address follows from the fleet id.
            fid = self.state["fleet_id"]
            lines += topology.server_options(self.topology, name, lambda n: _host_ip(fid, int(n[5:])), fid)
        lines += ["", "[client]", f"socket = {SOCKET}", ""]
        util.write_host_file(root, "/etc/mysql/my.cnf", "\n".join(lines))

        if kind == "mysql":
            # Per-host keystore: the global manifest/config in the root defer to these.
            util.write_host_file(root, "/var/lib/mysql/mysqld.my", '{"components": "file://component_keyring_file"}\n',
                                 mode=0o640, owner=mysql_ids)
            util.write_host_file(root, "/var/lib/mysql/component_keyring_file.cnf",
                                 json.dumps({"path": COMPONENT_KEYSTORE, "read_only": False}) + "\n",
                                 mode=0o640, owner=mysql_ids)
        elif kind == "plugin":
            # A 5.7/8.0 keyring_file plugin keystore, for offline migration only (9.7 cannot load
            # the plugin, so this host's server is left stopped). Copied at run time: vector files
            # are never committed to the repository.
            data = (vectors_dir() / PLUGIN_VECTOR).read_bytes()
            util.write_host_file(root, PLUGIN_KEYSTORE, data, mode=0o640, owner=mysql_ids)

        host["vars"] = self._host_vars(host, accounts)
        self.save()

    def _start_sshd(self, host):
        log = open(Path(host["dir"]) / "sshd.log", "ab")
        # ip netns exec, unshare, sh and chroot all exec: the PID we get is sshd's.
        proc = subprocess.Popen(
            ["ip", "netns", "exec", host["netns"], "unshare", "--uts", "--", "sh", "-c",
             'hostname "$1" && exec chroot "$2" /usr/sbin/sshd -D -e', "sh", host["name"], host["root"]],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        host["sshd_pid"] = proc.pid
        self.record(type="process", pid=proc.pid, start_time=util.proc_start_time(proc.pid),
                    what=f"sshd {host['name']}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise util.SandboxError(f"sshd on {host['name']} exited: "
                                        f"{(Path(host['dir']) / 'sshd.log').read_text()[-800:]}")
            try:
                socket.create_connection((host["ip"], 22), timeout=0.5).close()
                # Keep the Popen object from warning; the PID is what teardown uses.
                proc.returncode = 0
                return
            except OSError:
                time.sleep(0.05)
        raise util.SandboxError(f"sshd on {host['name']} ({host['ip']}:22) not reachable after 20 s")

    def host_exec(self, host, cmd, input=None, timeout=180, check=True):
        """Run cmd inside the host: its network, hostname, mounts and root (like an SSH session)."""
        return util.run(["nsenter", "-t", str(host["sshd_pid"]), "-n", "-u", "-m", "-r", "-w", *cmd],
                        input=input, timeout=timeout, check=check)

    def _start_server(self, host):
        self.record(type="service", host=host["name"], root=host["root"])
        self.host_exec(host, [SERVICE_SCRIPT, "start"])
        if host["kind"] == "mysql":
            self._seed(host)

    def _seed(self, host):
        accts = host["vars"]["mysql_accounts"]
        mysql = ["mysql", "--batch", "--skip-column-names"]
        self.host_exec(host, [*mysql, "-uroot"], input=seed.root_sql(accts))
        for owner in seed.KEYS:
            acct = seed.owner_account(owner, accts)
            out = self.host_exec(host, [*mysql, f"--user={acct['user']}", f"--password={acct['password']}",
                                        seed.DATABASE], input=seed.key_sql(owner)).stdout.split()
            if out != ["1"] * len(seed.KEYS[owner]):
                raise util.SandboxError(f"{host['name']}: making keys for {owner} returned {out}")
        self._record_keys(host)

    def _record_keys(self, host):
        accts = host["vars"]["mysql_accounts"]
        mysql = ["mysql", "--batch", "--skip-column-names"]
        out = self.host_exec(host, [*mysql, "-uroot", "-e",
                                    "SELECT KEY_ID, KEY_OWNER FROM performance_schema.keyring_keys"]).stdout
        listed = [tuple((line + "\t").split("\t")[:2]) for line in out.splitlines() if line]
        host["vars"]["keyring_expected_keys"] = seed.expected_keys(listed, accts)
        self.save()

    def _check_ssh(self, host):
        res = util.run(["ssh", *SSH_OPTIONS, "-i", self.state["ssh_key"], f"root@{host['ip']}", "hostname"],
                       timeout=30, check=False)
        if res.returncode != 0 or res.stdout.strip() != host["name"]:
            raise util.SandboxError(f"ssh root@{host['ip']} ({host['name']}) failed: {res.stderr.strip()}")

    def _host_vars(self, host, accounts):
        kind = host["kind"]
        info = rootfs.root_info(host["lower"])
        v = {"ansible_host": host["ip"], "keyops_sandbox_kind": kind, "keyops_sandbox_root": host["root"],
             "mysql_service": SERVICE_SCRIPT, "mysql_socket": SOCKET, "mysql_port": 3306,
             "mysql_datadir": "/var/lib/mysql", "mysql_config_file": "/etc/mysql/my.cnf",
             "mysql_server_version": info["server_version"], "mysql_running": kind != "plugin"}
        if kind == "mysql":
            v.update(keyring_type="component_keyring_file", keyring_path=COMPONENT_KEYSTORE,
                     keyring_component_manifest="/var/lib/mysql/mysqld.my",
                     keyring_component_config="/var/lib/mysql/component_keyring_file.cnf",
                     mysql_accounts=accounts, keyring_expected_keys=[],
                     encrypted_tables={f"{seed.DATABASE}.{t}": len(rows) for t, (_schema, rows) in seed.ENCRYPTED_TABLES.items()})
            repl = host.get("replication")
            if repl:
                v.update(mysql_replication_group=repl["group"], mysql_replication_role=repl["role"],
                         mysql_server_id=repl["server_id"],
                         replicated_tables={f"{topology.DATABASE}.{t}": len(rows)
                                            for t, (_c, rows) in topology.TABLES.items()})
                if repl["source"]:
                    v["mysql_replication_source"] = repl["source"]
        elif kind == "plugin":
            v.update(keyring_type="keyring_file", keyring_path=PLUGIN_KEYSTORE,
                     keyring_vector=str(vectors_dir() / PLUGIN_VECTOR))
        else:
            v.update(keyring_type="none", mysql_accounts={"root": accounts["root"]})
        return v

    def _write_inventory(self):
        groups = {"mysql": "component_keyring_file keystores, server running, seeded",
                  "plugin": "keyring_file plugin keystore, server stopped (offline scenarios)",
                  "mariadb": "MariaDB 10.11, no MySQL keyring"}
        inv = {"all": {"vars": {
            "ansible_user": "root", "ansible_ssh_private_key_file": self.state["ssh_key"],
            "ansible_python_interpreter": "/usr/bin/python3",
            # ssh_args replaces Ansible's default "-o ControlMaster=auto -o ControlPersist=60s":
            # no mux processes outlive a run.
            "ansible_ssh_args": "-o ControlMaster=no -o ControlPath=none",
            "ansible_ssh_common_args": " ".join(SSH_OPTIONS),
            "ansible_pipelining": True,
            "keyops_sandbox_state_dir": str(self.dir)},
            "children": {g: {"hosts": {n: h["vars"] for n, h in self.hosts.items() if h["kind"] == g}}
                         for g in groups if any(h["kind"] == g for h in self.hosts.values())}}}
        for group in self.topology:  # host vars are in the kind groups above
            inv["all"]["children"][group["name"]] = {"hosts": {n: {} for n in group["hosts"]}}
        header = "# keyops sandbox fleet inventory (JSON, which is YAML). Groups:\n"
        header += "".join(f"#   {g}: {d}\n" for g, d in groups.items())
        header += "".join(f"#   {g['name']}: {g['kind']} replication group\n" for g in self.topology)
        self.inventory.write_text(header + json.dumps(inv, indent=2) + "\n")
        self.inventory.chmod(0o600)  # holds account passwords
        self.state["inventory"] = str(self.inventory)
        self.save()

    # ----------------------------------------------------------------- down
    def down(self):
        """Undo every recorded resource in reverse order; then check nothing is left."""
        if not self.state:
            self.log(f"no fleet in {self.dir}")
            return
        errors = []

        def undo(res):
            try:
                self._undo(res)
            except Exception as exc:  # keep going: leave as little behind as possible
                errors.append(f"{res['type']}: {exc}")

        resources = list(reversed(self.state["resources"]))
        # Servers were the last things started; they stop first, together (a clean InnoDB
        # shutdown takes 2-3 s each). Everything else goes one by one in reverse order.
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(undo, [r for r in resources if r["type"] == "service"]))
        for res in resources:
            if res["type"] != "service":
                undo(res)
        left = self.leftovers()
        self.state["resources"] = []
        self.state["status"] = "down"
        self.save()
        if errors or left:
            raise util.SandboxError("teardown incomplete: " + "; ".join(errors + left))
        self._keep_logs()
        util.safe_rmtree(self.dir / "hosts")
        self.log(f"fleet {self.state['fleet_id']} down: {len(self.hosts)} host(s) stopped, nothing left running")

    def _keep_logs(self):
        """Keep each host's sshd and server logs (for a failed CI run) before its files go."""
        logs = self.dir / "logs"
        for host in self.hosts.values():
            hdir = Path(host["dir"])
            for src, name in ((hdir / "sshd.log", "sshd.log"), (hdir / "upper/var/log/mysql/error.log", "error.log")):
                if src.is_file() and not src.is_symlink():
                    logs.mkdir(exist_ok=True)
                    (logs / f"{host['name']}-{name}").write_bytes(src.read_bytes())

    def _undo(self, res):
        kind = res["type"]
        if kind == "service":
            host = self.hosts[res["host"]]
            if util.alive(host.get("sshd_pid", 0)):
                # A clean shutdown, like a real host going down.
                self.host_exec(host, [SERVICE_SCRIPT, "stop"], timeout=90, check=False)
        elif kind == "process":
            util.kill_and_wait([(res["pid"], res["start_time"])])
        elif kind == "sweep":
            left = set(util.processes_in_root(res["root"])) | set(util.processes_in_netns(res["netns"]))
            killed = util.kill_and_wait(sorted(left))
            if killed:
                self.log(f"{res['host']}: ended leftover processes {killed}")
        elif kind == "forwarding":
            _set_forwarding(res["link"], False)
        elif kind == "route":
            if Path(f"/run/netns/{res['netns']}").exists():
                util.run(["ip", "-n", res["netns"], "route", "del", res["dest"]], check=False)
        elif kind == "link":
            if Path(f"/sys/class/net/{res['name']}").exists():  # gone with its netns peer
                util.run(["ip", "link", "del", res["name"]])
        elif kind == "netns":
            if Path(f"/run/netns/{res['name']}").exists():
                util.run(["ip", "netns", "del", res["name"]])
        elif kind == "mount":
            if res["target"] in util.mounts_under(res["target"]):
                util.umount(res["target"])
        elif kind == "registry":
            Path(res["path"]).unlink(missing_ok=True)

    def leftovers(self):
        """Anything of this fleet still present (processes, mounts, namespaces)."""
        left = []
        for host in self.hosts.values():
            procs = util.processes_in_root(host["root"]) + util.processes_in_netns(host["netns"])
            if procs:
                left.append(f"{host['name']}: processes {sorted(p for p, _cmd in procs)}")
            if Path(f"/run/netns/{host['netns']}").exists():
                left.append(f"netns {host['netns']}")
        for res in self.state["resources"]:
            if res["type"] == "process" and util.alive(res["pid"], res["start_time"]):
                left.append(f"{res['what']} pid {res['pid']}")
        mounts = util.mounts_under(self.dir)
        if mounts:
            left.append(f"mounts {mounts}")
        return left

    # ----------------------------------------------------------------- status
    def status_lines(self):
        if not self.state:
            return [f"no fleet in {self.dir}"]
        s = self.state
        lines = [f"fleet {s['fleet_id']} ({s['status']}) state {self.dir}",
                 f"inventory {s.get('inventory', '-')}", f"ssh key {s.get('ssh_key', '-')}"]
        for host in self.hosts.values():
            sshd = host.get("sshd_pid")
            pidfile = Path(host["root"]) / "run/mysqld/mysqld.pid"
            mpid = int(pidfile.read_text()) if s["status"] == "up" and pidfile.is_file() else None
            mysqld = f"pid {mpid} rss {util.rss_kib(mpid) // 1024} MiB" if mpid and util.alive(mpid) else "stopped"
            group = f"; {host['replication']['group']}" if host.get("replication") else ""
            lines.append(f"  {host['name']:<9} {host['kind']:<8} {host['ip']:<14} netns {host['netns']:<20}"
                         f" sshd {'pid ' + str(sshd) if sshd and util.alive(sshd) else 'down'}; server {mysqld}{group}")
        return lines


def _host_ip(fid, index):
    return f"{SUBNET}.{fid}.{4 * index - 2}"


def _set_forwarding(link, on):
    conf = Path(f"/proc/sys/net/ipv4/conf/{link}/forwarding")
    if conf.exists():  # gone with its veth
        conf.write_text("1\n" if on else "0\n")


def _mem_available_mib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def _fleet_collision(fid):
    """Why fleet id fid cannot be used here, or None."""
    reg = REGISTRY / f"fleet-{fid}.json"
    if reg.exists():
        return f"registered fleet in {json.loads(reg.read_text()).get('state_dir')} ({reg})"
    netns = util.run(["ip", "netns", "list"]).stdout.split()
    taken = [n for n in netns if n.startswith(f"{NETNS_PREFIX}f{fid}-")]
    if taken:
        return f"network namespace(s) {', '.join(taken)}"
    links = [ln.split(":")[1].strip().split("@")[0] for ln in util.run(["ip", "-o", "link"]).stdout.splitlines()]
    taken = [n for n in links if n.startswith(f"kf{fid}h")]
    if taken:
        return f"interface(s) {', '.join(taken)}"
    prefix = f"{SUBNET}.{fid}."
    for cmd in (["ip", "-o", "-4", "addr"], ["ip", "-4", "route"]):
        hits = [ln.strip() for ln in util.run(cmd).stdout.splitlines() if prefix in ln]
        if hits:
            return f"address/route in {prefix}0/24 already in use: {hits[0]}"
    return None


def registered_fleets():
    if not REGISTRY.is_dir():
        return []
    return [json.loads(p.read_text())["state_dir"] for p in sorted(REGISTRY.glob("fleet-*.json"))]
