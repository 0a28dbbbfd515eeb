# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Command line: python -m tests.sandbox {build-root,up,status,inventory,down,clean-cache}."""

import argparse
import json
import os
import signal
import sys
import time

from . import fleet, rootfs, util


def _log(msg):
    print(msg, flush=True)


def _raise_interrupt(signum, frame):
    # SIGTERM (CI timeout, pytest killed) goes through the same cleanup path as Ctrl-C.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tests.sandbox", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build-root", help="build (or reuse) the cached server roots")
    b.add_argument("--kind", choices=["mysql", "mariadb", "all"], default="all")
    b.add_argument("--rebuild", action="store_true", help="build even if a cached root exists")
    u = sub.add_parser("up", help="start a fleet and write its inventory")
    u.add_argument("--hosts", type=int, default=1, metavar="N", help="number of MySQL 9.7 hosts (default 1)")
    u.add_argument("--plugin-host", action="store_true", help="add plugin1: a keyring_file plugin keystore, server stopped")
    u.add_argument("--mariadb", action="store_true", help="add mariadb1: MariaDB 10.11")
    u.add_argument("--fleet-id", type=int, help="0..63: subnet 10.231.ID.0/24 (default: first free)")
    u.add_argument("--topology", metavar="SPEC",
                   help="replication groups over the MySQL hosts in order: a comma list of async:K (a source and"
                        " K-1 replicas, GTID) and gr:K (single-primary Group Replication, K=3..9)")
    for name, sp in (("up", u), ("status", None), ("inventory", None), ("down", None)):
        helps = {"status": "show hosts, PIDs, RSS", "inventory": "print the inventory path",
                 "down": "stop everything the fleet started"}
        sp = sp or sub.add_parser(name, help=helps[name])
        sp.add_argument("--state-dir", required=name != "down", help="where the fleet's state lives")
        if name == "status":
            sp.add_argument("--json", action="store_true", help="print fleet.json")
        if name == "down":
            sp.add_argument("--all", action="store_true", help="every fleet registered on this machine")
    sub.add_parser("clean-cache", help="delete the cached roots")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return _run(args)
    except util.SandboxError as exc:
        print(f"sandbox: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sandbox: interrupted", file=sys.stderr)
        return 130


def _run(args):
    if args.cmd == "build-root":
        if os.geteuid() != 0:
            raise util.SandboxError("building the root needs root (debootstrap, chroot); run it as root")
        for kind in (["mysql", "mariadb"] if args.kind == "all" else [args.kind]):
            t = time.monotonic()
            root = rootfs.ensure_root(kind, rebuild=args.rebuild, log=_log)
            _log(f"root {kind}: ready in {time.monotonic() - t:.1f}s: {root}")
    elif args.cmd == "up":
        t = time.monotonic()
        f = fleet.Fleet(args.state_dir, log=_log).up(args.hosts, args.plugin_host, args.mariadb, args.fleet_id,
                                                     args.topology)
        for line in f.status_lines():
            _log(line)
        _log(f"fleet up in {time.monotonic() - t:.1f}s; stop it with: python -m tests.sandbox down --state-dir {f.dir}")
    elif args.cmd == "status":
        f = fleet.Fleet(args.state_dir, log=_log)
        if args.json:
            print(json.dumps(f.state, indent=2))
        else:
            for line in f.status_lines():
                _log(line)
    elif args.cmd == "inventory":
        f = fleet.Fleet(args.state_dir, log=_log)
        if not f.state or f.state["status"] != "up":
            raise util.SandboxError(f"no running fleet in {args.state_dir}")
        print(f.inventory)
    elif args.cmd == "down":
        dirs = fleet.registered_fleets() if args.all else []
        if args.state_dir:
            dirs.append(args.state_dir)
        if not dirs and args.all:
            print("no fleet is running")
            return 0
        if not dirs:
            raise util.SandboxError("give --state-dir DIR or --all")
        failed = []
        for d in dict.fromkeys(dirs):
            try:
                fleet.Fleet(d, log=_log).down()
            except util.SandboxError as exc:
                failed.append(f"{d}: {exc}")
        if failed:
            raise util.SandboxError("; ".join(failed))
    elif args.cmd == "clean-cache":
        rootfs.remove_cache(log=_log)
    return 0
