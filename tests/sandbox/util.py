# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small helpers: running commands, mounts, processes, writing into a host's root safely."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path


class SandboxError(Exception):
    """An error the CLI reports as one clear line (no traceback)."""


def run(cmd, *, timeout=120, check=True, input=None, env=None):
    try:
        res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                             check=False, input=input, env=env)
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"timed out after {timeout}s: {' '.join(map(str, cmd))}") from exc
    if check and res.returncode != 0:
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-15:])
        raise SandboxError(f"command failed ({res.returncode}): {' '.join(map(str, cmd))}\n{tail}")
    return res


def require_commands(names, why):
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        raise SandboxError(f"missing command(s) {', '.join(missing)} needed {why}")


def mounts_under(path):
    """Mount points at or below path, deepest first (the order to unmount them)."""
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4].replace("\\040", " ")
            if target == path or target.startswith(path.rstrip("/") + "/"):
                found.append(target)
    return sorted(set(found), key=lambda t: t.count("/"), reverse=True)


def umount(target):
    if run(["umount", target], check=False).returncode != 0 and target in mounts_under(target):
        # Still busy: detach it now, the kernel frees it when the last user goes.
        run(["umount", "--lazy", target], check=False)


def safe_rmtree(path):
    """rm -rf that never descends into a mount (a host's /proc or bind-mounted /dev files)."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    for target in mounts_under(path):
        umount(target)
    left = mounts_under(path)
    if left:
        raise SandboxError(f"refusing to delete {path}: still mounted: {', '.join(left)}")
    shutil.rmtree(path)


def proc_start_time(pid):
    """Start time of a process (clock ticks since boot): with the PID it identifies the process
    even after the PID is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(pid, start_time=None):
    st = proc_start_time(pid)
    if st is None:
        return False
    if Path(f"/proc/{pid}/status").read_text().find("State:\tZ") != -1:
        return False
    return start_time is None or st == start_time


def kill_and_wait(pids, timeout=20.0):
    """TERM the given (pid, start_time) pairs, wait, then KILL what is left. Returns the killed ones."""
    pids = [(p, st) for p, st in pids if alive(p, st)]
    for p, _start in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p, st) for p, st in pids):
        _reap()
        time.sleep(0.05)
    for p, st in pids:
        if alive(p, st):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(p, st) for p, st in pids):
        _reap()
        time.sleep(0.05)
    return [p for p, _start in pids]


def _reap():
    # Processes this Python started (sshd) become zombies until waited for.
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def processes_in_root(root):
    """PIDs whose root directory is root (every process of a sandbox host is chrooted there)."""
    root = os.path.realpath(root)
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/root") == root:
                found.append((int(entry.name), proc_start_time(int(entry.name))))
        except OSError:
            continue
    return found


def processes_in_netns(name):
    try:
        ns = os.stat(f"/run/netns/{name}")
    except FileNotFoundError:
        return []
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                st = os.stat(f"/proc/{entry.name}/ns/net")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (ns.st_dev, ns.st_ino):
                found.append((int(entry.name), proc_start_time(int(entry.name))))
    return found


def host_path(root, rel):
    """Path of rel inside a host root, refusing symlinked parent directories: an absolute symlink
    in the host would otherwise make the tool write to a file of the controller itself."""
    path = Path(root) / rel.lstrip("/")
    cur = Path(root)
    for part in path.relative_to(root).parts[:-1]:
        cur = cur / part
        if cur.is_symlink():
            raise SandboxError(f"refusing to follow symlink {cur} inside host root")
    return path


def write_host_file(root, rel, text, mode=0o644, owner=None):
    """Write a file into a host root. A symlink at the file itself is replaced, not followed
    (bookworm's /etc/mysql/my.cnf -> /etc/alternatives/my.cnf)."""
    path = host_path(root, rel)
    if path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    path.chmod(mode)
    if owner:
        os.chown(path, *owner)
    return path


def user_ids(root, user):
    """uid/gid of user in the host root's passwd (not the controller's: they differ)."""
    for line in (Path(root) / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise SandboxError(f"no user {user} in {root}/etc/passwd")


def rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None
