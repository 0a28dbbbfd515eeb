# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build and cache the shared, read-only root filesystems that sandbox hosts overlay.

Two kinds of root:

* ``mysql``: Debian sid with Oracle MySQL 9.7 (``mysql-server-core``); Debian 12 has no MySQL
  server and sid's needs a newer libc, hence a debootstrap root.
* ``mariadb``: Debian bookworm with MariaDB 10.11, for the "not a MySQL keyring server" host.

A root is built once into a temporary directory under the cache and renamed into place only
when complete, so an interrupted build is never reused. Its name carries the server package
version and a hash of the recipe below: changing the recipe rebuilds, a second run reuses it.
"""

import fcntl
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from . import util

# Bump when the build steps change in a way the recipe dict below does not capture.
RECIPE_REVISION = 4

# Small footprint options shared by the template initialisation and the running servers
# (innodb_redo_log_capacity must match or the first start re-creates the redo log).
MYSQL_SMALL_OPTIONS = {
    "innodb-buffer-pool-size": "16M",
    "innodb-redo-log-capacity": "16M",
    "innodb-log-buffer-size": "1M",
    "innodb-read-io-threads": "1",
    "innodb-write-io-threads": "1",
    "innodb-purge-threads": "1",
    "innodb-page-cleaners": "1",
    "innodb-log-writer-threads": "OFF",
    "key-buffer-size": "1M",
    "table-open-cache": "64",
    "table-definition-cache": "400",
    "max-connections": "30",
    "temptable-max-ram": "16M",
    "performance-schema-max-thread-instances": "80",
    "performance-schema-max-table-handles": "200",
    "performance-schema-max-table-instances": "200",
    "performance-schema-accounts-size": "20",
    "performance-schema-hosts-size": "20",
    "performance-schema-users-size": "20",
    "performance-schema-events-statements-history-long-size": "100",
    "performance-schema-events-waits-history-long-size": "100",
    "performance-schema-events-stages-history-long-size": "100",
    "performance-schema-events-transactions-history-long-size": "100",
    "performance-schema-digests-size": "200",
    "performance-schema-max-sql-text-length": "256",
    "performance-schema-max-digest-length": "256",
    "performance-schema-error-size": "100",
}

RECIPES = {
    "mysql": {
        "suite": "sid",
        "server_package": "mysql-server-core",
        "packages": ["mysql-server-core", "mysql-client-core", "openssh-server", "python3",
                     "python3-pymysql", "python3-cryptography", "iproute2", "procps"],
        # sid's Release file is served with a Valid-Until date in the past.
        "apt_options": ["-o", "Acquire::Check-Valid-Until=false"],
        "small_options": MYSQL_SMALL_OPTIONS,
    },
    "mariadb": {
        "suite": "bookworm",
        "server_package": "mariadb-server-core",
        "packages": ["mariadb-server-core", "mariadb-client-core", "openssh-server", "python3",
                     "python3-pymysql", "iproute2", "procps"],
        "apt_options": [],
        "small_options": {"innodb-buffer-pool-size": "16M", "performance-schema": "OFF",
                          "key-buffer-size": "1M", "max-connections": "30"},
    },
}

# Global keyring component files in the mysql root: defer to the per-host files in the
# datadir (what a fleet of real servers with per-instance keystores does).
GLOBAL_MANIFEST = {"usr/sbin/mysqld.my": '{"read_local_manifest": true}\n',
                   "usr/lib/mysql/plugin/component_keyring_file.cnf": '{"read_local_config": true}\n'}

ROOT_INFO = "etc/keyops-sandbox-root.json"


def cache_dir():
    return Path(os.environ.get("KEYOPS_SANDBOX_CACHE") or Path.home() / ".cache" / "keyops-mysql")


def recipe_hash(kind):
    text = json.dumps({"rev": RECIPE_REVISION, "kind": kind, "recipe": RECIPES[kind],
                       "global": GLOBAL_MANIFEST if kind == "mysql" else None,
                       "mirror": os.environ.get("KEYOPS_SANDBOX_MIRROR", "")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def find_root(kind):
    """Return the newest complete cached root for the current recipe, or None."""
    roots = cache_dir() / "roots"
    suffix = "-" + recipe_hash(kind)
    found = [p for p in roots.glob(f"{kind}-*{suffix}") if (p / ROOT_INFO).is_file()] if roots.is_dir() else []
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def root_info(root):
    return json.loads((Path(root) / ROOT_INFO).read_text())


def ensure_root(kind, rebuild=False, log=print):
    """Return the path of a complete root of this kind, building it if needed."""
    roots = cache_dir() / "roots"
    roots.mkdir(parents=True, exist_ok=True)
    # One builder at a time: a parallel CI job waits here and then reuses the result.
    with open(roots / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = None if rebuild else find_root(kind)
        if found:
            info = root_info(found)
            log(f"root {kind}: cached {found} ({info['server_package']} {info['server_version']})")
            return found
        _remove_stale_builds(roots)
        return _build(kind, roots, log)


def _remove_stale_builds(roots):
    # Only builders holding the lock make .build-* dirs, and we hold it: anything left is from
    # an interrupted build.
    for stale in roots.glob(".build-*"):
        util.safe_rmtree(stale)


def _build(kind, roots, log):
    recipe = RECIPES[kind]
    started = time.monotonic()
    tmp = roots / f".build-{kind}-{os.getpid()}"
    util.require_commands(["debootstrap", "chroot"], "to build the sandbox root (apt-get install -y debootstrap)")
    log(f"root {kind}: building Debian {recipe['suite']} root in {tmp} (about a minute)")
    try:
        cmd = ["debootstrap", "--variant=minbase", recipe["suite"], str(tmp)]
        if os.environ.get("KEYOPS_SANDBOX_MIRROR"):
            cmd.append(os.environ["KEYOPS_SANDBOX_MIRROR"])
        util.run(cmd, timeout=900)
        # Packages must not start daemons inside the build root (openssh-server's postinst would).
        policy = tmp / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        apt = ["chroot", str(tmp), "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", *recipe["apt_options"]]
        util.run([*apt, "update"], timeout=600)
        util.run([*apt, "install", "-y", "--no-install-recommends", *recipe["packages"]], timeout=900)
        util.run([*apt, "clean"], timeout=120)
        version = util.run(["chroot", str(tmp), "dpkg-query", "-W", "-f=${Version}", recipe["server_package"]]).stdout
        # Server accounts and directories at the standard Debian paths.
        util.run(["chroot", str(tmp), "sh", "-c",
                  "getent passwd mysql >/dev/null || useradd -r -M -U -d /nonexistent -s /usr/sbin/nologin mysql"])
        for d, mode in (("var/lib/mysql", 0o750), ("var/lib/mysql-keyring", 0o750),
                        ("run/mysqld", 0o755), ("var/log/mysql", 0o750), ("etc/mysql", 0o755)):
            (tmp / d).mkdir(parents=True, exist_ok=True)
            (tmp / d).chmod(mode)
        util.run(["chroot", str(tmp), "chown", "mysql:mysql", "/var/lib/mysql", "/var/lib/mysql-keyring",
                  "/run/mysqld", "/var/log/mysql"])
        # debootstrap leaves no /etc/hosts; tools resolve localhost (mariadb-install-db refuses otherwise).
        (tmp / "etc/hosts").write_text("127.0.0.1 localhost\n")
        # Each host gets its own SSH host key; none may be shared through the root.
        for key in (tmp / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        if kind == "mysql":
            for rel, text in GLOBAL_MANIFEST.items():
                (tmp / rel).write_text(text)
            server_version = _init_mysql_template(tmp, recipe)
        else:
            server_version = _init_mariadb_template(tmp, recipe)
        info = {"kind": kind, "suite": recipe["suite"], "server_package": recipe["server_package"],
                "package_version": version, "server_version": server_version,
                "recipe_hash": recipe_hash(kind), "build_seconds": round(time.monotonic() - started, 1),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (tmp / ROOT_INFO).write_text(json.dumps(info, indent=2) + "\n")
        safe_version = "".join(c if c.isalnum() or c in ".+-" else "_" for c in version)
        final = roots / f"{kind}-{safe_version}-{recipe_hash(kind)}"
        if final.exists():
            util.safe_rmtree(final)
        tmp.rename(final)  # atomic: a root under its final name is always complete
    except BaseException:
        util.safe_rmtree(tmp)
        raise
    log(f"root {kind}: built {final} ({recipe['server_package']} {version}) in {info['build_seconds']}s")
    return final


def _init_mysql_template(root, recipe):
    """Initialise a template datadir at /var/lib/mysql inside the root.

    Hosts see it through their overlay, so a host's first start only copies up the files the
    server writes instead of running --initialize (about 2.5 s and 100 MB each)."""
    out = util.run(["chroot", str(root), "mysqld", "--version"]).stdout
    if " 9.7." not in out:
        raise util.SandboxError(f"expected MySQL 9.7 in the sid root, got: {out.strip()}")
    opts = [f"--{k}={v}" for k, v in recipe["small_options"].items()]
    util.run(["chroot", "--userspec=mysql:mysql", str(root), "mysqld", "--no-defaults", "--initialize-insecure",
              "--datadir=/var/lib/mysql", "--log-error=/var/log/mysql/initialize.log", *opts], timeout=300)
    # Identity files are per server: each host generates its own server_uuid (which names its
    # InnoDB master key) and TLS/RSA keys at first start.
    for name in ["auto.cnf", *[p.name for p in (root / "var/lib/mysql").glob("*.pem")]]:
        (root / "var/lib/mysql" / name).unlink(missing_ok=True)
    return out.split("Ver", 1)[1].split()[0]


def _init_mariadb_template(root, recipe):
    out = util.run(["chroot", str(root), "mariadbd", "--version"]).stdout
    if " 10.11." not in out:
        raise util.SandboxError(f"expected MariaDB 10.11 in the bookworm root, got: {out.strip()}")
    util.run(["chroot", str(root), "mariadb-install-db", "--no-defaults", "--user=mysql",
              "--datadir=/var/lib/mysql", "--auth-root-authentication-method=normal", "--skip-test-db",
              "--skip-name-resolve"],
             timeout=300)
    return out.split("Ver", 1)[1].split()[0]


def remove_cache(log=print):
    roots = cache_dir() / "roots"
    if roots.is_dir():
        with open(roots / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for p in roots.iterdir():
                if p.is_dir():
                    log(f"removing {p}")
                    util.safe_rmtree(p)
    shutil.rmtree(cache_dir(), ignore_errors=True)
