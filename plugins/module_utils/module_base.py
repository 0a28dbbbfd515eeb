# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules' base class: argspec composition, and library/MySQL errors turned into clean failures.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.keyops.mysql.plugins.module_utils import mysql
from ansible_collections.keyops.mysql.plugins.module_utils.keystore import KEYSTORE_TYPES
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault import VAULT_TYPES
from ansible_collections.keyops.mysql.plugins.module_utils.vault_spec import VAULT_OPTIONS


# The suboptions of every option that names a keystore, as the modules document them: {type, path, password,
# follow} for a file, the Vault options for a Vault mount.
KEYSTORE_OPTIONS = dict(
    type=dict(type='str', required=True,
              choices=list(KEYSTORE_TYPES) + list(VAULT_TYPES)),
    path=dict(type='path'),
    password=dict(type='str', no_log=True),
    follow=dict(type='bool', default=False),
    **VAULT_OPTIONS
)
# A keystore kept in a file names it (the Vault keystores are named by their own options).
FILE_PATH_REQUIRED = [('type', keystore_type, ('path',)) for keystore_type in KEYSTORE_TYPES]


def parse_mode(value, option='mode'):
    """An octal file mode from a module option ('0640', '640' or an int); None stays None."""
    if value is None or isinstance(value, int):
        return value
    try:
        mode = int(str(value), 8)
    except ValueError:
        raise KeystoreError('%s %r is not an octal number such as 0640' % (option, value))
    if not 0 <= mode <= 0o7777:
        raise KeystoreError('%s %r is out of range' % (option, value))
    return mode


def failure_fields(exc, result=None):
    """The result fields a known error fails with: msg, and error (a KeystoreError's class name) or mysql_error_code
    and server_down (a MysqlError's); None for any other exception. A resume_error in `result` is added to msg: a
    server left paused matters more than whatever failed first, so both are said."""
    if isinstance(exc, KeystoreError):
        fields = dict(msg=str(exc), error=type(exc).__name__)
    elif isinstance(exc, mysql.MysqlError):
        # server_down: the server did not answer at all (not running, or not reachable), as opposed to an error it
        # returned; a playbook can decide on it without reading the message.
        fields = dict(msg=str(exc), mysql_error_code=exc.code, server_down=exc.code in mysql.CANNOT_REACH)
    else:
        return None
    resume_error = (result or {}).get('resume_error')
    if resume_error:
        fields['msg'] = '%s. ALSO: %s' % (fields['msg'], resume_error)
    return fields


class KeyopsModule(AnsibleModule):
    """AnsibleModule with the collection's shared options and error handling.

    A module builds its spec with generate_argspec(connection=..., **own_options) and runs its body through
    run(), which turns KeystoreError and MysqlError into fail_json with a readable message (never a
    traceback with key material in a frame).
    """

    def __init__(self, *args, **kwargs):
        super(KeyopsModule, self).__init__(*args, **kwargs)
        self.result = dict(changed=False)

    @classmethod
    def generate_argspec(cls, connection=False, **options):
        spec = {}
        if connection:
            spec.update((name, dict(value)) for name, value in mysql.CONNECTION_ARGSPEC.items())
        spec.update(options)
        return spec

    def mysql_session(self):
        """A MysqlSession from the login options (not yet connected). PyMySQL is needed only from here on."""
        if mysql.load_pymysql() is None:
            self.fail_json(msg=missing_required_lib('PyMySQL'), exception=mysql.pymysql_import_error(),
                           **self.result)
        return mysql.MysqlSession(self.params)

    def run(self, body):
        """Call body(); exit with self.result, or fail with a clean message on a known error."""
        try:
            body()
        except (KeystoreError, mysql.MysqlError) as exc:
            self.fail_json(**dict(self.result, **failure_fields(exc, self.result)))
        self.exit_json(**self.result)
