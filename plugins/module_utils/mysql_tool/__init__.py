# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MySQL's own key migration tools, run on the host and wrapped safely.

keyring_migrate uses them for keystores the collection cannot read itself (the Enterprise keyring_encrypted_file
plugin, okv, aws, hashicorp, oci plugins and components). MySQL offers two tools:

- the migration server, `mysqld --keyring-migration-source=... --keyring-migration-destination=...`, for every
  pair that involves a plugin (with --keyring-migration-to-component / --keyring-migration-from-component for a
  component side);
- `mysql_migrate_keyring`, for component -> component.

Neither can be trusted on its exit status, so the collection decides success from the tool's output (verdict), and
from the destination itself where it can read it. Secrets never go on the command line (visible in ps): they go
into private option and configuration files (workdir) that are wiped and removed afterwards.

    catalog      the keyring types, which tool takes a pair, the options a keystore spec turns into
    invocation   one run's command line and files
    workdir      the private work directory: made, filled, wiped, removed
    runner       running the tool (as the server's OS user, with a timeout)
    verdict      judging what it printed; scrubbing secrets from what is shown
    record       the destination's snapshot (to undo a failed run) and the record of successful runs
    migration    keyring_migrate's tool path: decide, run, judge, undo, resume

Standard library and the collection's Ansible-free keystore library only: this runs on the managed host under
Python 3.8+.

FOR INTERNAL COLLECTION USE ONLY: names here may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type
