# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.keyops.mysql.plugins.modules import keyring_files_owner

from .conftest import run_module

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='changing owners needs root')
NOBODY = dict(owner='nobody', group='65534')


def _attrs(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


@pytest.fixture
def keyring_dir(tmp_path):
    d = tmp_path / 'mysql-keyring'
    d.mkdir(mode=0o700)
    for name in ('component_keyring_file', 'component_keyring_file.backup', 'other'):
        (d / name).write_bytes(b'{}')
        os.chmod(str(d / name), 0o600)
    return str(d)


def test_fixes_file_backup_sibling_and_directory(keyring_dir, capsys):
    keystore = os.path.join(keyring_dir, 'component_keyring_file')
    args = dict(NOBODY, path=[keyring_dir, keystore], _ansible_diff=True)
    rc, result = run_module(keyring_files_owner, args, capsys)
    assert rc == 0 and result['changed']
    assert _attrs(keyring_dir) == (65534, 65534, 0o750)
    assert _attrs(keystore) == _attrs(keystore + '.backup') == (65534, 65534, 0o640)
    assert _attrs(os.path.join(keyring_dir, 'other'))[0] == 0          # not listed, no recurse
    assert [f['path'] for f in result['files']] == [keyring_dir, keystore, keystore + '.backup']
    assert result['files'][1]['before'] == dict(owner='root', group='root', mode='0600')
    assert result['diff']['after'][keystore] == dict(owner='nobody', group='nogroup', mode='0640')
    rc, result = run_module(keyring_files_owner, args, capsys)
    assert rc == 0 and result['changed'] is False


def test_check_mode_changes_nothing(keyring_dir, capsys):
    rc, result = run_module(keyring_files_owner, dict(NOBODY, path=[keyring_dir], recurse=True,
                                                      _ansible_check_mode=True), capsys)
    assert rc == 0 and result['changed'] and len(result['files']) == 4
    assert all(_attrs(os.path.join(keyring_dir, n))[0] == 0 for n in os.listdir(keyring_dir))


def test_recurse(keyring_dir, capsys):
    rc, _result = run_module(keyring_files_owner, dict(NOBODY, path=[keyring_dir], recurse=True), capsys)
    assert rc == 0 and all(_attrs(os.path.join(keyring_dir, n)) == (65534, 65534, 0o640)
                           for n in os.listdir(keyring_dir))


def test_missing_paths(keyring_dir, capsys):
    missing = os.path.join(keyring_dir, 'nope')
    rc, result = run_module(keyring_files_owner, dict(NOBODY, path=[keyring_dir, missing]), capsys)
    assert rc == 1 and missing in result['msg'] and 'missing: ignore' in result['msg']
    assert _attrs(keyring_dir)[0] == 0                                   # nothing changed before the error
    rc, result = run_module(keyring_files_owner, dict(NOBODY, path=[keyring_dir, missing], missing='ignore'),
                            capsys)
    assert rc == 0 and result['missing'] == [missing] and _attrs(keyring_dir)[0] == 65534


def test_unknown_user_is_a_clear_error(keyring_dir, capsys):
    rc, result = run_module(keyring_files_owner, dict(path=[keyring_dir], owner='no-such-user-x'), capsys)
    assert rc == 1 and "no such OS user 'no-such-user-x'" in result['msg']
