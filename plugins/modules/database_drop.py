#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: database_drop
short_description: Drop a database only when the collection made it
description:
  - Drops a database the collection created (a staging database, a drill's scratch database, a previous or
    swapped-out copy), after checking the mark its creating run left in C(yieldvault_db_restore.made) on the
    server. A database without that mark is never dropped; the module fails and says which setting names it.
  - Sessions connected to it are ended (C(DROP DATABASE ... WITH (FORCE))); the name is quoted with psycopg2.sql.
  - A database that does not exist is fine (nothing to do).
  - A name longer than 63 bytes (UTF-8) is refused before anything - PostgreSQL would cut it to another name.
version_added: 0.2.0
author:
  - YieldVault platform team
extends_documentation_fragment:
  - yieldvault.db_restore.postgres
options:
  name:
    description: The database to drop.
    type: str
    required: true
  setting:
    description: The setting or extra var that names this database, for the refusal message.
    type: str
    default: ''
  production:
    description:
      - The database whose run this is (the lock's database). A database marked by a run of another production (two
        productions configured with one staging name) is refused.
    type: str
    default: ''
  kind:
    description:
      - The kind of database this drop is for - V(staging), V(drill), V(previous) or V(failed). A database the
        collection marked as another kind is refused (a kept previous database named as the staging database is
        not dropped with it). Empty accepts any kind.
    type: str
    default: ''
    choices: ['', staging, drill, previous, failed]
    version_added: 0.3.0
'''

EXAMPLES = r'''
- name: Drop the staging database of this failed run
  yieldvault.db_restore.database_drop:
    name: yieldvault_prod__restore
    setting: db_restore_staging_database
'''

RETURN = r'''
dropped:
  description: Whether the database was dropped (or would be, in check mode).
  returned: always
  type: bool
mark:
  description: The mark found, C({name, oid, kind, production, run_id, created}), or null.
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import (
    connect, pg_error_text, postgres_argument_spec, psycopg2,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.ddl import Refused, kind_refusal, refuse_cut_name
from ansible_collections.yieldvault.db_restore.plugins.module_utils.server_state import drop_database, mark_of


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(name=dict(type='str', required=True), setting=dict(type='str', default=''),
                         production=dict(type='str', default=''),
                         kind=dict(type='str', default='', choices=['', 'staging', 'drill', 'previous', 'failed']))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    name = module.params['name']
    result = dict(changed=False, dropped=False, mark=None)
    try:
        refuse_cut_name(name, module.params['setting'])
    except Refused as exc:
        module.fail_json(msg=str(exc), **result)
    conn = connect(module, 'postgres', autocommit=True)
    try:
        cur = conn.cursor()
        state, result['mark'] = mark_of(cur, name)
        if state == 'absent':
            # A mark whose database is gone (a CREATE that failed after its pending mark) must not later make a
            # database created by hand under that name "ours".
            if result['mark'] and not module.check_mode:
                cur.execute('DELETE FROM yieldvault_db_restore.made WHERE name = %s', (name,))
            module.exit_json(**result)
        if state == 'foreign':
            module.fail_json(
                msg='Refusing to drop the database %s: it was not made by yieldvault.db_restore (no mark of a run), so '
                    'it may be somebody\'s data.%s Drop it yourself if you are sure. Nothing was dropped.'
                    % (name, (' It is named by %s: choose a name that does not exist.' % module.params['setting'])
                       if module.params['setting'] else ''), **result)
        production = module.params['production']
        if production and result['mark']['production'] != production:
            module.fail_json(msg='Refusing to drop the database %s: a run for %s made it, not one for %s. Nothing was '
                                 'dropped.' % (name, result['mark']['production'], production), **result)
        kind = module.params['kind']
        if kind and result['mark']['kind'] != kind:
            module.fail_json(msg=kind_refusal(name, result['mark']['kind'], kind, module.params['setting']), **result)
        result.update(changed=True, dropped=True)
        if not module.check_mode:
            try:
                drop_database(cur, name)
            except psycopg2.Error as exc:
                module.fail_json(msg='Could not drop the database %s: %s.' % (name, pg_error_text(exc)), **result)
    finally:
        conn.close()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
