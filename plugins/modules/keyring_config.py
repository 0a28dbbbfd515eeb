#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: keyring_config
short_description: Point a MySQL keyring at a keystore, in its component configuration, manifest or option file
version_added: 0.2.0
description:
  - Sets members of a keyring component's JSON configuration (for example C(component_keyring_file.cnf)) or of a
    manifest (C(mysqld.my)), keeping the other members; or sets one option in one section of a MySQL option file.
  - The local configuration and manifest live in the data directory, which the server's OS user can write, so the
    file is read and replaced without following links (see the O(follow) option and the C(safe_file_operations)
    attribute), atomically, and an existing file keeps its owner, group, mode and SELinux context.
  - Reports the file's current members, so that a check-mode run can tell, before anything changes, what a switch
    would rewrite (for example a global configuration that defers to the data directory's with
    C(read_local_config)).
options:
  path:
    description: Absolute path of the file. It is created if missing.
    type: path
    required: true
  format:
    description:
      - V(json) for a component configuration or manifest; V(option_file) for a C(my.cnf)-style option file.
    type: str
    choices: [json, option_file]
    default: json
  settings:
    description:
      - With O(format=json), the members to set; the file's other members are kept.
      - Put a keystore password in O(password), never here.
    type: dict
    default: {}
  defaults:
    description:
      - With O(format=json), members set only where the file does not have them yet (a new file gets them all).
    type: dict
    default: {}
  password:
    description:
      - With O(format=json), the C(password) member to set (a C(component_keyring_encrypted_file) keystore's
        password). Unset, an existing password member is kept. Never shown in results or diffs.
    type: str
  section:
    description: With O(format=option_file), the section the option belongs to. Other sections are not touched.
    type: str
    default: mysqld
  option:
    description:
      - With O(format=option_file), the option to set, for example C(keyring_file_data). An existing line of it in
        O(section), in any spelling (C(loose-) prefix, dashes or underscores), keeps its spelling and gets the value;
        otherwise the line is added right after the section header (and the section at the end if missing).
    type: str
  value:
    description: With O(format=option_file), the option's value.
    type: str
  remove_keyring_plugin:
    description:
      - With O(format=option_file), instead of setting an option, take the C(keyring_file) plugin out of these groups
        of the file - this instance's groups, for example C([mysqld, server, mysqld-8.0]), or C([mysqld2]) for
        instance 2 of C(mysqld_multi), or C([mysqld, server, mysqld@replica01]) for a systemd C(mysqld@replica01).
      - C(keyring_file.so) goes from the C(early-plugin-load), C(plugin-load) and C(plugin-load-add) lists (the other
        plugins stay on the line, quoted and commented as before; a list left empty is removed), and the
        C(keyring_file_data) and C(keyring_file) lines go, in any spelling (C(loose-), dashes). Other groups are never
        touched. A missing file has nothing to remove.
    type: list
    elements: str
  owner:
    description: Owner of a file the module creates (name or uid). An existing file keeps its owner.
    type: str
  group:
    description: Group of a file the module creates (name or gid). An existing file keeps its group.
    type: str
  mode:
    description: Mode of a file the module creates, in octal. An existing file keeps its mode.
    type: raw
    default: '0640'
  backup:
    description:
      - Keep a copy of an existing file beside it before replacing it (C(<file>.<pid>.<time>~), with its owner and
        mode), returned as RV(backup_file). The role makes one before every switch, to put the file back if the
        server does not come back.
    type: bool
    default: false
  restore_from:
    description:
      - Put O(path) back as this backup of it holds it - a file beside O(path) named C(<file>.<pid>.<time>~), as
        O(backup) makes them; any other file is refused (root must not copy an arbitrary file into a directory the
        server's OS user can read). O(settings), O(defaults), O(password), O(option), O(value) and
        O(remove_keyring_plugin) are then ignored.
    type: path
  state:
    description:
      - V(absent) removes O(path) (a file a switch created, when the switch is undone); nothing else is done.
    type: str
    choices: [present, absent]
    default: present
  follow:
    description:
      - Follow a symbolic link at O(path) itself when root owns it. Without it, and always for a link owned by
        another user, a link there is refused, and so is a hard-linked file, a fifo or a device.
    type: bool
    default: false
extends_documentation_fragment:
  - keyops.mysql.attributes
  - keyops.mysql.attributes.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
  safe_file_operations:
    support: full
author:
  - keyops.mysql developers (@keyops)
'''

EXAMPLES = r'''
- name: Put the component configuration back as it was before a switch
  keyops.mysql.keyring_config:
    path: /var/lib/mysql/component_keyring_file.cnf
    restore_from: /var/lib/mysql/component_keyring_file.cnf.4121.2026-12-02@05:06:46~

- name: Point component_keyring_file at the new keystore
  keyops.mysql.keyring_config:
    path: /var/lib/mysql/component_keyring_file.cnf
    settings:
      path: /var/lib/mysql-keyring/component_keyring_file
      read_only: false
    owner: mysql
    group: mysql

- name: Make the manifest load the component
  keyops.mysql.keyring_config:
    path: /var/lib/mysql/mysqld.my
    settings:
      components: file://component_keyring_file

- name: Point the keyring_file plugin at another file
  keyops.mysql.keyring_config:
    path: /etc/mysql/conf.d/keyring.cnf
    format: option_file
    option: keyring_file_data
    value: /var/lib/mysql-keyring/keyring

- name: Take the keyring_file plugin out of the server's option file, keeping its other plugins
  keyops.mysql.keyring_config:
    path: /etc/mysql/conf.d/keyring.cnf
    format: option_file
    remove_keyring_plugin: [mysqld, server, mysqld-8.0]
    backup: true
'''

RETURN = r'''
path:
  description: The file.
  returned: always
  type: str
exists:
  description: Whether the file existed before the task.
  returned: always
  type: bool
backup_file:
  description: The copy O(backup) made of the file before replacing it; null when nothing was replaced.
  returned: always
  type: str
  sample: /var/lib/mysql/component_keyring_file.cnf.4121.2026-12-02@05:06:46~
current:
  description:
    - With O(format=json), the file's members before the task, the password member shown as C(********).
    - With O(format=option_file), the option's values in O(section) before the task (a list, usually one).
    - With O(remove_keyring_plugin), every line of the file that loads or configures the C(keyring_file) plugin, in any
      group - its file, line, group, option and value.
  returned: always
  type: raw
  sample: {path: /var/lib/mysql-keyring/component_keyring_file, read_only: false}
removed:
  description:
    - With O(remove_keyring_plugin), each line edited - its number, group and option, the line before, and after
      (V(null) for a line removed).
  returned: when O(remove_keyring_plugin) is given
  type: list
  elements: dict
  sample: [{line: 6, group: mysqld, option: early_plugin_load, before: 'early-plugin-load = keyring_file.so', after: null}]
'''

import os

from ansible_collections.keyops.mysql.plugins.module_utils.config_files import (
    SECRET_MEMBER,
    option_values,
    parse_json_object,
    read_text,
    redacted,
    render_json,
    set_option,
    write_text,
)
from ansible_collections.keyops.mysql.plugins.module_utils.config_status import BACKUP_SUFFIX
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.atomic import keep_copy
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.safe_fs import check_regular, locate
from ansible_collections.keyops.mysql.plugins.module_utils.module_base import KeyopsModule, parse_mode
from ansible_collections.keyops.mysql.plugins.module_utils.option_files import (
    keyring_plugin_settings,
    remove_keyring_plugin,
)


class ConfigEdit:
    def __init__(self, module):
        self.module = module
        self.params = module.params

    def json_texts(self, path, before_text):
        members = parse_json_object(before_text, path)
        wanted = dict(self.params['defaults'])
        wanted.update(members)
        wanted.update(self.params['settings'])
        if self.params['password']:
            wanted[SECRET_MEMBER] = self.params['password']
        self.module.result['current'] = redacted(members)
        if wanted == members and before_text is not None:
            return None, None
        return render_json(wanted), (render_json(redacted(members)) if before_text is not None else '',
                                     render_json(redacted(wanted)))

    def option_texts(self, path, before_text):
        p = self.params
        if p['remove_keyring_plugin'] is not None:
            return self.plugin_removed_texts(path, before_text)
        self.module.result['current'] = option_values(before_text, (p['section'],), p['option'])
        after_text = set_option(before_text, p['section'], p['option'], p['value'])
        if after_text == before_text:
            return None, None
        return after_text, (before_text or '', after_text)

    def plugin_removed_texts(self, path, before_text):
        """The option file without the keyring_file plugin in the groups given; current: every line of the file
        that loads or configures the plugin, in any group."""
        self.module.result['current'] = [s.as_dict() for s in keyring_plugin_settings(before_text, path)]
        after_text, edits = remove_keyring_plugin(before_text, set(self.params['remove_keyring_plugin']))
        self.module.result['removed'] = edits
        if not edits:
            return None, None
        return after_text, (before_text, after_text)

    def remove(self, path):
        """state=absent: unlink the regular file at `path` (relative to its directory's descriptor, never through a
        link)."""
        directory, name = locate(path, follow=self.params['follow'])
        with directory:
            st = directory.lstat(name)
            self.module.result.update(path=path, exists=st is not None, backup_file=None, current=None)
            if st is None:
                return
            check_regular(path, st)
            self.module.result['changed'] = True
            if self.module._diff:
                self.module.result['diff'] = dict(before_header=path, after_header=path, before='(present)\n',
                                                  after='(absent)\n')
            if not self.module.check_mode:
                directory.unlink(name)
                directory.fsync()

    def shown(self, path, text):
        """A file's text as a diff may show it: a JSON file with its password member redacted."""
        if text is None:
            return ''
        return render_json(redacted(parse_json_object(text, path))) if self.params['format'] == 'json' else text

    def restored_text(self, path):
        """The text of restore_from, a keep_copy backup beside `path` (nothing else may be copied in)."""
        backup = self.params['restore_from']
        if os.path.dirname(backup) != os.path.dirname(path) or not backup_of(path, backup):
            self.module.fail_json(msg='%s: restore_from must be a backup of it beside it, named %s.<pid>.<time>~ '
                                      '(got %s)' % (path, os.path.basename(path), backup))
        text = read_text(backup)
        if text is None:
            self.module.fail_json(msg='%s: its backup %s does not exist' % (path, backup))
        return text

    def run(self):
        p = self.params
        path = p['path']
        if p['state'] == 'absent':
            return self.remove(path)
        if SECRET_MEMBER in p['settings'] or SECRET_MEMBER in p['defaults']:
            self.module.fail_json(msg='%s: put the keystore password in the password option, not in settings '
                                      '(settings are shown in results)' % path)
        if p['format'] == 'option_file' and not p['restore_from'] and not (p['option'] or p['remove_keyring_plugin']):
            # Not a required_if: putting an option file back (restore_from) needs neither.
            self.module.fail_json(msg='%s: format is option_file but any of the following are missing: option, '
                                      'remove_keyring_plugin' % path)
        before_text = read_text(path, follow=p['follow'])
        self.module.result.update(path=path, exists=before_text is not None, backup_file=None)
        if p['restore_from']:
            after_text = self.restored_text(path)
            self.module.result['current'] = None
            shown = (self.shown(path, before_text), self.shown(path, after_text))
            after_text = None if after_text == before_text else after_text
        elif p['format'] == 'json':
            after_text, shown = self.json_texts(path, before_text)
        elif p['format'] == 'option_file':
            after_text, shown = self.option_texts(path, before_text)
        if after_text is None:
            return
        self.module.result['changed'] = True
        if self.module._diff:
            self.module.result['diff'] = dict(before_header=path, after_header=path, before=shown[0], after=shown[1])
        if self.module.check_mode:
            return
        if p['backup'] and before_text is not None:
            self.module.result['backup_file'] = keep_copy(path, follow=p['follow'])
        if before_text is None:
            write_text(path, after_text, owner=p['owner'], group=p['group'], mode=parse_mode(p['mode']),
                       follow=p['follow'])
        else:
            write_text(path, after_text, follow=p['follow'])


def backup_of(path, candidate):
    """Whether `candidate` is named as keep_copy names a backup of `path`."""
    name = os.path.basename(path)
    other = os.path.basename(candidate)
    return other.startswith(name) and BACKUP_SUFFIX.match(other[len(name):]) is not None


def main():
    module = KeyopsModule(
        argument_spec=KeyopsModule.generate_argspec(
            path=dict(type='path', required=True),
            format=dict(type='str', default='json', choices=['json', 'option_file']),
            settings=dict(type='dict', default={}),
            defaults=dict(type='dict', default={}),
            password=dict(type='str', no_log=True),
            section=dict(type='str', default='mysqld'),
            option=dict(type='str'),
            value=dict(type='str'),
            remove_keyring_plugin=dict(type='list', elements='str', no_log=False),     # option-file group names
            owner=dict(type='str'),
            group=dict(type='str'),
            mode=dict(type='raw', default='0640'),
            follow=dict(type='bool', default=False),
            backup=dict(type='bool', default=False),
            restore_from=dict(type='path'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
        ),
        required_together=[('option', 'value')],
        mutually_exclusive=[('restore_from', 'state'), ('option', 'remove_keyring_plugin')],
        supports_check_mode=True,
    )
    module.run(ConfigEdit(module).run)


if __name__ == '__main__':
    main()
