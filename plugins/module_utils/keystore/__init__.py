# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyops.mysql keystore library: read and write MySQL keystore files byte-exactly. No Ansible imports.

    keystore = open_keystore('component_keyring_file', '/var/lib/mysql-keyring/component_keyring_file')
    keys = keystore.load()
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from .component_file import ComponentKeyringFile
from .encrypted_file import ComponentKeyringEncryptedFile
from .keyring_file import KeyringFile
from .model import KeystoreError

KEYSTORE_TYPES = {
    KeyringFile.type_name: KeyringFile,
    ComponentKeyringFile.type_name: ComponentKeyringFile,
    ComponentKeyringEncryptedFile.type_name: ComponentKeyringEncryptedFile,
}


def open_keystore(keystore_type, path, password=None, follow=False):
    """The Keystore object for a type name (see KEYSTORE_TYPES) and an absolute path. Nothing is read yet.
    `follow`: a symbolic link at the path itself is followed if root owns it (else every link there is refused)."""
    try:
        cls = KEYSTORE_TYPES[keystore_type]
    except KeyError:
        raise KeystoreError('unknown keystore type %r; supported: %s'
                            % (keystore_type, ', '.join(sorted(KEYSTORE_TYPES))), path=path)
    if cls.needs_password:
        if not password:
            raise KeystoreError('a %s keystore needs its password' % keystore_type, path=path)
        return cls(path, password=password, follow=follow)
    return cls(path, follow=follow)
