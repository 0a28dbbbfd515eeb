# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as users get it: the Galaxy tarball (`ansible-galaxy collection build`), installed offline,
its playbooks run by FQCN from the installed copy against real sandbox servers, and the execution-environment
files ansible-builder reads (AWX / Automation Platform).

Building the EE image needs a container engine, which this machine and CI do not have: the tests stop at
`ansible-builder create` (the build context) and `ansible-builder introspect` (the dependencies it would install).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import filecmp
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from ..conftest import REPO_ROOT

pytestmark = pytest.mark.integration
REPO = Path(REPO_ROOT)
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / 'galaxy.yml').read_text())
TARBALL_NAME = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
# Where extensions/ee/execution-environment.yml takes the tarball from.
BUILD_DIR = REPO / '.cache' / 'build'
DEMO_VARS = REPO / 'tests' / 'sandbox' / 'demo' / 'migration_vars.yml'


def run(argv, env=None, cwd=None, timeout=600):
    res = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, capture_output=True, text=True,
                         timeout=timeout, check=False)
    assert res.returncode == 0, f"{' '.join(map(str, argv))} (rc {res.returncode}):\n{res.stdout[-8000:]}\n{res.stderr[-8000:]}"
    return res


def only_installed(collections_path, **extra):
    """An environment in which keyops.mysql can only come from collections_path (not the repo's link)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_path), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='False',
               ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    env['PATH'] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@pytest.fixture(scope='module')
def package(tmp_path_factory):
    """Build the tarball and install it offline into a private collections path."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    run([BIN / 'ansible-galaxy', 'collection', 'build', '--force', '--output-path', BUILD_DIR, REPO], cwd=REPO)
    tarball = BUILD_DIR / TARBALL_NAME
    collections = tmp_path_factory.mktemp('installed-collections')
    env = only_installed(collections)
    run([BIN / 'ansible-galaxy', 'collection', 'install', '--offline', '-p', collections, tarball],
        env=env, cwd=collections)
    return {'tarball': tarball, 'collections': collections,
            'installed': collections / 'ansible_collections' / GALAXY['namespace'] / GALAXY['name'], 'env': env}


def test_tarball_holds_what_users_run_and_no_development_files(package):
    with tarfile.open(package['tarball']) as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
    tracked = run(['git', 'ls-files'], cwd=REPO).stdout.split()
    shipped = [f for f in tracked if f.startswith(('plugins/', 'roles/', 'playbooks/', 'meta/', 'extensions/awx/'))
               or (f.startswith('docs/') and f.endswith('.md') and not f.startswith(('docs/reference/', 'docs/benchmarks')))]
    # The AWX credential type, project wrappers and examples (docs/awx.md) ship; the EE definition and molecule do not.
    assert 'extensions/awx/credential_type.yml' in shipped and 'extensions/awx/project/migrate.yml' in shipped
    assert shipped and set(shipped) <= names, sorted(set(shipped) - names)
    for must in ('README.md', 'CHANGELOG.md', 'changelogs/changelog.yaml', 'requirements.txt', 'MANIFEST.json', 'FILES.json'):
        assert must in names
    development = ('tests/', 'bench/', '.ci/', '.venv/', '.cache/', 'extensions/ee/', 'extensions/molecule/',
                   'changelogs/fragments/', 'docs/reference/')
    assert [n for n in names if n.startswith(development)] == []
    assert {'Makefile', 'test-requirements.txt', 'pytest.ini', 'docs/benchmarks.png'}.isdisjoint(names)


def test_installed_offline_copy_is_complete_and_documented(package):
    env = package['env']
    manifest = json.loads((package['installed'] / 'MANIFEST.json').read_text())
    assert manifest['collection_info']['version'] == GALAXY['version']
    # Every file against the checksums in the tarball's FILES.json, without a server.
    run([BIN / 'ansible-galaxy', 'collection', 'verify', '--offline', '-p', package['collections'],
         f"{GALAXY['namespace']}.{GALAXY['name']}"], env=env)
    listed = run([BIN / 'ansible-galaxy', 'collection', 'list', f"{GALAXY['namespace']}.{GALAXY['name']}",
                  '--format', 'json'], env=env).stdout
    assert list(json.loads(listed)) == [str(package['collections'] / 'ansible_collections')]
    doc = json.loads(run([BIN / 'ansible-doc', '--json', '-t', 'module', 'keyops.mysql.keyring_migrate'], env=env).stdout)
    assert doc['keyops.mysql.keyring_migrate']['doc']['filename'].startswith(str(package['installed']))
    roles = run([BIN / 'ansible-doc', '-t', 'role', '-l', 'keyops.mysql'], env=env).stdout
    assert 'keyops.mysql.keyring_migration' in roles


def _recap(stdout):
    return {h: (int(c), int(u), int(f)) for h, c, u, f in
            re.findall(r'^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', stdout, re.M)}


def test_playbooks_run_by_fqcn_from_the_installed_copy(package, sandbox_fleet):
    fleet = sandbox_fleet(n=2, fresh=True)     # its own: the migration switches the servers' keystores
    hosts = fleet.group('mysql')
    fleet_settings = {k: v for k, v in fleet.ansible_env().items()
                      if k.startswith('ANSIBLE_') and k != 'ANSIBLE_COLLECTIONS_PATH'}
    env = only_installed(package['collections'], **fleet_settings)
    argv = [BIN / 'ansible-playbook', '-i', fleet.inventory, '-e', f'@{DEMO_VARS}', 'keyops.mysql.migrate']
    first = run(argv + ['-v'], env=env, cwd=fleet.state_dir, timeout=900)
    # The role came from the installed copy, not the checkout (the path ansible-playbook -v shows for its arg spec).
    role_paths = set(re.findall(r'"validate_args_context": \{[^}]*"path": "([^"]+)"', first.stdout))
    assert role_paths == {str(package['installed'] / 'roles' / 'keyring_migration')}, first.stdout[:3000]
    recap = _recap(first.stdout)
    assert set(hosts) <= set(recap) and all(recap[h][1:] == (0, 0) and recap[h][0] > 0 for h in hosts), first.stdout
    # What the user wanted: every server now runs on the destination keystore, with its keys and tables readable.
    destination = yaml.safe_load(DEMO_VARS.read_text())['keyring_migration_destination']['path']
    status = fleet.command('mysql', ['mysql', '-uroot', '--batch', '--skip-column-names', '-e',
                                     "SELECT STATUS_VALUE FROM performance_schema.keyring_component_status "
                                     "WHERE STATUS_KEY = 'Data_file'"])
    assert {h: status[h]['stdout'].strip() for h in hosts} == {h: destination for h in hosts}, status
    tables = fleet.command('mysql', ['mysql', '-uroot', '--batch', '--skip-column-names', '-e',
                                     'SELECT COUNT(*) FROM shop.customers'])
    assert all(tables[h]['rc'] == 0 and int(tables[h]['stdout']) > 0 for h in hosts), tables
    # Run again: nothing to do. And the resume playbook, by FQCN too, changes nothing on resumed servers.
    again = _recap(run(argv, env=env, cwd=fleet.state_dir, timeout=900).stdout)
    assert all(again[h] == (0, 0, 0) for h in hosts), again
    resume = run([BIN / 'ansible-playbook', '-i', fleet.inventory, '-e', f'@{DEMO_VARS}', 'keyops.mysql.resume'],
                 env=env, cwd=fleet.state_dir)
    assert all(_recap(resume.stdout)[h] == (0, 0, 0) for h in hosts), resume.stdout
    # A DBA's pause (no keyops marker) is left alone by keyops.mysql.resume, unless told resume_all.
    operations = ['mysql', '-uroot', '--batch', '--skip-column-names', '-e', 'SELECT @@GLOBAL.keyring_operations']
    fleet.command(hosts[0], ['mysql', '-uroot', '-e', 'SET GLOBAL keyring_operations = OFF'])
    resume = run([BIN / 'ansible-playbook', '-i', fleet.inventory, '-e', f'@{DEMO_VARS}', 'keyops.mysql.resume'],
                 env=env, cwd=fleet.state_dir)
    assert 'keyops did not pause it: left OFF' in resume.stdout, resume.stdout
    assert fleet.command(hosts[0], operations)[hosts[0]]['stdout'].strip() == '0'
    resume = run([BIN / 'ansible-playbook', '-i', fleet.inventory, '-e', f'@{DEMO_VARS}', '-e',
                  'keyring_migration_resume_all=true', 'keyops.mysql.resume'], env=env, cwd=fleet.state_dir)
    assert _recap(resume.stdout)[hosts[0]][0] == 1, resume.stdout
    assert fleet.command(hosts[0], operations)[hosts[0]]['stdout'].strip() == '1'
    fleet.down()


def requirement_lines(path):
    return {line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith('#')}


def test_ansible_builder_reads_the_collections_dependencies(package):
    res = run([BIN / 'ansible-builder', 'introspect', '--sanitize', package['collections']])
    report = yaml.safe_load(res.stdout.split('\n', 1)[1]) if res.stdout.startswith('#') else yaml.safe_load(res.stdout)
    python = ' '.join(report['python'])
    system = ' '.join(report['system'])
    assert 'PyMySQL' in python and 'cryptography' in python, report
    assert 'keyops.mysql' in python and 'keyops.mysql' in system, report
    assert 'libffi-devel [compile platform:rpm]' in system, report
    # The EE installs what README.md tells users to install on the managed nodes (requirements.txt), no more or less.
    assert requirement_lines(REPO / 'meta' / 'ee-requirements.txt') == requirement_lines(REPO / 'requirements.txt')


def test_ansible_builder_creates_the_ee_build_context(package, tmp_path):
    definition = REPO / 'extensions' / 'ee' / 'execution-environment.yml'
    ee = yaml.safe_load(definition.read_text())
    assert ee['version'] == 3
    # The definition names the tarball of galaxy.yml's version (bump both together).
    assert ee['dependencies']['galaxy']['collections'] == [{'name': f'collections/{TARBALL_NAME}', 'type': 'file'}]
    context = tmp_path / 'context'
    run([BIN / 'ansible-builder', 'create', '-f', definition, '--context', context, '--output-filename', 'Containerfile'])
    containerfile = (context / 'Containerfile').read_text()
    assert 'FROM $EE_BASE_IMAGE AS base' in containerfile or 'quay.io/centos/centos:stream9' in containerfile
    assert 'ansible-galaxy collection install' in containerfile
    assert filecmp.cmp(context / '_build' / 'collections' / TARBALL_NAME, package['tarball'], shallow=False)
    requirements = yaml.safe_load((context / '_build' / 'requirements.yml').read_text())
    assert requirements['collections'][0]['name'] == f'collections/{TARBALL_NAME}'


def test_installed_from_a_checkout_as_the_readme_says(tmp_path):
    # README.md's install section: `ansible-galaxy collection install /path/to/keyops.mysql` (a directory install,
    # which builds the collection from the checkout with galaxy.yml's build_ignore on the way).
    readme = (REPO / 'README.md').read_text()
    assert '    ansible-galaxy collection install /path/to/keyops.mysql\n' in readme
    collections = tmp_path / 'collections'
    env = only_installed(collections)
    run([BIN / 'ansible-galaxy', 'collection', 'install', '--offline', '-p', collections, REPO], env=env, cwd=tmp_path)
    installed = collections / 'ansible_collections' / GALAXY['namespace'] / GALAXY['name']
    assert (installed / 'playbooks' / 'migrate.yml').is_file() and (installed / 'extensions' / 'awx').is_dir()
    assert not (installed / 'tests').exists() and not (installed / '.venv').exists()
    roles = run([BIN / 'ansible-doc', '-t', 'role', '-l', 'keyops.mysql'], env=env).stdout
    assert 'keyops.mysql.keyring_migration' in roles
