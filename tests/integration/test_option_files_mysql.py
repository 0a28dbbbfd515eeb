# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keyring_file plugin taken out of real option-file layouts, read back by MySQL's own parser: my_print_defaults
of the sandbox's MySQL 9.7 root (chroot), for the instance's groups and for everyone else's. What the instance reads
afterwards is what it read before without the plugin's options (and keyring_file.so out of its plugin lists, its
other plugins kept); what any other instance or group reads is unchanged. Needs root (chroot) and the sandbox root
(make sandbox-root); no fleet."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess
import tempfile

import pytest

from ansible_collections.keyops.mysql.plugins.module_utils.option_files import (
    mysqld_groups, option_name, read_tree, remove_keyring_plugin)
from ansible_collections.keyops.mysql.plugins.module_utils.server_files import command_line, default_files, option_files
from tests.sandbox import rootfs

from ..unit.test_option_files import DEBIAN_MYSQLD_CNF, EL_MY_CNF, MULTI_CNF, SYSTEMD_CNF

pytestmark = pytest.mark.integration
VERSION = '8.0.36'
PLUGIN_OPTIONS = ('keyring_file_data', 'keyring_file')


@pytest.fixture(scope='module')
def mysql_root():
    return str(rootfs.ensure_root('mysql'))


@pytest.fixture
def etc(mysql_root):
    """A directory inside the root (my_print_defaults runs chrooted): (path inside the root, path outside)."""
    outside = tempfile.mkdtemp(prefix='keyops-cnf-', dir=os.path.join(mysql_root, 'tmp'))
    yield '/tmp/' + os.path.basename(outside), outside
    shutil.rmtree(outside)


def print_defaults(mysql_root, defaults_file, *args):
    """What MySQL's parser gives a program: one --option=value per line."""
    out = subprocess.run(['chroot', mysql_root, 'my_print_defaults', '--defaults-file=' + defaults_file] + list(args),
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def without_plugin(options):
    """The options with the plugin's own options dropped and keyring_file.so out of the plugin lists."""
    kept = []
    for option in options:
        name, _sep, value = option[2:].partition('=')
        if option_name(name) in PLUGIN_OPTIONS:
            continue
        if option_name(name) in ('early_plugin_load', 'plugin_load', 'plugin_load_add'):
            items = [i for i in value.split(';') if i and not i.split('=')[-1].endswith('keyring_file.so')]
            if not items:
                continue
            option = '--%s=%s' % (name, ';'.join(items))
        kept.append(option)
    return kept


def layout(etc, files):
    """Write the files (relative names) under the directory; return the edit function over the whole tree."""
    inside, outside = etc
    for name, text in files.items():
        path = os.path.join(outside, name)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        with open(path, 'w') as handle:
            handle.write(text.replace('@ETC@', inside))

    def edit(groups):
        def read(path):
            real = os.path.join(outside, os.path.relpath(path, inside))
            return open(real).read() if os.path.isfile(real) else None

        def listdir(path):
            real = os.path.join(outside, os.path.relpath(path, inside))
            return os.listdir(real) if os.path.isdir(real) else None
        for path, text in read_tree(inside + '/my.cnf', read, listdir):
            new_text, _edits = remove_keyring_plugin(text, groups)
            with open(os.path.join(outside, os.path.relpath(path, inside)), 'w') as handle:
                handle.write(new_text)
    return inside + '/my.cnf', edit


def test_debian_layout_with_includedir(mysql_root, etc):
    my_cnf, edit = layout(etc, {
        'my.cnf': '!includedir @ETC@/conf.d/\n!includedir @ETC@/mysql.conf.d/\n',
        'conf.d/mysql.cnf': '[mysql]\n',
        'mysql.conf.d/mysqld.cnf': DEBIAN_MYSQLD_CNF,
        'mysql.conf.d/zz-ignored.ini': '[mysqld]\nkeyring_file_data=/never/read\n',
    })
    before = print_defaults(mysql_root, my_cnf, 'mysqld', 'server', 'mysqld-8.0')
    assert '--keyring_file_data=/var/lib/mysql-keyring/keyring' in before and '/never/read' not in ' '.join(before)
    edit(mysqld_groups(VERSION))
    after = print_defaults(mysql_root, my_cnf, 'mysqld', 'server', 'mysqld-8.0')
    assert after == without_plugin(before) and len(after) == len(before) - 2


def test_el_layout_keeps_the_other_plugin(mysql_root, etc):
    my_cnf, edit = layout(etc, {'my.cnf': EL_MY_CNF})
    before = print_defaults(mysql_root, my_cnf, 'mysqld')
    edit(mysqld_groups(VERSION))
    after = print_defaults(mysql_root, my_cnf, 'mysqld')
    assert after == without_plugin(before)
    assert '--early-plugin-load=keyring_udf=keyring_udf.so' in after


def test_mysqld_multi_the_other_instance_reads_what_it_read(mysql_root, etc):
    my_cnf, edit = layout(etc, {'my.cnf': MULTI_CNF})
    one, two = (print_defaults(mysql_root, my_cnf, 'mysqld', group) for group in ('mysqld1', 'mysqld2'))
    edit(mysqld_groups(VERSION) + ['mysqld2'])
    assert print_defaults(mysql_root, my_cnf, 'mysqld', 'mysqld1') == one
    assert print_defaults(mysql_root, my_cnf, 'mysqld', 'mysqld2') == without_plugin(two)
    assert '--keyring_file_data=/var/lib/mysql-keyring/one' in one


def test_systemd_instances_by_group_suffix(mysql_root, etc):
    my_cnf, edit = layout(etc, {'my.cnf': SYSTEMD_CNF})
    reads = dict((name, print_defaults(mysql_root, my_cnf, '--defaults-group-suffix=@' + name, 'mysqld'))
                 for name in ('replica01', 'replica02'))
    edit(mysqld_groups(VERSION, '@replica01'))
    assert print_defaults(mysql_root, my_cnf, '--defaults-group-suffix=@replica01', 'mysqld') == without_plugin(
        reads['replica01'])
    assert print_defaults(mysql_root, my_cnf, '--defaults-group-suffix=@replica02', 'mysqld') == reads['replica02']
    assert '--plugin-load-add=audit_filter.so' in reads['replica01']


def test_the_default_files_are_read_from_the_servers_own_help(mysql_root):
    help_text = subprocess.run(['chroot', mysql_root, '/usr/sbin/mysqld', '--verbose', '--help'],
                               capture_output=True, text=True, check=False).stdout
    files = default_files(help_text)
    assert files == ['/etc/my.cnf', '/etc/mysql/my.cnf', '~/.my.cnf'], help_text[:2000]
    assert option_files(command_line(['/usr/sbin/mysqld', '--defaults-extra-file=/x.cnf']), files, '/home/m') == [
        '/etc/my.cnf', '/etc/mysql/my.cnf', '/x.cnf', '/home/m/.my.cnf']
