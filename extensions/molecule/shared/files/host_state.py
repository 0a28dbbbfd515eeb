"""Print one sandbox host's real state as JSON, for the molecule scenarios (shared/tasks/host_state.yml).

Usage: host_state.py SERVICE_SCRIPT KEYSTORE_DIR COMPONENT_CONFIG COMPONENT_MANIFEST
"""
import grp
import hashlib
import json
import os
import pwd
import stat
import subprocess
import sys

PID_FILE = "/run/mysqld/mysqld.pid"
MARKER_DIR = "/run/keyops-mysql"     # keyops.mysql.keyring_operations leaves a marker here while it has a server paused


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def owner(path):
    st = os.lstat(path)
    return "%s:%s:%04o" % (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode))


def main(service, keystore_dir, config_file, manifest_file):
    running = subprocess.run([service, "status"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             check=False).returncode == 0
    pid = ""
    if running:
        with open(PID_FILE) as f:
            pid = f.read().strip()
    files, owners = {}, {}
    for name in sorted(os.listdir(keystore_dir)):
        path = os.path.join(keystore_dir, name)
        st = os.lstat(path)
        files[path] = sha256(path) if stat.S_ISREG(st.st_mode) else stat.filemode(st.st_mode)
        owners[path] = owner(path)
    markers = sorted(os.path.join(MARKER_DIR, n) for n in os.listdir(MARKER_DIR)) if os.path.isdir(MARKER_DIR) else []
    with open(config_file, "rb") as f:
        config = f.read()
    with open(manifest_file) as f:
        manifest = f.read()
    json.dump({
        "running": running,
        "pid": pid,
        "keyring_files": files,
        "keyring_owners": owners,
        "pause_markers": markers,
        "config": {"checksum": hashlib.sha256(config).hexdigest(), "path": json.loads(config).get("path"),
                   "owner": owner(config_file)},
        "manifest": {"text": manifest, "owner": owner(manifest_file)},
    }, sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:])
