# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The library runs on the oldest Python a managed node may have (3.8), not just compiles there."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess
import textwrap

import pytest

from ...conftest import REPO_ROOT

# A migration through every format, run by another interpreter with only the standard library (and
# cryptography when that interpreter has it): the managed node's situation.
SCRIPT = textwrap.dedent('''
    import os, sys, tempfile
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import Key
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import migrate
    from ansible_collections.keyops.mysql.plugins.module_utils.keystore.encrypted_file import HAS_CRYPTOGRAPHY
    keys = [Key('INNODBKey-1', '', 'AES', bytes(range(32))), Key('s', 'u@%', 'SECRET', b'x' * 100)]
    kinds = ['keyring_file', 'component_keyring_file']
    with tempfile.TemporaryDirectory() as d:
        if HAS_CRYPTOGRAPHY:
            kinds.append('component_keyring_encrypted_file')
        else:   # without the package the format fails with a clear error, not an ImportError
            from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import MissingDependencyError
            try:
                open_keystore('component_keyring_encrypted_file', os.path.join(d, 'e'), 'pw').write(keys)
                raise AssertionError('wrote an encrypted keystore without cryptography')
            except MissingDependencyError as exc:
                assert 'cryptography' in str(exc)
        previous = None
        for kind in kinds:
            store = open_keystore(kind, os.path.join(d, kind), 'pw')
            if previous is None:
                store.write(keys)
            else:
                migrate(previous, store)
            assert list(open_keystore(kind, store.path, 'pw').load()) == keys, kind
            previous = open_keystore(kind, store.path, 'pw')
    print(sys.version_info[:2], kinds)
''')


def _interpreter(version):
    for directory in [os.path.join(REPO_ROOT, '.cache', 'pybin')] + os.environ.get('PATH', '').split(os.pathsep):
        candidate = os.path.join(directory, 'python%s' % version)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK) and '/shims/' not in candidate:
            return candidate
    return None


@pytest.mark.parametrize('version', ['3.8', '3.9', '3.10', '3.12', '3.13'])
def test_library_runs_on_python(tmp_path, version):
    python = _interpreter(version)
    if python is None:
        pytest.skip('no python%s on this machine (make unit links pyenv\'s into .cache/pybin)' % version)
    # Only the library, in a fresh ansible_collections tree: no Ansible, no pytest, nothing of this venv.
    target = tmp_path / 'ansible_collections' / 'keyops' / 'mysql' / 'plugins'
    shutil.copytree(os.path.join(REPO_ROOT, 'plugins', 'module_utils'), str(target / 'module_utils'))
    out = subprocess.run([python, '-I', '-c', SCRIPT, str(tmp_path)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, check=False, env={'PATH': '/usr/bin:/bin'})
    assert out.returncode == 0, out.stdout
    assert out.stdout.startswith('(%s, %s)' % tuple(version.split('.')))
