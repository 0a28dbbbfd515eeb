# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Vault (and OpenBao) HTTP client: the standard library only (urllib, ssl, json), Python 3.8+.

It sends the token in X-Vault-Token (and a namespace in X-Vault-Namespace), verifies TLS against a CA file or the
system's trust store, applies one timeout to connect and transfer, and follows no redirect (a redirect would carry the
token to whatever host it names). Failures become one-line VaultError subclasses that name the server and the mount
and say what to do. No message, repr or exception holds the token or a response body.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket
import ssl

from http.client import HTTPException
from urllib import request as urllib_request
from urllib.error import HTTPError, URLError
from urllib.parse import quote

from .model import KeystoreError

MAX_RESPONSE = 32000000     # Percona's max_response_size


class VaultError(KeystoreError):
    """Base class of the errors talking to a Vault server. `path` holds "vault <url> mount '<mount>'"."""

    hint = ''


class VaultAuthError(VaultError):
    """403: the token is invalid, expired or revoked, or its policy does not cover the path."""

    hint = ('Renew or replace the token (token / token_file, or the token in the server\'s configuration file) and '
            'check that its policy allows list, read, create and delete on the mount')


class VaultSealedError(VaultError):
    """503 from a sealed server."""

    hint = 'Unseal the server (bao/vault operator unseal), then run again'


class VaultUnavailableError(VaultError):
    """503 or 5xx other than sealed: a standby node, an uninitialised server, an internal error."""

    hint = 'Check the server\'s health (bao/vault status) and point the URL at the active node'


class VaultMountError(VaultError):
    """No secrets engine is mounted at the path."""

    hint = 'Check secret_mount_point (mount) and, for the component, vault_namespace; enable the KV engine there first'


class VaultVersionError(VaultError):
    """The mount's KV version is not the one the configuration states or that could be detected."""

    hint = ('Set secret_mount_point_version (kv_version) to the mount\'s version, and let the token read '
            '<mount>/config: Percona detects KV v2 from that path')


class VaultTlsError(VaultError):
    """The TLS handshake failed: certificate verification, host name, or a plain-HTTP server behind https://."""

    hint = ('Set vault_ca (ca) to the PEM file of the CA that signed the server\'s certificate, and check that the URL\'s '
            'host name is in the certificate')


class VaultConnectionError(VaultError):
    """No connection: refused, reset, unknown host, or the server went away mid-request."""

    hint = 'Check that the server is running and listening at that URL, and that this host can reach it'


class VaultTimeoutError(VaultConnectionError):
    """The server did not answer within the timeout."""

    hint = 'Check the server\'s load and the network, or raise the timeout'


class VaultRedirectError(VaultError):
    """A 3xx answer; not followed, so the token goes nowhere else."""

    hint = 'Point the URL at the node that answers (the active node) instead of one that redirects'


class VaultResponseError(VaultError):
    """Any other unexpected answer."""


class Response:
    """An HTTP answer: status, parsed JSON (None if the body is empty or not JSON), Vault's errors and warnings."""

    def __init__(self, status, document):
        self.status = status
        self.document = document
        self.errors = _strings(document, 'errors')
        self.warnings = _strings(document, 'warnings')

    @property
    def ok(self):
        return 200 <= self.status < 300

    def __repr__(self):
        return 'Response(status=%d)' % self.status


def _strings(document, field):
    if not isinstance(document, dict) or not isinstance(document.get(field), list):
        return []
    return [item if isinstance(item, str) else json.dumps(item) for item in document[field]]


class _NoRedirect(urllib_request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None     # urllib then raises HTTPError with the 3xx code


class VaultClient:
    """Requests to one Vault server with one token. `where` names the server and mount in messages."""

    def __init__(self, url, token, ca_file=None, timeout=15, namespace=None, where=None):
        self.url = url.rstrip('/')
        self._token = token
        self.ca_file = ca_file
        self.timeout = timeout if timeout else None     # Percona: 0 means curl's default, no limit
        self.namespace = namespace
        self.where = where or 'vault %s' % self.url
        handlers = [_NoRedirect()]
        if self.url.startswith('https://'):
            context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
            handlers.append(urllib_request.HTTPSHandler(context=context))
        self._opener = urllib_request.build_opener(*handlers)

    def __repr__(self):
        return 'VaultClient(url=%r, token=<hidden>, ca_file=%r, namespace=%r)' % (
            self.url, self.ca_file, self.namespace)

    def scrub(self, text):
        """`text` without the token, on one line, at most 300 characters (for Vault's own error strings)."""
        text = text.replace(self._token, '<token>') if self._token else text
        text = ' '.join(text.split())
        return text if len(text) <= 300 else text[:297] + '...'

    # ---- transport -------------------------------------------------------------------------------------

    def request(self, method, path, body=None, list_keys=False, what=None):
        """A Response for METHOD <url>/v1/<path>. HTTP error statuses are returned, not raised; transport failures
        (TLS, refused, timeout, redirect) raise a VaultError."""
        url = '%s/v1/%s' % (self.url, quote(path, safe='/+=-_.~'))
        if list_keys:
            url += '?list=true'
        data = json.dumps(body).encode('utf-8') if body is not None else None
        headers = {'X-Vault-Token': self._token, 'Content-Type': 'application/json'}
        if self.namespace:
            headers['X-Vault-Namespace'] = self.namespace
        req = urllib_request.Request(url, data=data, headers=headers, method=method)
        what = what or '%s %s' % (method, path)
        try:
            handle = self._opener.open(req, timeout=self.timeout)
            try:
                status, raw = handle.status, handle.read(MAX_RESPONSE + 1)
            finally:
                handle.close()
        except HTTPError as exc:
            status = exc.code
            try:
                raw = exc.read(MAX_RESPONSE + 1)
            except Exception:   # the body of an error is only a help
                raw = b''
            finally:
                exc.close()
            if 300 <= status < 400:
                raise VaultRedirectError('the server redirected %s (HTTP %d) to another address, not followed'
                                         % (what, status), path=self.where)
        except (URLError, HTTPException, socket.timeout, OSError) as exc:
            error = self._transport_error(exc, what)
            reason = exc.reason if isinstance(exc, URLError) else exc
            # Refused, unresolvable or TLS-rejected: the request never reached the server (a write did not land).
            error.request_sent = not isinstance(reason, (ConnectionRefusedError, socket.gaierror, ssl.SSLError))
            raise error
        if len(raw) > MAX_RESPONSE:
            raise VaultResponseError('the answer to %s is larger than %d bytes' % (what, MAX_RESPONSE),
                                     path=self.where)
        document = None
        if raw:
            try:
                document = json.loads(raw.decode('utf-8'))
            except ValueError:
                document = None
        return Response(status, document)

    def _transport_error(self, exc, what):
        reason = exc.reason if isinstance(exc, URLError) else exc
        if isinstance(reason, ssl.SSLCertVerificationError):
            detail = getattr(reason, 'verify_message', None) or 'certificate verify failed'
            return VaultTlsError('TLS verification of the server failed (%s) during %s' % (detail, what),
                                 path=self.where)
        if isinstance(reason, ssl.SSLError):
            detail = getattr(reason, 'reason', None) or 'SSL error'
            return VaultTlsError('the TLS handshake failed (%s) during %s' % (detail, what), path=self.where)
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return VaultTimeoutError('no answer within %s seconds to %s' % (self.timeout, what), path=self.where)
        if isinstance(reason, ConnectionRefusedError):
            return VaultConnectionError('connection refused during %s' % what, path=self.where)
        if isinstance(reason, socket.gaierror):
            return VaultConnectionError('the host name of the URL does not resolve (%s)' % what, path=self.where)
        if isinstance(reason, (ConnectionError, HTTPException)):
            return VaultConnectionError('the connection was lost during %s (the server closed it or went away)'
                                        % what, path=self.where)
        text = getattr(reason, 'strerror', None) or reason.__class__.__name__
        return VaultConnectionError('cannot reach the server during %s (%s)' % (what, self.scrub(str(text))),
                                    path=self.where)

    # ---- error mapping ---------------------------------------------------------------------------------

    def check(self, response, what, allow=(), missing_ok=False):
        """Raise the VaultError `response` stands for, unless it is a success, a status in `allow`, or (with
        `missing_ok`) a plain 404 ("nothing here"). Returns the response."""
        status = response.status
        if response.ok or status in allow:
            return response
        if status == 404:
            if any('no handler for route' in e for e in response.errors):
                raise VaultMountError('no secrets engine is mounted for %s' % what, path=self.where)
            if any('versioned K/V' in w for w in response.warnings):
                raise VaultVersionError('%s addressed a KV v2 mount as KV v1' % what, path=self.where)
            if missing_ok:
                return response
            raise VaultResponseError('%s: not found (HTTP 404)' % what, path=self.where)
        raise self.error_for(response, what)

    def error_for(self, response, what):
        status = response.status
        errors = self.scrub('; '.join(response.errors)) if response.errors else ''
        if status == 403:
            return VaultAuthError('permission denied for %s: the token is expired, revoked or not allowed there'
                                  % what, path=self.where)
        if status == 503 and any('sealed' in e.lower() for e in response.errors):
            return VaultSealedError('the server is sealed (%s refused)' % what, path=self.where)
        if status in (429, 472, 473) or status >= 500:
            detail = ': ' + errors if errors else ''
            return VaultUnavailableError('the server cannot serve %s (HTTP %d%s)' % (what, status, detail),
                                         path=self.where)
        return VaultResponseError('%s failed (HTTP %d%s)' % (what, status, ': ' + errors if errors else ''),
                                  path=self.where)

    # ---- the calls the keystore makes ------------------------------------------------------------------

    def seal_status(self):
        """The sys/seal-status document (no token needed)."""
        response = self.check(self.request('GET', 'sys/seal-status', what='reading the seal status'),
                              'reading the seal status')
        return response.document if isinstance(response.document, dict) else {}

    def lookup_self(self):
        """The token's own description (auth/token/lookup-self), without its id (which is the token)."""
        response = self.request('GET', 'auth/token/lookup-self', what='looking the token up')
        if response.status in (400, 403):
            raise VaultAuthError('the token is not valid (expired, revoked or mistyped)', path=self.where)
        self.check(response, 'looking the token up')
        data = response.document.get('data') if isinstance(response.document, dict) else None
        if not isinstance(data, dict):
            return {}
        return dict((k, v) for k, v in data.items() if k not in ('id', 'accessor'))
