#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: keyring_migrate
short_description: Copy MySQL keyring keys from one keystore to another, idempotently
version_added: 0.1.0
description:
  - Copies every key of a source keystore into a destination keystore, as MySQL's key migration does, on the
    host that holds both files. Keys are copied, never moved; the source file is only ever opened read-only.
  - The destination ends with its old keys plus the source's. A key already in the destination with the same
    type and bytes is reported as already present, so a second run changes nothing. A key with the same
    identity but another type or other bytes is a conflict; then the module fails, names every conflicting
    key, and leaves the destination byte-identical to before.
  - The destination is replaced atomically (temp file in the same directory, fsync, read-back check, rename,
    directory fsync) under a lock; a missing destination file is created.
  - Either side may also be a Vault mount in Percona Server's layout (V(keyring_vault), V(component_keyring_vault)),
    read and written over Vault's HTTP API from the managed host. A mount has no atomic multi-key write - the keys
    are written one by one, and on any failure the keys this run wrote are removed again (RV(rolled_back)); keys
    the run did not write are never touched. See the collection's C(docs/vault-keystores.md).
  - Key bytes, passwords and Vault tokens never appear in the module's results, diffs or errors.
options:
  source:
    description: The keystore to copy keys from.
    type: dict
    required: true
    suboptions: &keystore
      type:
        description:
          - The keystore's format.
          - V(keyring_file) is the 5.7/8.0 C(keyring_file) plugin's file (version 1.0 or 2.0, any architecture).
          - V(component_keyring_file) is the C(component_keyring_file) JSON file (8.0.24 and later).
          - V(component_keyring_encrypted_file) is the Enterprise encrypted component's file; its format is not
            public and is known from one public vector only (see the collection's docs).
          - V(keyring_vault) (plugin, 5.7/8.0) and V(component_keyring_vault) (8.4 and later) are Percona Server's
            Vault keystores - a KV mount of a Vault or OpenBao server, in Percona's layout; name them with
            O(source.url), O(source.secret_mount_point) and O(source.token), or O(source.config_file). See the
            collection's C(docs/vault-keystores.md).
          - These five are read and written by the collection itself. The others are MySQL Enterprise keyrings
            with no public format; the collection migrates them only through MySQL's own tools (see O(method)) -
            plugins V(keyring_encrypted_file), V(keyring_okv), V(keyring_aws), V(keyring_hashicorp),
            V(keyring_oci), and components V(component_keyring_kmip), V(component_keyring_aws),
            V(component_keyring_hashicorp) and V(component_keyring_oci).
        type: str
        required: true
        choices: [component_keyring_aws, component_keyring_encrypted_file, component_keyring_file,
                  component_keyring_hashicorp, component_keyring_kmip, component_keyring_oci, component_keyring_vault,
                  keyring_aws, keyring_encrypted_file, keyring_file, keyring_hashicorp, keyring_oci, keyring_okv,
                  keyring_vault]
      path:
        description:
          - Absolute path of the keystore data file on the managed host. Relative paths are refused.
          - Required for the file keystores (V(keyring_file), V(keyring_encrypted_file),
            V(component_keyring_file), V(component_keyring_encrypted_file)); unused for the others.
          - Through MySQL's tools it becomes the plugin's C(<plugin>_data) option or the component's C(path).
        type: path
      password:
        description:
          - Password of a V(component_keyring_encrypted_file) or V(keyring_encrypted_file) keystore.
          - Through MySQL's tools it becomes C(keyring_encrypted_file_password) or the component's C(password),
            written to a private 0600 file, never on the command line.
        type: str
      follow:
        description:
          - Follow a symbolic link at O(source.path) itself when root owns the link, and use the file it points to.
          - Without it, and always for a link owned by another user, a symbolic link at the path is refused, and so
            is a hard-linked file, a fifo or a device. Keystore directories belong to the server's OS user, who could
            otherwise point a root-run task at any file on the host. Links in the directories above are followed
            only if root owns them.
        type: bool
        default: false
      options:
        description:
          - Only with MySQL's tools. The keyring's own options, not secret, for example
            C(keyring_okv_conf_dir) for a plugin, or the JSON configuration of a component
            (C(component_keyring_oci.cnf) keys).
          - For a plugin they go into the tool's option file as C(name=value); for a component they are the
            configuration file the tool reads for that side.
          - Names that look like secrets (password, secret, token, passphrase, credential) are refused here; put
            them in O(source.secret_options).
        type: dict
      secret_options:
        description:
          - Only with MySQL's tools. Like O(source.options), for secret values (for example
            C(keyring_hashicorp_secret_id)). They are written only to the tool's private 0600 files and never
            appear in the module's output.
        type: dict
      config_file:
        description:
          - V(keyring_vault) and V(component_keyring_vault) only. The server's own Vault configuration on the managed host,
            read as the server reads it - the plugin's C(keyring_vault.conf) (its C(keyring_vault_config)), or the
            component's C(component_keyring_vault.cnf) (JSON). The options below, where given, override its values.
          - Read without following a symbolic link at the path (see O(source.follow)); its token never appears in output.
        type: path
      url:
        description:
          - Vault keystores only. The Vault (or OpenBao) server's URL, C(http://) or C(https://), as C(vault_url).
          - Required unless O(source.config_file) gives it.
        type: str
      secret_mount_point:
        description:
          - Vault keystores only. Where the server's keys live, as Percona's C(secret_mount_point) - a KV mount, or a
            directory inside one (C(kv/mysql/server1)). Percona requires one per server.
          - Required unless O(source.config_file) gives it.
        type: str
      kv_version:
        description:
          - Vault keystores only. The KV secrets engine version, as C(secret_mount_point_version) - V(auto) probes
            C(<mount>/config) as Percona does (the token must be allowed to read it to find a KV v2 mount).
          - Defaults to O(source.config_file)'s value, else V(auto).
        type: str
        choices: [auto, '1', '2']
      token:
        description:
          - Vault keystores only. The Vault token. It never appears in results, errors or logs.
          - Needs list, read and create on the mount's path (and delete, to remove this run's keys after a failed write),
            and read on C(<mount>/config) to detect KV v2.
        type: str
      token_file:
        description:
          - Vault keystores only. A file on the managed host holding only the token, instead of O(source.token).
          - Read without following a symbolic link at the path.
        type: path
      ca:
        description: Vault keystores only. The CA certificate file to verify an C(https://) server with, as C(vault_ca).
        type: path
      namespace:
        description: Vault keystores only. The Vault Enterprise / OpenBao namespace, as the component's C(vault_namespace).
        type: str
      timeout:
        description: Vault keystores only. Seconds to wait for each Vault request, as the component's C(timeout) (default 15).
        type: int
  destination:
    description:
      - The keystore to copy keys into. Same suboptions as O(source). It must not be the source.
    type: dict
    required: true
    suboptions: *keystore
  online:
    description:
      - Pause the running server given by the login options (C(keyring_operations=OFF)) for exactly the copy,
        and restore its previous state afterwards, also when the copy fails.
      - Use it when a running server uses the source or the destination.
      - To keep the pause short, both keystores are read, the plan made (a conflict fails the task without
        pausing) and the destination's new bytes rendered and checked before the pause. Paused, the module
        only checks that neither file changed meanwhile (otherwise it does the whole copy again, paused) and
        writes. When there is nothing to copy, the server is not paused at all.
      - A server keeps its keyring in memory and rewrites the whole file at its next key write, so a copy into
        the keystore the server itself uses would be dropped at its next key write (a master key rotation, say).
        When the server's keyring component uses the destination, the module therefore has it reload its
        keyring (C(ALTER INSTANCE RELOAD KEYRING), which needs C(keyring_operations) ON, so right after the
        resume) and checks that it lists every copied key; if it does not (a key was written in between), the
        task fails and says to run it again. A keyring plugin cannot reload its file, so a copy into the
        keystore the server's plugin uses is refused before any pause. Copy with the server stopped instead, or
        pause, copy with O(online=false), restart and resume, as the role C(keyops.mysql.keyring_migration) does.
      - With MySQL's tools, the tool pauses and resumes the server itself (C(--keyring-migration-socket) and
        friends, or C(--online-migration)) with the login options, passed in its private option file. The module
        leaves its pause marker first and, once the tool has ended or died, sets C(keyring_operations) ON again
        if the tool left it OFF. A server already paused by someone else is refused, since the tool would resume
        it.
      - With a Vault side, the server is paused only while a file is read or written, never during Vault's requests
        (one per key). Into Vault, the source is read under the pause and written into the mount after the resume,
        so the mount gets the keys as of the pause. From Vault, the mount is read before the pause and checked under
        it with one listing (read again if a key came or went), and the destination file is written under it; a
        server whose keyring component uses that file then reloads it, as above.
    type: bool
    default: false
  switch_config:
    description:
      - Also switch the running server to the destination, without a restart - the keyring component configuration
        file it reads (the data directory's C(component_keyring_file.cnf), or the global one where it does not
        defer to it). Needs O(online=true) and the collection's own copy.
      - Paused, after the copy, the file's C(path) becomes the destination (and its C(password), for an encrypted
        destination; its other settings are kept); a copy of the file as it was is kept beside it. After the
        resume the server reloads its keyring (C(ALTER INSTANCE RELOAD KEYRING), MySQL 8.0.24+, which is refused
        while paused), and the module checks that it now uses the destination and lists every key of the source.
        A key the server wrote between the resume and the reload is copied and the keyring reloaded again.
      - If the reload fails, or leaves the server on another file, the configuration is put back as it was and
        the task fails; the server never left the source.
      - The server's one keyring must be the destination's component type on the source (or already on the
        destination, for a re-run). A change of component type, or between a plugin and a component, needs a
        restart, since the manifest is read only at start.
    type: path
  method:
    description:
      - How to copy the keys.
      - V(auto) copies natively when the collection reads both formats (V(keyring_file),
        V(component_keyring_file), V(component_keyring_encrypted_file)), and runs MySQL's own tool otherwise.
      - V(native) always copies natively (fails for the Enterprise types).
      - V(mysql_tool) always runs MySQL's tool on the host - C(mysqld) in key migration mode for any pair
        involving a plugin, C(mysql_migrate_keyring) for component to component.
      - MySQL's tools are judged by their output, not their exit status (C(mysql_migrate_keyring) exits 0 when it
        refuses or skips keys). Where the collection reads the destination, every source key is checked in it
        afterwards. A file destination is snapshotted first and restored byte-identical when the run is judged
        a failure. Where the collection cannot read the keystores, a record of the last successful run on the
        host (O(tool.record_dir)) makes a re-run a no-op while the files are unchanged.
    type: str
    choices: [auto, native, mysql_tool]
    default: auto
  tool:
    description: Where MySQL's tools are on the host, and how to run them. Used only when a tool runs.
    type: dict
    default: {}
    suboptions:
      mysqld:
        description: Absolute path of C(mysqld), run as the migration server.
        type: path
        default: /usr/sbin/mysqld
      mysql_migrate_keyring:
        description: Absolute path of C(mysql_migrate_keyring).
        type: path
        default: /usr/bin/mysql_migrate_keyring
      plugin_dir:
        description: The directory holding the keyring plugins and components (C(--plugin-dir), C(--component-dir)).
        type: path
        default: /usr/lib/mysql/plugin
      user:
        description:
          - The server's OS user. The migration server gets C(--user); C(mysql_migrate_keyring) is started as this
            user. Keystores the tool creates are then owned by it.
        type: str
        default: mysql
      timeout:
        description: Seconds after which the tool is killed; the run then fails and the destination is restored.
        type: int
        default: 600
      record_dir:
        description: Where the module keeps the record of each successful tool run (fingerprints and key ids only).
        type: path
        default: /var/lib/keyops-mysql/tool-runs
  owner:
    description:
      - Owner of the destination file. A new file defaults to the source file's owner; an existing file keeps
        its owner unless this is set.
    type: str
  group:
    description:
      - Group of the destination file. A new file defaults to the source file's group; an existing file keeps
        its group unless this is set.
    type: str
  mode:
    description:
      - Mode of the destination file, in octal. A new file defaults to V(0640); an existing file keeps its mode
        unless this is set.
    type: raw
  allow_empty_source:
    description:
      - Accept a source keystore that holds no keys. By default that is an error, because a mistyped or stale
        path is the usual cause (MySQL creates an empty keystore wherever it is pointed).
    type: bool
    default: false
  max_keys_listed:
    description:
      - List at most this many keys in each of RV(migrated), RV(already_present) and RV(conflicts), and in
        the diff. RV(migrated_count), RV(already_present_count) and RV(conflict_count) always give the totals.
      - Results are serialised and processed by Ansible, which takes seconds for a hundred thousand keys;
        the default keeps a large keystore's run fast. Use V(0) to list no keys.
    type: int
    default: 1000
  allow_shared_mount:
    description:
      - Copy into a Vault mount (O(destination.type=component_keyring_vault) or V(keyring_vault)) that already holds
        InnoDB master keys of another server (another C(server_uuid) in their key ids than the source's).
      - Percona requires one mount per server, so such a copy is refused by default, before anything is written. Set
        it only when those keys are this server's own, from before its C(server_uuid) changed.
    type: bool
    default: false
  backup:
    description:
      - Keep a timestamped copy of the previous destination file (C(<path>.<pid>.<time>~)) when it changes.
    type: bool
    default: false
  on_backup_file:
    description:
      - What to do when a C(<path>.backup) file lies beside the source or the destination. MySQL writes one
        during every keystore write and uses it at its next start - the C(keyring_file) plugin rolls back to
        it, the components roll forward to it - so a leftover one means the file is not the state the server
        would use.
      - V(fail) stops and explains what the server would do with it.
      - V(follow_server) takes each keystore as the server would recover it; a destination backup is then moved
        aside to C(<path>.backup.keyops-<time>) (kept, not deleted) after the write, so the server does not undo
        it.
    type: str
    choices: [fail, follow_server]
    default: fail
extends_documentation_fragment:
  - keyops.mysql.mysql
  - keyops.mysql.attributes
  - keyops.mysql.attributes.action_group
  - keyops.mysql.attributes.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff lists key ids, users and types before and after; never key bytes.
  idempotent:
    support: full
  safe_file_operations:
    support: full
notes:
  - The login options are used only with O(online=true).
  - After an online migration, a server that keeps using the source needs no restart; a server that used the
    destination must be restarted (with O(online=true) and a keyring component, the module reloads its keyring
    instead); a server that switches to the destination must be reconfigured and restarted. The role
    C(keyops.mysql.keyring_migration) applies these rules.
  - Run the module as root or as the server's OS user so the destination ends up readable by the server.
  - With MySQL's tools, O(owner), O(group), O(mode), O(backup) and O(on_backup_file=follow_server) do not apply to
    what the tool writes; the tool writes as O(tool.user).
  - What MySQL 9.7 community binaries cannot show (they ship no keyring plugin and one keyring component) is listed
    in the collection's docs/migration-tool.md.
seealso:
  - module: keyops.mysql.keyring_operations
  - module: keyops.mysql.keyring_files_owner
  - name: MySQL manual, Migrating Keys Between Keyring Keystores
    description: The procedure this collection automates, including the one for several running servers.
    link: https://dev.mysql.com/doc/refman/8.4/en/keyring-key-migration.html
author:
  - keyops.mysql developers (@keyops)
'''

EXAMPLES = r'''
- name: Move the 8.0 keyring_file plugin's keys into component_keyring_file before an 8.4 upgrade
  keyops.mysql.keyring_migrate:
    source:
      type: keyring_file
      path: /var/lib/mysql-keyring/keyring
    destination:
      type: component_keyring_file
      path: /var/lib/mysql-keyring/component_keyring_file
    owner: mysql
    group: mysql

- name: Copy a running server's component keystore into an encrypted keystore while the server is paused
  keyops.mysql.keyring_migrate:
    source:
      type: component_keyring_file
      path: /var/lib/mysql-keyring/component_keyring_file
    destination:
      type: component_keyring_encrypted_file
      path: /var/lib/mysql-keyring/component_keyring_encrypted_file
      password: "{{ vault_keyring_password }}"
    online: true
    login_unix_socket: /run/mysqld/mysqld.sock
    backup: true
'''

RETURN = r'''
migrated:
  description:
    - Keys copied into the destination (in check mode, keys that would be copied), the first
      O(max_keys_listed) of them; RV(migrated_count) counts them all.
  returned: always
  type: list
  elements: dict
  contains:
    key_id:
      description: The key's id.
      type: str
    user_id:
      description: The key's owner; empty for server keys such as InnoDB master keys.
      type: str
    key_type:
      description: AES, RSA, DSA or SECRET.
      type: str
  sample: [{key_id: INNODBKey-3c1f5f0e-1d2f-11ef-9a0c-0242ac120002-1, user_id: '', key_type: AES}]
migrated_count:
  description: How many keys were copied (in check mode, would be copied).
  returned: always
  type: int
  sample: 12
already_present:
  description:
    - Source keys the destination already held with the same type and bytes, the first O(max_keys_listed) of
      them. Same elements as RV(migrated).
  returned: always
  type: list
  elements: dict
already_present_count:
  description: How many source keys the destination already held.
  returned: always
  type: int
  sample: 0
conflict_count:
  description: How many source keys conflict with the destination. Non-zero only when the module fails.
  returned: always
  type: int
  sample: 0
keys_listed_truncated:
  description: Whether RV(migrated), RV(already_present) or RV(conflicts) lists fewer keys than there are.
  returned: always
  type: bool
  sample: false
conflicts:
  description:
    - Source keys that cannot be copied, with the reason, the first O(max_keys_listed) of them. Non-empty only
      when the module fails.
  returned: always
  type: list
  elements: dict
  contains:
    key_id:
      description: The key's id.
      type: str
    user_id:
      description: The key's owner.
      type: str
    key_type:
      description: The source key's type.
      type: str
    reason:
      description: V(different_type), V(different_data), V(signature_collision) or V(not_storable).
      type: str
    message:
      description: What is wrong, in words.
      type: str
source_key_count:
  description: Number of keys in the source.
  returned: always
  type: int
  sample: 12
destination_key_count:
  description: Number of keys in the destination after the task (in check mode, after it would run).
  returned: always
  type: int
  sample: 12
destination_created:
  description: Whether the destination file did not exist before.
  returned: always
  type: bool
backup_file:
  description: The copy of the previous destination, when O(backup=true) and the destination changed.
  returned: changed and O(backup=true)
  type: str
  sample: /var/lib/mysql-keyring/component_keyring_file.12345.2026-11-23@10:00:00~
backup_file_set_aside:
  description: Where a destination C(.backup) file was moved with O(on_backup_file=follow_server).
  returned: when a backup file was moved
  type: str
resumed_interrupted_pause:
  description:
    - With O(online=true), when the server was OFF because an earlier keyops run paused it and was killed before
      resuming it, that run's marker; the server is resumed at the end of this task.
  returned: when such a marker was found
  type: dict
keyring_operations:
  description:
    - With O(online=true), the server's C(keyring_operations) before, during and after the copy.
    - RV(keyring_operations.during) equals RV(keyring_operations.before) when the server was not paused
      because there was nothing to copy (see RV(paused)).
  returned: O(online=true)
  type: dict
  sample: {before: true, during: false, after: true}
  contains:
    before:
      description: C(keyring_operations) when the module connected (ON if only an interrupted keyops run had paused it).
      type: bool
    during:
      description: C(keyring_operations) while the keys were copied.
      type: bool
    after:
      description: C(keyring_operations) when the module finished.
      type: bool
paused:
  description: Whether the module set C(keyring_operations) OFF for the copy (and back afterwards).
  returned: O(online=true)
  type: bool
  sample: true
replication_recovered:
  description:
    - With O(online=true), the replication channels whose applier was restarted (C(START REPLICA SQL_THREAD)) after
      the resume - a master key rotation replicated from the source during the pause stopped it with error 3185,
      and C(keyring_operations=ON) alone does not restart it.
  returned: when such an applier was found
  type: list
  elements: str
  sample: ['']
replication_recovery_error:
  description: Why such an applier could not be restarted (the keys are copied; the role's health gate fails).
  returned: when the restart failed
  type: str
reconnected_to_resume:
  description:
    - True when the connection that paused the server was lost during the copy (killed, timed out, or closed by
      C(offline_mode)) and the module opened a new one to set C(keyring_operations) ON again.
  returned: when that happened
  type: bool
timeline:
  description:
    - When the server was paused (V(paused), from C(keyring_operations=OFF) to C(ON)) and reloading its keyring
      (V(reloading)), for the run's timeline - spans with C(phase), C(start) and C(end), in seconds since the epoch
      on the managed host.
  returned: when the server was paused or reloaded (not in check mode)
  type: list
  elements: dict
  sample: [{phase: paused, start: 1796205300.125, end: 1796205300.139}, {phase: reloading, start: 1796205300.141, end: 1796205300.152}]
keyring_reloaded:
  description:
    - Whether the server, whose keyring component uses the destination, was made to read the copied keys
      (C(ALTER INSTANCE RELOAD KEYRING) after the resume), and then listed every one of them.
  returned: O(online=true)
  type: bool
  sample: true
switched:
  description: Whether the server was moved from the source to the destination (O(switch_config)).
  returned: O(switch_config) given
  type: bool
  sample: true
switch_config_backup:
  description: The copy of O(switch_config) as it was before the rewrite, kept beside it.
  returned: O(switch_config) given
  type: str
switch_rolled_back:
  description: Whether the reload failed and O(switch_config) was put back as it was.
  returned: O(switch_config) given
  type: bool
keys_copied_after_reload:
  description: Keys the server wrote into the source between the resume and the reload, copied afterwards.
  returned: O(switch_config) given
  type: int
rolled_back:
  description:
    - After a failed write into a Vault mount, the keys this run wrote there and removed again (key ids and
      owners). With RV(left_behind) empty, the mount is as it was.
  returned: when a write into a Vault mount failed after its first key
  type: list
  elements: dict
  sample: [{key_id: INNODBKey-8f7f0b5e-6f7a-11ef-9e2c-0242ac120002-1, user_id: ''}]
left_behind:
  description:
    - Keys this run wrote into a Vault mount that could not be removed after the failure (the server sealed, stopped
      or the token revoked). They are exact copies of source keys; a re-run counts them as already present.
  returned: when a write into a Vault mount failed after its first key
  type: list
  elements: dict
unanswered:
  description:
    - Writes into a Vault mount that got no answer and were not found in the mount when checked; they may still
      land. List the mount, or run again.
  returned: when a write into a Vault mount failed after its first key
  type: list
  elements: dict
method:
  description: How the keys were (or would be) copied - V(native), V(migration_server) or V(mysql_migrate_keyring).
  returned: always
  type: str
  sample: migration_server
tool_command:
  description:
    - The tool's command line, with its private work directory shown as C(<workdir>). It never holds a secret.
  returned: when a tool is used
  type: list
  elements: str
  sample: [/usr/sbin/mysqld, --defaults-file=<workdir>/tool.cnf, --user=mysql, '...']
tool_output:
  description:
    - What the tool printed (the last 8000 characters of each stream, secrets masked), its exit status, and the
      collection's verdict on it.
  returned: when a tool ran
  type: dict
tool_skipped:
  description: Why the tool was not run because there was nothing to do.
  returned: when a tool would have been used and every key is known to be there already
  type: str
tool_left_paused:
  description: True when the tool ended or died leaving C(keyring_operations) OFF and the module set it ON.
  returned: when that happened
  type: bool
destination_restored:
  description: True when a failed tool run had changed the destination file and the module put it back.
  returned: when a tool run failed
  type: bool
run_record:
  description: The record of this successful tool run on the host.
  returned: when a tool run succeeded
  type: str
previous_run:
  description: The record of the previous successful run, when the tool was not run again because of it.
  returned: when that happened
  type: dict
'''

import copy

from ansible_collections.keyops.mysql.plugins.module_utils.migration import MIGRATION_OPTIONS, KeyringMigration
from ansible_collections.keyops.mysql.plugins.module_utils.module_base import KeyopsModule


def main():
    module = KeyopsModule(
        argument_spec=KeyopsModule.generate_argspec(
            connection=True,
            online=dict(type='bool', default=False),
            switch_config=dict(type='path'),
            backup=dict(type='bool', default=False),
            **copy.deepcopy(MIGRATION_OPTIONS)
        ),
        supports_check_mode=True,
    )
    module.run(KeyringMigration.for_module(module).run)


if __name__ == '__main__':
    main()
