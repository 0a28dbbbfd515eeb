# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The attributes every module documents; each module states its own support level.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
'''

    ACTION_GROUP = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/keyops.mysql.all) (or C(group/keyops.mysql.mysql)) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - keyops.mysql.all
      - keyops.mysql.mysql
'''

    FILES = r'''
options: {}
attributes:
  safe_file_operations:
    description:
      - Treats directories other users can write (the server's keystore directory) as hostile. Directories are
        opened one component at a time without following a symbolic link that neither root nor the user running
        the module owns; files are opened, created, renamed and changed relative to that descriptor, with
        C(O_NOFOLLOW), and owner and mode are set through the file descriptor. A symbolic link, a hard-linked
        file, a fifo, a socket or a device where a file is expected is refused with an error naming it.
      - Files are replaced atomically (temp file in the same directory, fsync, read back, rename, directory
        fsync), keeping the replaced file's owner, mode and SELinux context.
'''
