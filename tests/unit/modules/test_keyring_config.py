# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyring_config: the component configuration, manifest and option-file edits a switch makes, on real files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.config_files import set_option
from ansible_collections.keyops.mysql.plugins.modules import keyring_config

from .conftest import run_module

SECRET = 'pa55-word-never-shown'


def _attrs(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def test_sets_members_keeps_the_others_and_the_file_attributes(tmp_path, capsys):
    config = tmp_path / 'component_keyring_file.cnf'
    config.write_text(json.dumps({'path': '/old', 'read_only': False, 'other': 1}))
    os.chmod(str(config), 0o604)
    rc, result = run_module(keyring_config, dict(path=str(config), settings={'path': '/new'}, owner='nobody',
                                                 _ansible_diff=True), capsys)
    assert rc == 0 and result['changed'] and result['exists']
    assert json.loads(config.read_text()) == {'path': '/new', 'read_only': False, 'other': 1}
    assert _attrs(str(config)) == (os.geteuid(), os.getegid(), 0o604)      # owner is for new files only
    assert result['current'] == {'path': '/old', 'read_only': False, 'other': 1}
    assert '"/new"' in result['diff']['after'] and '"/old"' in result['diff']['before']
    rc, result = run_module(keyring_config, dict(path=str(config), settings={'path': '/new'}), capsys)
    assert rc == 0 and not result['changed']


@pytest.mark.skipif(os.geteuid() != 0, reason='giving a new file to another user needs root')
def test_a_new_file_gets_defaults_owner_and_mode(tmp_path, capsys):
    config = tmp_path / 'component_keyring_file.cnf'
    rc, result = run_module(keyring_config, dict(path=str(config), settings={'path': '/new'},
                                                 defaults={'read_only': False}, owner='nobody', group='65534'),
                            capsys)
    assert rc == 0 and result['changed'] and not result['exists']
    assert json.loads(config.read_text()) == {'read_only': False, 'path': '/new'}
    assert _attrs(str(config)) == (65534, 65534, 0o640)


def test_the_password_never_shows_and_is_kept_when_not_given(tmp_path, capsys):
    config = tmp_path / 'component_keyring_encrypted_file.cnf'
    config.write_text(json.dumps({'path': '/old', 'password': SECRET}))
    rc, result = run_module(keyring_config, dict(path=str(config), settings={'path': '/new'}, _ansible_diff=True),
                            capsys)
    assert rc == 0 and SECRET not in json.dumps(result)
    assert json.loads(config.read_text()) == {'path': '/new', 'password': SECRET}
    rc, result = run_module(keyring_config, dict(path=str(config), password='other-' + SECRET, _ansible_diff=True),
                            capsys)
    assert rc == 0 and result['changed'] and SECRET not in json.dumps(result)
    assert json.loads(config.read_text())['password'] == 'other-' + SECRET
    rc, result = run_module(keyring_config, dict(path=str(config), settings={'password': 'x'}), capsys)
    assert rc == 1 and 'password option' in result['msg']


def test_check_mode_reports_and_changes_nothing(tmp_path, capsys):
    manifest = tmp_path / 'mysqld.my'
    manifest.write_text('{"read_local_manifest": true}')
    rc, result = run_module(keyring_config, dict(path=str(manifest), settings={'components': 'file://x'},
                                                 _ansible_check_mode=True), capsys)
    assert rc == 0 and result['changed'] and result['current'] == {'read_local_manifest': True}
    assert manifest.read_text() == '{"read_local_manifest": true}'


def test_bad_json_names_the_file_and_shows_no_content(tmp_path, capsys):
    config = tmp_path / 'c.cnf'
    config.write_text('{"password": "%s", oops' % SECRET)
    rc, result = run_module(keyring_config, dict(path=str(config), settings={'path': '/new'}), capsys)
    assert rc == 1 and str(config) in result['msg'] and 'not valid JSON' in result['msg']
    assert SECRET not in json.dumps(result)


@pytest.mark.parametrize('plant', ['symlink', 'hardlink', 'fifo'])
def test_a_planted_name_is_refused_and_its_target_untouched(tmp_path, capsys, plant):
    victim_dir = tmp_path / 'root-only'
    victim_dir.mkdir(mode=0o700)
    victim = victim_dir / 'shadow'
    victim.write_text('root:secret-hash:1:0:99999:7:::\n')
    os.chmod(str(victim), 0o600)
    datadir = tmp_path / 'data'
    datadir.mkdir()
    config = datadir / 'component_keyring_file.cnf'
    if plant == 'symlink':
        os.symlink(str(victim), str(config))
        os.lchown(str(config), 65534, 65534)
    elif plant == 'hardlink':
        os.link(str(victim), str(config))
    else:
        os.mkfifo(str(config))
    before = (victim.read_bytes(), _attrs(str(victim)))
    rc, result = run_module(keyring_config, dict(path=str(config), settings={'path': '/new'}), capsys)
    assert rc == 1 and str(config) in result['msg']
    assert (victim.read_bytes(), _attrs(str(victim))) == before
    assert 'secret-hash' not in json.dumps(result)


OPTIONS = """[client]
keyring_file_data = /client/not/this

[mysqld]
early-plugin-load = keyring_file.so
loose-keyring-file-data = /old/keyring

[mysqld@replica]
keyring_file_data = /other/instance
"""


def test_option_file_edits_only_the_named_section():
    text = set_option(OPTIONS, 'mysqld', 'keyring_file_data', '/new/keyring')
    assert 'loose-keyring-file-data = /new/keyring' in text
    assert '/client/not/this' in text and '/other/instance' in text and '/old/keyring' not in text
    added = set_option('[mysqld]\nport = 3306\n', 'mysqld', 'keyring_file_data', '/k')
    assert added == '[mysqld]\nkeyring_file_data = /k\nport = 3306\n'
    assert set_option('', 'mysqld', 'keyring_file_data', '/k') == '[mysqld]\nkeyring_file_data = /k\n'
    assert set_option('[client]\nuser = x', 'mysqld', 'a', 'b') == '[client]\nuser = x\n\n[mysqld]\na = b\n'


def test_option_file_through_the_module(tmp_path, capsys):
    cnf = tmp_path / 'my.cnf'
    cnf.write_text(OPTIONS)
    args = dict(path=str(cnf), format='option_file', option='keyring_file_data', value='/new/keyring')
    rc, result = run_module(keyring_config, args, capsys)
    assert rc == 0 and result['changed'] and result['current'] == ['/old/keyring']
    rc, result = run_module(keyring_config, args, capsys)
    assert rc == 0 and not result['changed'] and result['current'] == ['/new/keyring']


def test_a_backup_before_the_rewrite_puts_the_file_back_byte_for_byte(tmp_path, capsys):
    config = tmp_path / 'component_keyring_file.cnf'
    original = json.dumps({'path': '/old', 'read_only': False, 'password': SECRET}) + '\n'
    config.write_text(original)
    os.chmod(str(config), 0o640)
    rc, result = run_module(keyring_config, dict(path=str(config), settings={'path': '/new'}, backup=True), capsys)
    backup = result['backup_file']
    assert rc == 0 and result['changed'] and os.path.dirname(backup) == str(tmp_path)
    assert open(backup).read() == original and _attrs(backup) == _attrs(str(config))
    rc, result = run_module(keyring_config, dict(path=str(config), restore_from=backup, _ansible_diff=True), capsys)
    assert rc == 0 and result['changed'] and config.read_text() == original
    assert SECRET not in json.dumps(result) and SECRET not in capsys.readouterr().out
    rc, result = run_module(keyring_config, dict(path=str(config), restore_from=backup), capsys)
    assert rc == 0 and not result['changed']                         # already as the backup holds it


@pytest.mark.parametrize('name', ['/etc/shadow', 'other.cnf.1.2026-12-02@05:06:46~', 'component_keyring_file.cnf.bak'])
def test_only_a_backup_beside_the_file_can_be_restored(tmp_path, capsys, name):
    config = tmp_path / 'component_keyring_file.cnf'
    config.write_text('{"path": "/new"}')
    candidate = name if name.startswith('/') else str(tmp_path / name)
    if not name.startswith('/'):
        open(candidate, 'w').write('{"path": "/elsewhere"}')
    rc, result = run_module(keyring_config, dict(path=str(config), restore_from=candidate), capsys)
    assert rc == 1 and 'must be a backup of it beside it' in result['msg']
    assert config.read_text() == '{"path": "/new"}'


def test_absent_removes_the_file_a_switch_created_and_never_follows_a_link(tmp_path, capsys):
    manifest = tmp_path / 'mysqld.my'
    manifest.write_text('{"components": "file://component_keyring_file"}')
    rc, result = run_module(keyring_config, dict(path=str(manifest), state='absent', _ansible_check_mode=True), capsys)
    assert rc == 0 and result['changed'] and manifest.exists()
    rc, result = run_module(keyring_config, dict(path=str(manifest), state='absent'), capsys)
    assert rc == 0 and result['changed'] and not manifest.exists()
    rc, result = run_module(keyring_config, dict(path=str(manifest), state='absent'), capsys)
    assert rc == 0 and not result['changed']
    target = tmp_path / 'kept'
    target.write_text('x')
    manifest.symlink_to(target)
    rc, result = run_module(keyring_config, dict(path=str(manifest), state='absent'), capsys)
    assert rc == 1 and target.exists() and manifest.is_symlink()


def test_the_keyring_file_plugin_taken_out_of_this_instances_groups_through_the_module(tmp_path, capsys):
    cnf = tmp_path / 'my.cnf'
    original = ('[mysqld1]\nearly-plugin-load = keyring_file.so\nkeyring_file_data = /one\n\n'
                '[mysqld2]\nearly-plugin-load = "keyring_file.so;audit_log.so"\nkeyring-file-data = /two\n')
    cnf.write_text(original)
    args = dict(path=str(cnf), format='option_file', remove_keyring_plugin=['mysqld', 'server', 'mysqld2'],
                backup=True)
    rc, result = run_module(keyring_config, dict(args, _ansible_check_mode=True, _ansible_diff=True), capsys)
    assert rc == 0 and result['changed'] and cnf.read_text() == original       # check mode: the plan only
    assert [c['group'] for c in result['current']] == ['mysqld1', 'mysqld1', 'mysqld2', 'mysqld2']
    rc, result = run_module(keyring_config, args, capsys)
    assert rc == 0 and result['changed']
    assert cnf.read_text() == ('[mysqld1]\nearly-plugin-load = keyring_file.so\nkeyring_file_data = /one\n\n'
                               '[mysqld2]\nearly-plugin-load = "audit_log.so"\n')
    assert [(e['option'], e['after']) for e in result['removed']] == [
        ('early_plugin_load', 'early-plugin-load = "audit_log.so"'), ('keyring_file_data', None)]
    with open(result['backup_file']) as handle:
        assert handle.read() == original
    backup = result['backup_file']
    rc, result = run_module(keyring_config, args, capsys)
    assert rc == 0 and not result['changed'] and result['removed'] == []
    # The role's rollback puts it back from the backup, as an option file (neither option nor groups needed).
    rc, result = run_module(keyring_config, dict(path=str(cnf), format='option_file', restore_from=backup), capsys)
    assert rc == 0 and result['changed'] and cnf.read_text() == original


def test_an_option_file_edit_needs_an_option_or_the_plugin_groups(tmp_path, capsys):
    rc, result = run_module(keyring_config, dict(path=str(tmp_path / 'my.cnf'), format='option_file'), capsys)
    assert rc != 0 and 'remove_keyring_plugin' in result['msg']
    rc, result = run_module(keyring_config, dict(path=str(tmp_path / 'my.cnf'), format='option_file',
                                                 option='keyring_file_data'), capsys)
    assert rc != 0 and 'value' in result['msg']
