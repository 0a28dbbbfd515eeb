#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: keyring_info
short_description: Report a MySQL server's keyring state, and optionally local keystore files
version_added: 0.1.0
description:
  - Reads, never changes, what a running MySQL server says about its keyring - version, C(keyring_operations),
    the active keyring components and plugins with their data files, C(server_uuid), and the ids of the keys it
    holds - and, for keystore files given in O(keystores), what the files hold.
  - Never returns key bytes.
options:
  keystores:
    description:
      - Keystore files on the managed host to inspect as well (format details, key count, checksum and any
        C(.backup) file with what the server would do with it), or Vault mounts in Percona's layout, reached from
        the managed host (see RV(keystores)).
      - Leave empty to report the server only. Set O(server=false) to report files only.
    type: list
    elements: dict
    default: []
    suboptions:
      type:
        description: The keystore's format.
        type: str
        required: true
        choices: [keyring_file, component_keyring_file, component_keyring_encrypted_file, keyring_vault,
                  component_keyring_vault]
      path:
        description: Absolute path of the keystore data file. Required for the file types.
        type: path
      password:
        description: Password of a V(component_keyring_encrypted_file) keystore.
        type: str
      follow:
        description:
          - Follow a symbolic link at O(keystores[].path) itself when root owns the link. Without it (and for a link
            owned by anyone else) a link there is refused, since keystore directories belong to the server's OS user.
        type: bool
        default: false
      config_file:
        description: As O(keyops.mysql.keyring_migrate#module:source.config_file).
        type: path
      url:
        description: As O(keyops.mysql.keyring_migrate#module:source.url).
        type: str
      secret_mount_point:
        description: As O(keyops.mysql.keyring_migrate#module:source.secret_mount_point).
        type: str
      kv_version:
        description: As O(keyops.mysql.keyring_migrate#module:source.kv_version).
        type: str
        choices: [auto, '1', '2']
      token:
        description: As O(keyops.mysql.keyring_migrate#module:source.token).
        type: str
      token_file:
        description: As O(keyops.mysql.keyring_migrate#module:source.token_file).
        type: path
      ca:
        description: As O(keyops.mysql.keyring_migrate#module:source.ca).
        type: path
      namespace:
        description: As O(keyops.mysql.keyring_migrate#module:source.namespace).
        type: str
      timeout:
        description: As O(keyops.mysql.keyring_migrate#module:source.timeout).
        type: int
  server:
    description: Whether to connect to the server with the login options.
    type: bool
    default: true
  verify_queries:
    description:
      - Read-only statements to run on the server, for example a C(SELECT) from an encrypted table. The module
        fails, naming the statement, if one fails; it returns only their row counts, never their rows.
    type: list
    elements: str
    default: []
  verify_encrypted_tables:
    description:
      - Also read one row from each of up to this many encrypted InnoDB tables (those whose C(CREATE_OPTIONS) in
        C(information_schema.TABLES) hold C(ENCRYPTION='Y'), in name order), as O(verify_queries) do. Opening an
        encrypted table needs its key, decrypted with the master key from the keyring, so this finds a server
        whose keyring lacks a key or holds a garbled one.
      - Tables in an encrypted general tablespace do not show C(ENCRYPTION) in C(CREATE_OPTIONS) and are not
        found this way; name them in O(verify_queries).
      - V(0) reads none.
    type: int
    default: 0
  verify_binary_logs:
    description:
      - When the server encrypts its binary logs (C(binlog_encryption=ON)), also read the first event of its oldest
        and of its newest encrypted binary log (C(SHOW BINLOG EVENTS ... LIMIT 1)), as O(verify_queries) do. Each
        log's file password is encrypted with the replication master key it was written under, which the server
        fetches from its keyring, so this finds a keyring that lost an older binary log master key.
      - Needs C(REPLICATION CLIENT) and C(REPLICATION SLAVE); a login without them reads none, with a warning.
    type: bool
    default: false
  migration:
    description:
      - Also report what M(keyops.mysql.keyring_migrate) would do, in check mode, with these options - which keys
        it would copy, which are already there, which conflict, and whether it would fail and why - in
        RV(migration). Nothing is written and the server is not paused.
      - A failure of that check does not fail this module; it is reported in RV(migration.failed) and
        RV(migration.msg). The server report is as without this option.
      - One task instead of two where a playbook needs both the server's state and the copy's plan (the
        C(keyops.mysql.keyring_migration) role's preflight does), which saves Ansible's per-task cost on every
        host.
      - M(keyops.mysql.keyring_migrate) chooses the method as with O(keyops.mysql.keyring_migrate#module:method=auto)
        and the default O(keyops.mysql.keyring_migrate#module:tool) settings.
    type: dict
    suboptions:
      source:
        description:
          - The keystore keys would be copied from, as O(keyops.mysql.keyring_migrate#module:source).
        type: dict
        required: true
        suboptions: &keystore
          type:
            description:
              - The keystore's format, as in O(keyops.mysql.keyring_migrate#module:source.type).
            type: str
            required: true
            choices: [component_keyring_aws, component_keyring_encrypted_file, component_keyring_file,
                      component_keyring_hashicorp, component_keyring_kmip, component_keyring_oci,
                      component_keyring_vault, keyring_aws, keyring_encrypted_file, keyring_file, keyring_hashicorp,
                      keyring_oci, keyring_okv, keyring_vault]
          path:
            description: Absolute path of the keystore data file on the managed host.
            type: path
          password:
            description: Password of an encrypted keystore.
            type: str
          options:
            description: As O(keyops.mysql.keyring_migrate#module:source.options).
            type: dict
          secret_options:
            description: As O(keyops.mysql.keyring_migrate#module:source.secret_options).
            type: dict
          follow:
            description: As O(keyops.mysql.keyring_migrate#module:source.follow).
            type: bool
            default: false
          config_file:
            description: As O(keyops.mysql.keyring_migrate#module:source.config_file).
            type: path
          url:
            description: As O(keyops.mysql.keyring_migrate#module:source.url).
            type: str
          secret_mount_point:
            description: As O(keyops.mysql.keyring_migrate#module:source.secret_mount_point).
            type: str
          kv_version:
            description: As O(keyops.mysql.keyring_migrate#module:source.kv_version).
            type: str
            choices: [auto, '1', '2']
          token:
            description: As O(keyops.mysql.keyring_migrate#module:source.token).
            type: str
          token_file:
            description: As O(keyops.mysql.keyring_migrate#module:source.token_file).
            type: path
          ca:
            description: As O(keyops.mysql.keyring_migrate#module:source.ca).
            type: path
          namespace:
            description: As O(keyops.mysql.keyring_migrate#module:source.namespace).
            type: str
          timeout:
            description: As O(keyops.mysql.keyring_migrate#module:source.timeout).
            type: int
      destination:
        description:
          - The keystore keys would be copied into, as O(keyops.mysql.keyring_migrate#module:destination).
        type: dict
        required: true
        suboptions: *keystore
      owner:
        description: As O(keyops.mysql.keyring_migrate#module:owner).
        type: str
      group:
        description: As O(keyops.mysql.keyring_migrate#module:group).
        type: str
      mode:
        description: As O(keyops.mysql.keyring_migrate#module:mode).
        type: raw
      allow_empty_source:
        description: As O(keyops.mysql.keyring_migrate#module:allow_empty_source).
        type: bool
        default: false
      on_backup_file:
        description: As O(keyops.mysql.keyring_migrate#module:on_backup_file).
        type: str
        choices: [fail, follow_server]
        default: fail
      max_keys_listed:
        description: As O(keyops.mysql.keyring_migrate#module:max_keys_listed).
        type: int
        default: 1000
      allow_shared_mount:
        description: As O(keyops.mysql.keyring_migrate#module:allow_shared_mount).
        type: bool
        default: false
  server_files:
    description:
      - Also report what the server reads its keyring set-up from, in RV(server_files) - its option files (its
        command line's C(--defaults-file), C(--defaults-extra-file) and C(--defaults-group-suffix), the default files
        its own binary lists, and their C(!include) and C(!includedir) files), every line of them and every option
        on its command line that loads or configures the C(keyring_file) plugin, and its component manifest and
        C(component_keyring_file) configuration (beside its binary and in its C(plugin_dir), or in its data directory
        where those defer with C(read_local_manifest) and C(read_local_config)).
      - With O(server=true) the running server is found through its process (C(@@pid_file), C(/proc/<pid>)), so
        keyops must run as root on the host. With O(server=false) the server is stopped (an upgrade in progress)
        and is described by the options below.
      - O(plan) plans a switch from the C(keyring_file) plugin to C(component_keyring_file) with it.
      - Option files are read through root's links (Debian's C(/etc/mysql/my.cnf) is an alternatives link); the
        files in the data directory never through a link.
    type: dict
    suboptions:
      exe:
        description: With O(server=false), the C(mysqld) binary the server starts with.
        type: path
        default: /usr/sbin/mysqld
      defaults_file:
        description: With O(server=false), the C(--defaults-file) the server's service gives it, if any.
        type: path
      group_suffix:
        description: With O(server=false), the C(--defaults-group-suffix) (C(@name) for systemd's C(mysqld@name)).
        type: str
      datadir:
        description: With O(server=false), its data directory, when the option files and the binary do not say.
        type: path
      plugin_dir:
        description: With O(server=false), its plugin directory, when the option files and the binary do not say.
        type: path
      version:
        description:
          - With O(server=false), the MySQL version whose data directory this is (for example V(8.0.36)) - which
            C([mysqld-X.Y]) group it read, and whether it can have components.
        type: str
  expected_keystore:
    description:
      - A keystore file the server should use; RV(on_expected_keystore) then says whether it has exactly one keyring
        enabled, on that file (paths compared as the host resolves them).
    type: path
  replication:
    description:
      - Also report the server's place in replication in RV(replication), read from C(performance_schema) only
        (never C(SHOW SLAVE STATUS), which MySQL 8.4 removed) - what the role orders a rolling migration by.
      - The login user needs C(SELECT) on the C(performance_schema) replication tables and C(threads); a table it
        may not read is reported as V(null).
    type: bool
    default: false
  config_files:
    description:
      - Keyring configuration files to report - a component configuration (C(component_keyring_file.cnf)), a
        manifest (C(mysqld.my)) or an option file - with the keystore each names, and the backups keyops left beside
        them (RV(config_files)). Compare with RV(active_keystores) to find a server whose configuration names
        another keystore than the one it uses (a run stopped between the rewrite and the reload or restart).
      - Read without following a link, like every file keyops reads in a directory the server's OS user can write.
    type: list
    elements: path
    default: []
  plan:
    description:
      - With O(migration), also decide what the C(keyops.mysql.keyring_migration) role does to this server, and
        return it in RV(plan) - which keystore the server uses (paths compared as the host resolves them), the
        action (nothing, switch, restart), the files a switch rewrites, and every reason the server cannot be
        migrated, each with a stable code.
      - The files a switch to a component rewrites (O(plan.component_config), O(plan.component_manifest)) are read
        here, never through a link, to find a global file that defers to the data directory's.
      - Needs O(server=true).
    type: dict
    suboptions:
      use_after:
        description: Which keystore the server uses afterwards; V(destination) switches a server on the source.
        type: str
        choices: [destination, source]
        default: destination
      can_stop_and_start:
        description:
          - Whether the role can stop and start this server on their own. A server that must be restarted is
            stopped, given the keys its source gained since the copy, and started; without a way to stop and start it
            (only a restart command), that is a problem.
        type: bool
        default: true
      component_config:
        description: The component configuration file a switch to a component rewrites.
        type: path
      component_manifest:
        description: The manifest a switch to a component rewrites, if any.
        type: path
      option_file:
        description: The option file a switch to the C(keyring_file) plugin rewrites.
        type: path
      check_privileges:
        description: Whether a login user without the privileges to set C(keyring_operations) is a problem.
        type: bool
        default: true
      restart_policy:
        description:
          - V(when_needed) switches or reloads a server without a restart where MySQL allows it (a component
            reloading its configuration); V(always) restarts every server that is switched or gets new keys.
        type: str
        choices: [when_needed, always]
        default: when_needed
      rollback:
        description:
          - The migration is being rolled back (O(migration.source) is the migration's destination). A server
            already on O(migration.destination) whose O(migration.source) does not exist - one the migration never
            reached - has nothing to do, RV(plan.copy_keys=false), rather than a refused copy.
        type: bool
        default: false
      server_stopped:
        description:
          - The server is down (an upgrade in progress) and is described by O(server_files) with O(server=false);
            RV(plan.how=stopped) copies and switches it with no server, then starts it. A server that runs after all
            (its pid file names a live C(mysqld)) is a problem.
        type: bool
        default: false
extends_documentation_fragment:
  - keyops.mysql.mysql
  - keyops.mysql.attributes
  - keyops.mysql.attributes.action_group
attributes:
  check_mode:
    support: full
    details: This module only reads, and behaves the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
author:
  - keyops.mysql developers (@keyops)
'''

EXAMPLES = r'''
- name: What keyring does this server use, and which keys does it hold?
  keyops.mysql.keyring_info:
    login_unix_socket: /run/mysqld/mysqld.sock
  register: keyring

- name: Report the server, and what copying its keystore into an encrypted keystore would do
  keyops.mysql.keyring_info:
    login_unix_socket: /run/mysqld/mysqld.sock
    migration:
      source:
        type: component_keyring_file
        path: /var/lib/mysql-keyring/component_keyring_file
      destination:
        type: component_keyring_encrypted_file
        path: /var/lib/mysql-keyring/component_keyring_encrypted_file
        password: "{{ vault_keyring_password }}"
  register: keyring_and_plan

- name: Inspect a keystore file without a server
  keyops.mysql.keyring_info:
    server: false
    keystores:
      - type: keyring_file
        path: /var/lib/mysql-keyring/keyring
'''

RETURN = r'''
server_version:
  description: The server's version string.
  returned: O(server=true)
  type: str
  sample: 9.7.4
server_uuid:
  description: The server's C(server_uuid), V(null) where there is none (MariaDB); InnoDB master key ids contain it.
  returned: O(server=true)
  type: str
keyring_operations:
  description: C(keyring_operations), or V(null) where the server has no such variable (MariaDB, MySQL before 5.7.21).
  returned: O(server=true)
  type: bool
components:
  description: Keyring components from C(performance_schema.keyring_component_status), one dict per component.
  returned: O(server=true)
  type: list
  elements: dict
  sample: [{Component_name: component_keyring_file, Component_status: Active,
            Data_file: /var/lib/mysql-keyring/component_keyring_file, Read_only: 'No'}]
plugins:
  description: Active keyring plugins (C(information_schema.PLUGINS), type C(KEYRING)).
  returned: O(server=true)
  type: list
  elements: dict
keyring_file_data:
  description: C(@@keyring_file_data), where the server has the variable (5.7/8.0 with the plugin loaded).
  returned: O(server=true)
  type: str
active_keyrings:
  description:
    - The keyrings the server has enabled - components whose status is C(Active), plugins whose status is
      C(ACTIVE) - each with the keystore it uses (its data file, or a name such as C(the keyring_okv plugin) where
      it has none). MySQL supports one at a time.
  returned: O(server=true)
  type: list
  elements: dict
  sample: [{name: component_keyring_file, kind: component, keystore: /var/lib/mysql-keyring/component_keyring_file}]
active_keystores:
  description: The keystores of RV(active_keyrings), in the same order.
  returned: O(server=true)
  type: list
  elements: str
  sample: [/var/lib/mysql-keyring/component_keyring_file]
keystore_in_use:
  description:
    - With O(migration), which of its two keystores the server uses - V(source), V(destination) or V(other) -
      comparing paths as the host resolves them.
  returned: O(server=true) and O(migration) given
  type: str
  sample: source
on_expected_keystore:
  description:
    - Whether the server has exactly one keyring enabled, on O(expected_keystore), or with O(plan) on
      RV(plan.expected_keystore).
  returned: O(server=true) and O(expected_keystore) or O(plan) given
  type: bool
config_files:
  description: One report per O(config_files) entry, in order.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    exists:
      description: Whether it exists.
      type: bool
    format:
      description: V(json) (a component configuration or manifest) or V(option_file); null when it does not exist.
      type: str
    keystore:
      description: The keystore it names - a component configuration's C(path), an option file's C(keyring_file_data).
      type: str
    components:
      description: The components a manifest loads.
      type: str
    backups:
      description: Backups of it that keyops made before rewriting it (C(<file>.<pid>.<time>~)), oldest first.
      type: list
      elements: str
  sample:
    - path: /var/lib/mysql/component_keyring_file.cnf
      exists: true
      format: json
      keystore: /var/lib/mysql-keyring/component_keyring_file.migrated
      components: null
      backups: [/var/lib/mysql/component_keyring_file.cnf.4121.2026-12-02@05:06:46~]
tls_cipher:
  description: The TLS cipher of the module's own connection; empty when the connection is not encrypted.
  returned: O(server=true)
  type: str
  sample: TLS_AES_256_GCM_SHA384
paused_by_keyops:
  description:
    - When C(keyring_operations) is OFF because a keyops run paused the server and was interrupted before it
      resumed it, the marker that run left (when, and which process); V(null) otherwise.
  returned: O(server=true)
  type: dict
can_set_keyring_operations:
  description:
    - Whether the login user holds the privileges to set C(keyring_operations) (C(SUPER), or
      C(SYSTEM_VARIABLES_ADMIN) and C(ENCRYPTION_KEY_ADMIN)), judged from C(SHOW GRANTS).
  returned: O(server=true)
  type: bool
verify_queries:
  description:
    - Each O(verify_queries) statement with the number of rows it returned, then each read of an encrypted table
      that O(verify_encrypted_tables) made, then each read of an encrypted binary log (O(verify_binary_logs)).
  returned: O(server=true)
  type: list
  elements: dict
  sample: [{query: SELECT * FROM shop.customers, row_count: 5}]
keys:
  description: The keys the server holds (C(performance_schema.keyring_keys)), as ids and owners only.
  returned: O(server=true)
  type: list
  elements: dict
  sample: [{key_id: INNODBKey-3c1f5f0e-1d2f-11ef-9a0c-0242ac120002-1, user_id: ''}]
migration:
  description:
    - What M(keyops.mysql.keyring_migrate) would return in check mode with O(migration) - the same keys as its
      return values (RV(keyops.mysql.keyring_migrate#module:migrated), RV(keyops.mysql.keyring_migrate#module:migrated_count),
      RV(keyops.mysql.keyring_migrate#module:conflicts) and the others) - plus RV(migration.failed) and RV(migration.msg).
  returned: when O(migration) is set
  type: dict
  contains:
    changed:
      description: Whether M(keyops.mysql.keyring_migrate) would report a change.
      type: bool
    failed:
      description: Whether it would fail; RV(migration.msg) then says why, as it would.
      type: bool
    msg:
      description: Why it would fail.
      type: str
      returned: when RV(migration.failed) is true
    migrated_count:
      description: How many keys it would copy.
      type: int
    already_present_count:
      description: How many source keys the destination already holds.
      type: int
    conflict_count:
      description: How many source keys conflict with the destination.
      type: int
    destination_created:
      description: Whether it would create the destination file.
      type: bool
  sample:
    changed: true
    failed: false
    method: native
    migrated: [{key_id: INNODBKey-3c1f5f0e-1d2f-11ef-9a0c-0242ac120002-1, user_id: '', key_type: AES}]
    migrated_count: 1
    already_present: []
    already_present_count: 0
    conflicts: []
    conflict_count: 0
    keys_listed_truncated: false
    source_key_count: 1
    destination_key_count: 1
    destination_created: true
replication:
  description:
    - With O(replication=true), the server's replication state - C(server_uuid), C(gtid_executed), C(channels) (each
      asynchronous channel with its source's uuid, host and port, receiver and applier state and errors),
      C(group) (the Group Replication group name, this member's state and role, the members, its
      C(exit_state_action), and C(login_outlasts_offline_mode) - whether the login holds C(CONNECTION_ADMIN) or
      C(SUPER)) or V(null), C(replicas_connected) (the hosts of the replicas connected to it).
  returned: when O(replication=true)
  type: dict
  sample: {server_uuid: 3c1f..., gtid_executed: '3c1f...:1-42', group: null, replicas_connected: ['10.0.0.2'],
           channels: [{channel: '', source_uuid: 9a2b..., source_host: 10.0.0.1, source_port: 3306,
                       receiver_state: 'ON', receiver_error: 0, applier_state: 'ON', applier_error: 0}]}
service:
  description:
    - The service that stops and starts this server - the systemd unit a running server is in (only a unit named
      like a database server, C(mysqld), C(mysql@replica1), C(mariadb)), else the name its distribution's packages
      give it (C(mysqld) on the RedHat family, C(mysql) elsewhere, C(mariadb) for MariaDB) - and how it was found.
    - The C(keyops.mysql.keyring_migration) role's default C(keyring_migration_service_name).
  returned: always
  type: dict
  sample: {name: mysqld, found_from: systemd unit of the running server}
server_files:
  description:
    - With O(server_files), what the server reads its keyring set-up from.
  returned: when O(server_files) is set
  type: dict
  contains:
    pid:
      description: The running server's process id (V(null) for a stopped server).
      type: int
    exe:
      description: Its C(mysqld) binary.
      type: str
    datadir:
      description: Its data directory.
      type: str
    plugin_dir:
      description: Its plugin directory.
      type: str
    option_files:
      description: The option files it reads, in order (a missing one is listed too; it reads nothing from it).
      type: list
      elements: str
    command_line:
      description:
        - What its command line says - C(defaults_file), C(defaults_extra_file), C(group_suffix), C(no_defaults) -
          and C(plugin_options), its options that load or configure the C(keyring_file) plugin. Its other
          arguments are not returned.
      type: dict
    keyring_settings:
      description:
        - Every line of its option files that loads or configures the C(keyring_file) plugin (C(file), C(line),
          C(group), C(option), C(value)), with C(mine) - whether the group is one this server reads.
      type: list
      elements: dict
    keyring_file_data:
      description: The C(keyring_file_data) its options give it (the last one it reads), or V(null).
      type: str
    component_files:
      description:
        - C(global_manifest), C(global_config), C(local_manifest), C(local_config) - each C(path) and C(members)
          (V(null) when the file is missing) - and C(manifest) and C(config), the paths this server reads (the
          local ones where the global ones defer, or would be made to).
      type: dict
  sample:
    pid: 4242
    exe: /usr/sbin/mysqld
    datadir: /var/lib/mysql/
    plugin_dir: /usr/lib/mysql/plugin/
    option_files: [/etc/my.cnf, /etc/mysql/my.cnf, /var/lib/mysql/.my.cnf]
    command_line: {defaults_file: null, defaults_extra_file: null, group_suffix: '', no_defaults: false,
                   plugin_options: []}
    keyring_settings: [{file: /etc/mysql/mysql.conf.d/mysqld.cnf, line: 12, group: mysqld,
                        option: early_plugin_load, value: keyring_file.so, mine: true}]
    keyring_file_data: /var/lib/mysql-keyring/keyring
plan:
  description:
    - With O(plan), the role's decision for this server. Its RV(plan.problems) are empty when the server can be
      migrated; the role stops the whole run before any change if any host has one.
  returned: when O(plan) is set
  type: dict
  contains:
    uses:
      description: Which keystore the server uses now - V(source), V(destination) or V(other).
      type: str
    action:
      description:
        - V(switch) (point the server's configuration at the destination), V(restart) (it already uses the
          destination, which gets new keys, and must load them) or V(none).
      type: str
    how:
      description:
        - V(online) (the keys are copied with the server paused only for its own copy), V(reload) (also switched or
          made to load the new keys by C(ALTER INSTANCE RELOAD KEYRING), without a restart), V(restart) (paused,
          copied, switched and restarted) or V(stopped) (a stopped server, copied and switched, then started).
      type: str
    expected_keystore:
      description: The keystore the server must use at the end.
      type: str
    destination_id:
      description:
        - A Vault destination's server and mount point (never the token), which the role checks no two hosts share
          (Percona wants one mount per server); V(null) for a file destination.
      type: str
    switch_edits:
      description:
        - The files a switch rewrites, in order, as M(keyops.mysql.keyring_config) options (C(path), C(format),
          C(settings), C(defaults), C(section), C(option), C(value)); C(password) says whether the destination's
          password goes into that file. Empty unless RV(plan.action=switch).
        - A switch from the C(keyring_file) plugin to C(component_keyring_file) with O(server_files) rewrites the
          files the server reads - the component configuration and manifest in its data directory, global files
          that defer to them where missing, and each option file whose groups of this server load or configure the
          plugin (C(remove_keyring_plugin), with this server's groups) - and C(owner), C(group) and C(mode) of a
          file it creates.
      type: list
      elements: dict
    warnings:
      description: What the switch does that a DBA should know (also given as module warnings).
      type: list
      elements: str
    copy_keys:
      description:
        - Whether the role copies keys on this host. False only for a rollback of a server the migration never
          reached (see O(plan.rollback)).
      type: bool
    problems:
      description: Why the server cannot be migrated, each a C(code) and a one-line C(msg).
      type: list
      elements: dict
      sample: [{code: paused_by_someone_else, msg: keyring_operations is OFF and keyops did not pause it}]
keystores:
  description:
    - One report per O(keystores) entry. Never key bytes, passwords or tokens.
    - A Vault keystore's report has the URL, the mount point, the KV version found (as Percona finds it), the keys,
      the C(server_uuid)s in its InnoDB master key ids (more than one means a mount shared by several servers,
      which Percona does not support), and the entries that are not keys - sub-paths (V(directories)), names Percona
      cannot parse (V(foreign)) and KV v2 keys without a current version (V(soft_deleted)).
  returned: always
  type: list
  elements: dict
  sample:
    - path: /var/lib/mysql-keyring/keyring
      type: keyring_file
      exists: true
      size: 283
      sha256: 9403893c704a23bb78b990eea371ce14a67f5fefd91947e200444b0247e25dc6
      key_count: 3
      keys: [{key_id: key3, user_id: root@localhost, key_type: AES}]
      details: {version: '2.0', architecture: LE_64}
      backup: {present: false, server_action: none}
    - path: vault https://vault.example.com:8200 mount 'kv/mysql/db1'
      type: component_keyring_vault
      url: https://vault.example.com:8200
      secret_mount_point: kv/mysql/db1
      kv_version: 2
      mount: kv
      directory: mysql/db1
      exists: true
      key_count: 1
      keys: [{key_id: INNODBKey-8f7f0b5e-6f7a-11ef-9e2c-0242ac120002-1, user_id: '', key_type: AES}]
      server_uuids: [8f7f0b5e-6f7a-11ef-9e2c-0242ac120002]
      directories: []
      foreign: []
      soft_deleted: []
'''

import copy
import re

from ansible_collections.keyops.mysql.plugins.module_utils.config_files import parse_json_object, read_text
from ansible_collections.keyops.mysql.plugins.module_utils.config_status import config_file_status
from ansible_collections.keyops.mysql.plugins.module_utils.host_plan import plan_host
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.base import ON_BACKUP_IGNORE
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import key_summary
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.model import KeystoreError
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.vault import VAULT_TYPES, VaultKeystore
from ansible_collections.keyops.mysql.plugins.module_utils.migration import (
    MIGRATION_OPTIONS,
    TOOL_OPTIONS,
    check_mode_result,
)
from ansible_collections.keyops.mysql.plugins.module_utils import replication
from ansible_collections.keyops.mysql.plugins.module_utils.module_base import FILE_PATH_REQUIRED, KEYSTORE_OPTIONS, KeyopsModule
from ansible_collections.keyops.mysql.plugins.module_utils.mysql import MysqlError
from ansible_collections.keyops.mysql.plugins.module_utils.server_keyrings import active_keyrings, keystore_in_use, uses_only
from ansible_collections.keyops.mysql.plugins.module_utils import server_discovery, service_name
from ansible_collections.keyops.mysql.plugins.module_utils.plugin_switch import plan_plugin_switch
from ansible_collections.keyops.mysql.plugins.module_utils.vault_spec import open_spec_keystore, vault_settings


# O(migration): keyring_migrate's options, but its method and tool settings (the defaults are used).
MIGRATION_PLAN_OPTIONS = dict((name, spec) for name, spec in copy.deepcopy(MIGRATION_OPTIONS).items()
                              if name not in ('method', 'tool'))
# O(plan): what the role decides with, besides the two keystores.
PLAN_OPTIONS = dict(
    use_after=dict(type='str', default='destination', choices=['destination', 'source']),
    can_stop_and_start=dict(type='bool', default=True),
    component_config=dict(type='path'),
    component_manifest=dict(type='path'),
    option_file=dict(type='path'),
    check_privileges=dict(type='bool', default=True),
    restart_policy=dict(type='str', default='when_needed', choices=['when_needed', 'always']),
    rollback=dict(type='bool', default=False),
    server_stopped=dict(type='bool', default=False),
)
# O(server_files): a stopped server's description (a running one is found through its process).
SERVER_FILES_OPTIONS = dict(
    exe=dict(type='path', default=server_discovery.DEFAULT_EXE),
    defaults_file=dict(type='path'),
    group_suffix=dict(type='str'),
    datadir=dict(type='path'),
    plugin_dir=dict(type='path'),
    version=dict(type='str'),
)
DEFAULT_TOOL_OPTIONS = dict((name, spec.get('default')) for name, spec in TOOL_OPTIONS.items())

NEEDED_PRIVILEGES = ('SELECT on performance_schema.keyring_component_status and performance_schema.keyring_keys, '
                     'and to pause the server SUPER, or SYSTEM_VARIABLES_ADMIN and ENCRYPTION_KEY_ADMIN')


def server_facts(session):
    try:
        return _server_facts(session)
    except MysqlError as exc:
        if exc.code in (1142, 1227):       # table access denied, specific privilege denied
            raise MysqlError('%s. The login user lacks a privilege keyops needs: %s' % (exc, NEEDED_PRIVILEGES),
                             exc.code)
        raise


def _server_facts(session):
    facts = dict(server_version=session.server_version, server_uuid=session.server_uuid)   # MariaDB: None
    rows = session.optional_query('SELECT @@GLOBAL.keyring_operations')
    facts['keyring_operations'] = bool(int(rows[0][0])) if rows else None
    marker = session.read_pause_marker()
    facts['paused_by_keyops'] = marker if facts['keyring_operations'] is False else None
    components = []
    rows = session.optional_query('SELECT STATUS_KEY, STATUS_VALUE FROM performance_schema.keyring_component_status')
    for name, value in rows or ():
        # The table lists key/value pairs; a new Component_name starts a new component.
        if name == 'Component_name' or not components:
            components.append({})
        components[-1][name] = value
    facts['components'] = components
    rows = session.optional_query("SELECT PLUGIN_NAME, PLUGIN_STATUS FROM information_schema.PLUGINS "
                                  "WHERE PLUGIN_TYPE = 'KEYRING'")
    facts['plugins'] = [dict(name=n, status=s) for n, s in rows or ()]
    rows = session.optional_query('SELECT @@GLOBAL.keyring_file_data')
    facts['keyring_file_data'] = rows[0][0] if rows else None
    keyrings = active_keyrings(components, facts['plugins'], facts['keyring_file_data'])
    facts['active_keyrings'] = keyrings
    facts['active_keystores'] = [k['keystore'] for k in keyrings]
    rows = session.optional_query("SELECT VARIABLE_VALUE FROM performance_schema.session_status "
                                  "WHERE VARIABLE_NAME = 'Ssl_cipher'")
    facts['tls_cipher'] = rows[0][0] if rows else None
    rows = session.optional_query('SELECT KEY_ID, KEY_OWNER FROM performance_schema.keyring_keys')
    facts['keys'] = [dict(key_id=k, user_id=o or '') for k, o in rows or ()]
    facts['can_set_keyring_operations'] = can_set_keyring_operations(session.query('SHOW GRANTS', record=False))
    return facts


def server_pid_file(session):
    rows = session.optional_query('SELECT @@GLOBAL.pid_file, @@GLOBAL.datadir')
    if not rows or not rows[0][0]:
        return None
    return server_discovery.absolute_pid_file(*rows[0])


def server_service(facts, pid_file):
    """The service that stops and starts this server (the role's default keyring_migration_service_name)."""
    pid = service_name.pid_of(pid_file) if pid_file else None
    return service_name.discover(pid, mariadb='mariadb' in (facts.get('server_version') or '').lower())


def can_set_keyring_operations(grants):
    """SUPER, or SYSTEM_VARIABLES_ADMIN and ENCRYPTION_KEY_ADMIN, granted on *.* (SHOW GRANTS rows)."""
    held = set()
    for (grant,) in grants:
        match = re.match(r'GRANT (.+?) ON \*\.\* TO ', grant)
        if match:
            held.update(p.strip().upper() for p in match.group(1).split(','))
    return 'SUPER' in held or 'ALL PRIVILEGES' in held or {'SYSTEM_VARIABLES_ADMIN', 'ENCRYPTION_KEY_ADMIN'} <= held


def run_verify_queries(session, queries):
    results = []
    for query in queries:
        try:
            rows = session.query(query, record=False)
        except MysqlError as exc:
            raise MysqlError('verify query %r failed: %s' % (query, exc), exc.code)
        results.append(dict(query=query, row_count=len(rows)))
    return results


ENCRYPTED_TABLES = ("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' "
                    "AND ENGINE = 'InnoDB' AND CREATE_OPTIONS LIKE %s ORDER BY TABLE_SCHEMA, TABLE_NAME LIMIT %s")


def encrypted_binary_log_reads(session, warn):
    """One-event reads of the oldest and the newest encrypted binary log, as verify queries; none when the server
    does not encrypt them, or (with a warning) when the login may not list them."""
    rows = session.optional_query('SELECT @@GLOBAL.binlog_encryption, @@GLOBAL.log_bin')
    if not rows or not int(rows[0][0]) or not int(rows[0][1]):
        return []
    try:
        logs = session.query('SHOW BINARY LOGS', record=False)
        session.query("SHOW BINLOG EVENTS IN '%s' LIMIT 0" % logs[-1][0].replace("'", "''"), record=False)
    except MysqlError as exc:
        if exc.code in (1227, 1142):           # access denied: REPLICATION CLIENT / REPLICATION SLAVE
            warn('the encrypted binary logs were not read: %s' % exc)
            return []
        raise
    encrypted = [row[0] for row in logs if len(row) > 2 and str(row[2]).lower() == 'yes']
    return ["SHOW BINLOG EVENTS IN '%s' LIMIT 1" % name.replace("'", "''")
            for name in sorted(set(encrypted[:1] + encrypted[-1:]), key=encrypted.index)]


def encrypted_table_reads(session, limit):
    """One-row reads of up to `limit` encrypted InnoDB tables, as verify queries."""
    if limit <= 0:
        return []
    rows = session.query(ENCRYPTED_TABLES, ("%ENCRYPTION='Y'%", limit), record=False)
    return ['SELECT 1 FROM %s.%s LIMIT 1' % tuple('`%s`' % name.replace('`', '``') for name in row) for row in rows]


def vault_destination_id(spec):
    """A Vault destination's server and mount point, which no two hosts of a run may share (Percona wants one mount
    per server); None for a file (hosts write their own files) or a configuration that cannot be read (the copy's
    check says why)."""
    if spec['type'] not in VAULT_TYPES:
        return None
    try:
        return vault_settings(spec, 'destination').where()
    except KeystoreError:
        return None


def keystore_report(spec, role):
    keystore = open_spec_keystore(spec, role)
    if isinstance(keystore, VaultKeystore):
        return dict(keystore.inspect(), path=keystore.path)
    state = keystore.inspect()
    report = state.as_dict()
    report['keys'] = [key_summary(k) for k in keystore.load(ON_BACKUP_IGNORE)] if state.exists else []
    return report


def read_server_files(module, process):
    """RV(server_files), and plugin_switch's plan of a move from the keyring_file plugin to component_keyring_file
    (its edits, in the destination of O(migration)). For a stopped server (O(server=false)) also what it will use
    when it starts, as the server report would say it: its version, and the keystore its options give the plugin."""
    options, stopped = module.params['server_files'], process is None
    migration = module.params['migration'] or {}
    if stopped:
        process = server_discovery.stopped_server(options, migration.get('owner') or 'mysql')
        version = options['version'] or server_discovery.binary_version(process['exe'], module.run_command)
    else:
        version = module.result['server_version']
    facts = server_discovery.discover(process, module.run_command, version,
                                      None if stopped else module.result.get('keyring_file_data'))
    switch = plan_plugin_switch(facts, (migration.get('destination') or {}).get('path'),
                                migration.get('group') or 'mysql')
    switch['edits'] = [dict(edit, path=server_discovery.edit_path(edit['path']))
                       if edit['format'] == 'option_file' else edit for edit in switch['edits']]
    if stopped:
        switch['running_pid'] = server_discovery.running_pid(facts, switch['groups'])
    module.result['server_files'] = server_discovery.report(process, facts, switch)
    if stopped:
        loads, data_file = server_discovery.options_keystore(switch)
        module.result.update(server_version=version, active_keystores=[data_file] if loads and data_file else [])
    return switch


def main():
    module = KeyopsModule(
        argument_spec=KeyopsModule.generate_argspec(
            connection=True,
            keystores=dict(type='list', elements='dict', default=[], options=KEYSTORE_OPTIONS, no_log=False,
                           required_if=FILE_PATH_REQUIRED),
            server=dict(type='bool', default=True),
            verify_queries=dict(type='list', elements='str', default=[]),
            verify_encrypted_tables=dict(type='int', default=0),
            verify_binary_logs=dict(type='bool', default=False),
            migration=dict(type='dict', options=MIGRATION_PLAN_OPTIONS),
            expected_keystore=dict(type='path'),
            config_files=dict(type='list', elements='path', default=[]),
            replication=dict(type='bool', default=False),
            plan=dict(type='dict', options=PLAN_OPTIONS),
            server_files=dict(type='dict', options=SERVER_FILES_OPTIONS),
        ),
        required_by=dict(plan=('migration',)),
        supports_check_mode=True,
    )

    def body():
        process = pid_file = None
        if module.params['server']:
            with module.mysql_session() as session:
                module.result.update(server_facts(session))
                pid_file = server_pid_file(session)
                if module.params['server_files'] is not None:
                    process = server_discovery.running_server(session)
                queries = module.params['verify_queries'] + encrypted_table_reads(
                    session, module.params['verify_encrypted_tables'])
                if module.params['verify_binary_logs']:
                    queries += encrypted_binary_log_reads(session, module.warn)
                module.result['verify_queries'] = run_verify_queries(session, queries)
                if module.params['replication']:
                    module.result['replication'] = replication.status(session, exit_state=True)
            if module.params['expected_keystore']:
                module.result['on_expected_keystore'] = uses_only(module.result['active_keystores'],
                                                                  module.params['expected_keystore'])
        module.result['service'] = server_service(module.result, pid_file)
        switch = None
        if module.params['server_files'] is not None:
            switch = read_server_files(module, process)
        module.result['keystores'] = [keystore_report(spec, 'keystores[%d]' % index)
                                      for index, spec in enumerate(module.params['keystores'])]
        module.result['config_files'] = [config_file_status(path) for path in module.params['config_files']]
        if module.params['migration'] is not None:
            migration = module.params['migration']
            module.result['migration'] = check_mode_result(module, dict(migration, method='auto',
                                                                        tool=DEFAULT_TOOL_OPTIONS),
                                                           server_running=module.params['server'])
            if module.params['server'] or switch is not None:
                module.result['keystore_in_use'] = keystore_in_use(
                    module.result['active_keystores'], migration['source'].get('path'),
                    migration['destination'].get('path'))
        if module.params['plan'] is not None:
            if not module.params['server'] and switch is None:
                module.fail_json(msg='plan decides from the server\'s report: it needs server: true, or server_files '
                                     'for a stopped server')
            module.result['plan'] = plan_host(module.result, module.result['migration'],
                                              dict(module.params['plan'], source=module.params['migration']['source'],
                                                   destination=module.params['migration']['destination'],
                                                   plugin_switch=switch),
                                              read_members=lambda path: parse_json_object(read_text(path), path))
            module.result['plan']['destination_id'] = vault_destination_id(module.params['migration']['destination'])
            module.result['on_expected_keystore'] = uses_only(module.result['active_keystores'],
                                                              module.result['plan']['expected_keystore'])
            for warning in module.result['plan']['warnings']:
                module.warn(warning)

    module.run(body)


if __name__ == '__main__':
    main()
