# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Admin connection to the PostgreSQL server, named as in community.postgresql
    # so inventories written for that collection work unchanged.
    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Host name or IP address of the PostgreSQL server.
      - Ignored when O(login_unix_socket) is set.
    type: str
    default: localhost
  login_port:
    description:
      - TCP port of the PostgreSQL server (also the suffix of the Unix socket file name).
    type: int
    default: 5432
  login_user:
    description:
      - Role to connect as. It needs to read every table that is inspected.
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user). Leave empty for peer, trust or C(.pgpass) authentication.
    type: str
    default: ''
  login_unix_socket:
    description:
      - Directory of the server's Unix socket, for example C(/var/run/postgresql).
      - When set, the connection goes through this socket and O(login_host) is ignored.
    type: str
    default: ''
requirements:
  - psycopg2 (C(python3-psycopg2) or C(psycopg2-binary)) on the host that runs the module.
'''
