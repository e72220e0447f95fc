#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: restore_objects
short_description: Check that every object in a dump's table of contents exists in the restored database
description:
  - Lists the table of contents of a custom, tar or directory dump (or a packed one, directory_tar) with
    C(pg_restore --list) and checks that each
    table, view, materialized view, sequence, index, constraint (primary key, unique, exclusion, check, foreign
    key), trigger, function and procedure it names exists in O(database).
  - A restore that skipped an object (an index that failed to build, a foreign key that could not be validated
    and was left out, a trigger whose function was missing) is found here even when every row count matches.
  - Read-only; never reports a change.
version_added: 0.2.0
author:
  - YieldVault platform team
extends_documentation_fragment:
  - yieldvault.db_restore.postgres
options:
  database:
    description:
      - The restored database.
    type: str
    required: true
  path:
    description:
      - The dump that was restored (custom, tar or directory format).
    type: path
    required: true
  pg_restore:
    description:
      - The C(pg_restore) binary, a name on E(PATH) or a full path.
    type: str
    default: pg_restore
attributes:
  check_mode:
    support: full
    details: The module only reads; it runs the same way in check mode.
notes:
  - Objects are matched by type, schema and name as pg_dump tags them. Functions are matched with their argument
    types, so an overload that is missing is found even when another one with the same name exists.
seealso:
  - module: yieldvault.db_restore.backup_inspect
  - module: yieldvault.db_restore.table_counts
'''

EXAMPLES = r'''
- name: Check every object of the backup exists in the restored database
  yieldvault.db_restore.restore_objects:
    database: yieldvault_prod
    path: /var/backups/postgresql/restore/yieldvault_prod_20260429_1400.dump
    pg_restore: /usr/lib/postgresql/15/bin/pg_restore
  register: objects

- name: Fail when objects are missing
  ansible.builtin.assert:
    that: objects.passed
    fail_msg: "Missing: {{ objects.missing | map(attribute='name') | join(', ') }}"
'''

RETURN = r'''
passed:
  description: Every checked TOC object exists.
  returned: always
  type: bool
checked:
  description: Number of TOC objects checked.
  returned: always
  type: int
  sample: 182
by_type:
  description: Number of checked objects per TOC type.
  returned: always
  type: dict
  sample: {"TABLE": 23, "INDEX": 34, "FK CONSTRAINT": 36, "TRIGGER": 15}
missing:
  description: TOC objects that do not exist in O(database).
  returned: always
  type: list
  elements: dict
  sample: [{"type": "INDEX", "kind": "INDEX", "schema": "public", "name": "idx_actor_last_name"}]
missing_by_type:
  description: Number of missing objects per TOC type.
  returned: always
  type: dict
  sample: {"INDEX": 1}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg_objects import check_objects
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import postgres_argument_spec


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        database=dict(type='str', required=True),
        path=dict(type='path', required=True),
        pg_restore=dict(type='str', default='pg_restore'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    result = check_objects(module, params['database'], params['path'], params['pg_restore'])
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
