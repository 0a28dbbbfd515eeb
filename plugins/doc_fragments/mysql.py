# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options, the same names and meanings as ansible.mysql's.
    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Host running the MySQL server. Ignored when O(login_unix_socket) is set.
    type: str
    default: localhost
  login_port:
    description:
      - Port of the MySQL server. Ignored when O(login_unix_socket) is set.
    type: int
    default: 3306
  login_user:
    description:
      - User to log in as. When unset, the user from O(config_file) or the OS user name is used.
    type: str
  login_password:
    description:
      - Password of O(login_user). When unset, the password from O(config_file), if any, is used.
    type: str
  login_unix_socket:
    description:
      - Unix socket of a local server. Takes precedence over O(login_host) and O(login_port).
    type: str
  config_file:
    description:
      - A MySQL option file to read the C([client]) group from (user, password, host, port, socket, TLS).
      - Used only if it exists. Explicit login options override what it says.
      - Set it to an empty string to ignore option files.
    type: path
    default: '~/.my.cnf'
  ca_cert:
    description:
      - CA certificate to verify the server's TLS certificate with. Setting it turns on TLS.
    type: path
    aliases: [ssl_ca]
  client_cert:
    description:
      - Client TLS certificate.
    type: path
    aliases: [ssl_cert]
  client_key:
    description:
      - Private key of O(client_cert).
    type: path
    aliases: [ssl_key]
  check_hostname:
    description:
      - Whether the server's TLS certificate must match O(login_host).
      - Unset leaves PyMySQL's default.
    type: bool
  connect_timeout:
    description:
      - Seconds to wait for the connection.
    type: int
    default: 30
requirements:
  - PyMySQL >= 1.0 on the managed node (the module runs there)
notes:
  - The module connects without selecting a database, so the login user needs no privilege on any schema.
  - Connecting to C(localhost) uses TCP to 127.0.0.1; to use the local socket, set O(login_unix_socket).
'''
