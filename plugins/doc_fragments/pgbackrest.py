# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Where pgBackRest's configuration is and whom it runs as, shared by every module that runs pgBackRest
    # (module_utils/pgbackrest.command builds the command line).
    DOCUMENTATION = r'''
options:
  config:
    description: The pgBackRest configuration file (written by C(playbooks/wal_archive.yml)).
    type: path
    default: /etc/pgbackrest/pgbackrest.conf
  os_user:
    description: OS user that runs PostgreSQL and pgBackRest, and owns the repository; pgBackRest runs as it.
    type: str
    default: postgres
'''
