# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks both ways of copying (the collection's own, MySQL's tools) make before anything changes, each with
one wording.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import refuse_same_file
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import check_regular, lstat_file

__all__ = ['refuse_same_file', 'require_source', 'refuse_empty_source', 'paused_by_someone_else']


def require_source(path, follow):
    """The source's lstat. Never "migrate" an empty keystore from a mistyped path (the MySQL manual's warning)."""
    st = lstat_file(path, follow=follow)
    if st is None:
        raise KeystoreError('the source keystore does not exist; check the path', path=path)
    check_regular(path, st)
    return st


def refuse_empty_source(key_count, allow_empty, path):
    if key_count == 0 and not allow_empty:
        raise KeystoreError('the source keystore holds no keys: check that the path is the keystore the server '
                            'uses (or set allow_empty_source: true)', path=path)


def paused_by_someone_else(where):
    """Why a copy that would end by setting keyring_operations ON refuses a server keyops did not pause."""
    return KeystoreError('keyring_operations is OFF on %s and keyops did not pause it (a DBA did?); MySQL\'s tool '
                         'would set it ON when it finishes. Resume the server first or run with online: false'
                         % where)
