# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which keyrings a server has enabled, and which keystore it uses: decided once, here, from keyring_info's report
of the server, so that the role's preflight, verification and report all read the same answer.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import real_path

USES_SOURCE = 'source'
USES_DESTINATION = 'destination'
USES_OTHER = 'other'


def active_keyrings(components, plugins, keyring_file_data):
    """[{name, kind, keystore}] for every enabled keyring: components whose status is Active, plugins whose status
    is ACTIVE. `keystore` is the data file where the keyring has one (a component's Data_file, the keyring_file
    plugin's @@keyring_file_data), else how to name it ("the keyring_okv plugin"). MySQL supports one enabled
    keyring at a time; an 8.0 server can still be configured with a component and a plugin at once."""
    found = []
    for component in components or ():
        if component.get('Component_status') != 'Active':
            continue
        name = component.get('Component_name') or 'a keyring component'
        found.append(dict(name=name, kind='component',
                          keystore=component.get('Data_file') or 'the %s component' % name))
    for plugin in plugins or ():
        if plugin.get('status') != 'ACTIVE':
            continue
        keystore = keyring_file_data if plugin['name'] == 'keyring_file' and keyring_file_data else None
        found.append(dict(name=plugin['name'], kind='plugin', keystore=keystore or 'the %s plugin' % plugin['name']))
    if keyring_file_data and not any(k['name'] == 'keyring_file' for k in found):
        # The variable exists only while the plugin is loaded: its data file is in use even if the plugin row
        # was not readable.
        found.append(dict(name='keyring_file', kind='plugin', keystore=keyring_file_data))
    return found


def keystore_in_use(keystores, source_path, destination_path):
    """USES_SOURCE, USES_DESTINATION or USES_OTHER: which of the two files the server's active keystores are,
    comparing paths as the host resolves them (a server configured through /var/lib/../lib/mysql-keyring/x uses
    /var/lib/mysql-keyring/x), links root owns followed, others not."""
    resolved = set(_resolved(k) for k in keystores if k.startswith('/'))
    if source_path and _resolved(source_path) in resolved:
        return USES_SOURCE
    if destination_path and _resolved(destination_path) in resolved:
        return USES_DESTINATION
    return USES_OTHER


def uses_only(keystores, path):
    """Whether the server has exactly one keyring enabled and its keystore is `path`, as the host resolves both."""
    return len(keystores) == 1 and keystores[0].startswith('/') and _resolved(keystores[0]) == _resolved(path)


def _resolved(path):
    try:
        return real_path(path, follow=True)
    except KeystoreError:        # a link another user owns on the way: compare as written
        return path
