# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a freshly started sandbox MySQL host contains: data, keys and accounts.

Run as root through the server socket right after the first start. Keys are owned by the
account that calls the keyring UDF (current_user()), so each owner's keys are made over a
connection as that owner.
"""

import secrets

DATABASE = "shop"

# Tables created with ENCRYPTION='Y' (after the first master key rotation) and their row counts.
ENCRYPTED_TABLES = {
    "customers": ("id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, email VARCHAR(128) NOT NULL",
                  [(i, f"customer {i}", f"customer{i}@example.test") for i in range(1, 6)]),
    "orders": ("id INT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2) NOT NULL",
               [(i, (i % 5) + 1, f"{i * 7.25:.2f}") for i in range(1, 11)]),
    "payments": ("id INT PRIMARY KEY, order_id INT NOT NULL, card_last4 CHAR(4) NOT NULL",
                 [(i, i * 2, f"{1000 + i * 37}") for i in range(1, 4)]),
}

UDFS = [("keyring_key_generate", "INTEGER"), ("keyring_key_store", "INTEGER"),
        ("keyring_key_fetch", "STRING"), ("keyring_key_type_fetch", "STRING"),
        ("keyring_key_length_fetch", "INTEGER"), ("keyring_key_remove", "INTEGER")]

# owner account -> keys (id, type, generate length in bytes | secret value placeholder).
# "shared_aes" exists under two owners on purpose: key identity is (id, owner).
KEYS = {
    "root": [("root_aes_256", "AES", 32), ("root_rsa_2048", "RSA", 256), ("root_secret", "SECRET", None)],
    "app": [("app_aes_128", "AES", 16), ("app_rsa_1024", "RSA", 128), ("app_api_token", "SECRET", None),
            ("shared_aes", "AES", 32)],
    "reporting": [("reporting_aes_256", "AES", 32), ("reporting_db_password", "SECRET", None),
                  ("shared_aes", "AES", 32)],
}


# What the role's replication-aware preflight and health gate read (keyops.mysql.keyring_info replication: true);
# threads holds the binlog dump threads, that is how many replicas a source has.
REPLICATION_TABLES = ("replication_connection_status", "replication_connection_configuration",
                      "replication_applier_status", "replication_applier_status_by_worker",
                      "replication_applier_status_by_coordinator", "replication_group_members", "threads")


def accounts():
    """Accounts with fresh random passwords (root uses the socket with an empty password)."""
    return {
        "root": {"user": "root", "host": "localhost", "password": ""},
        # Not SUPER, cannot toggle keyring_operations; EXECUTE is what keyring_udf requires.
        "unprivileged": {"user": "app", "host": "localhost", "password": secrets.token_hex(12),
                         "grants": [f"SELECT, INSERT, UPDATE ON {DATABASE}.*", "EXECUTE ON *.*"]},
        "reporting": {"user": "reporting", "host": "localhost", "password": secrets.token_hex(12),
                      "grants": [f"SELECT ON {DATABASE}.orders", "EXECUTE ON *.*"]},
        # Exactly what a migration needs: toggling keyring_operations takes both dynamic
        # privileges; the two performance_schema tables show the keys and the component state.
        "migration": {"user": "keyops_migrate", "host": "%", "password": secrets.token_hex(12),
                      "grants": ["SYSTEM_VARIABLES_ADMIN, ENCRYPTION_KEY_ADMIN ON *.*",
                                 "SELECT ON performance_schema.keyring_keys",
                                 "SELECT ON performance_schema.keyring_component_status"]
                      # The role reads every server's place in replication (a standalone server's too: only
                      # the tables tell that it is one).
                      + ["SELECT ON performance_schema.%s" % table for table in REPLICATION_TABLES]},
    }


def owner_account(owner, accts):
    return {"root": accts["root"], "app": accts["unprivileged"], "reporting": accts["reporting"]}[owner]


def quote(value):
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def root_sql(accts):
    sql = ["ALTER INSTANCE ROTATE INNODB MASTER KEY;", f"CREATE DATABASE {DATABASE};", f"USE {DATABASE};"]
    for table, (columns, rows) in ENCRYPTED_TABLES.items():
        sql.append(f"CREATE TABLE {table} ({columns}) ENCRYPTION='Y';")
        values = ", ".join("(" + ", ".join(quote(v) for v in row) + ")" for row in rows)
        sql.append(f"INSERT INTO {table} VALUES {values};")
    sql.append("CREATE TABLE audit_log (id INT AUTO_INCREMENT PRIMARY KEY, note TEXT) ENCRYPTION='N';")
    sql.append("INSERT INTO audit_log (note) VALUES ('seeded by the keyops sandbox');")
    sql.append("INSTALL PLUGIN keyring_udf SONAME 'keyring_udf.so';")
    sql += [f"CREATE FUNCTION {name} RETURNS {ret} SONAME 'keyring_udf.so';" for name, ret in UDFS]
    for role, acct in accts.items():
        if role == "root":
            continue
        sql.append(f"CREATE USER {quote(acct['user'])}@{quote(acct['host'])} IDENTIFIED BY {quote(acct['password'])};")
        sql += [f"GRANT {g} TO {quote(acct['user'])}@{quote(acct['host'])};" for g in acct["grants"]]
    return "\n".join(sql) + "\n"


def key_sql(owner):
    """One SELECT per owner; every UDF call must return 1."""
    calls = []
    for key_id, key_type, length in KEYS[owner]:
        if key_type == "SECRET":
            calls.append(f"keyring_key_store({quote(key_id)}, 'SECRET', {quote(secrets.token_hex(16))})")
        else:
            calls.append(f"keyring_key_generate({quote(key_id)}, {quote(key_type)}, {length})")
    return "SELECT " + ", ".join(calls) + ";\n"


def expected_keys(listed, accts):
    """Combine the server's keyring_keys rows (id, owner) with the types we made them with."""
    types = {}
    for owner, keys in KEYS.items():
        acct = owner_account(owner, accts)
        for key_id, key_type, _length in keys:
            types[(key_id, f"{acct['user']}@{acct['host']}")] = key_type
    out = []
    for key_id, owner in listed:
        # InnoDB master keys and binary log keys (owner "") are AES: MySQLReplicationKey_<uuid>_<n> are the
        # binlog master keys, MySQLReplicationKey_<uuid> holds the current <n> (a 16-byte AES entry).
        server_key = key_id.startswith(("INNODBKey-", "MySQLReplicationKey_"))
        key_type = types.get((key_id, owner), "AES" if server_key else None)
        out.append({"id": key_id, "owner": owner, "type": key_type})
    missing = set(types) - set(listed)
    if missing:
        raise RuntimeError(f"keys missing from performance_schema.keyring_keys after seeding: {sorted(missing)}")
    return sorted(out, key=lambda k: (k["owner"], k["id"]))
