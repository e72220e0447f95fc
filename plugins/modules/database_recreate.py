#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: database_recreate
short_description: Drop a database and create it again empty, from template0, with its owner, encoding and locale
version_added: 0.3.0
description:
  - The database DDL of a restore, every name quoted with psycopg2.sql.
  - Production (no O(made_kind)) - the owner role is checked (or created with O(create_owner)), the sessions
    connected to the database ended, the journal of the server lock told (O(server_lock_held)), then the database
    dropped (C(WITH (FORCE))) and created again. A refusal or a failure before the drop leaves everything as it was.
  - A staging or drill database (O(made_kind)) - dropped only when the collection made it (its mark, safety rule 7),
    then created again and marked (pending before the CREATE, with its OID after).
  - On a failure after the drop, RV(dropped) is true in the failed result.
  - A name longer than 63 bytes (UTF-8) is refused before anything - PostgreSQL would cut it to another name.
options:
  name:
    description: The database to drop and create again.
    type: str
    required: true
  owner:
    description: The new database's owner.
    type: str
    required: true
  encoding:
    description: Its encoding.
    type: str
    default: UTF8
  lc_collate:
    description: Its LC_COLLATE; empty for the server's.
    type: str
    default: ''
  lc_ctype:
    description: Its LC_CTYPE; empty for the server's.
    type: str
    default: ''
  connection_limit_zero:
    description: Create it with CONNECTION LIMIT 0 (the services are stopped).
    type: bool
    default: false
  create_owner:
    description: Create the owner role when it is missing.
    type: bool
    default: false
  owner_login:
    description: A created owner role can log in.
    type: bool
    default: false
  made_kind:
    description: C(staging) or C(drill) for a database the collection makes (dropped only when marked as such); empty for production.
    type: str
    default: ''
    choices: ['', staging, drill]
  production:
    description: The production database the run is for (the lock's and the marks' name).
    type: str
    default: ''
  run_id:
    description: The run, for the marks and the journal.
    type: str
    default: ''
  safety:
    description: The safety backup's file name, for the journal.
    type: str
    default: ''
  server_lock_held:
    description: The run holds the server lock, so marks and the journal are written.
    type: bool
    default: false
  setting:
    description: The setting that names a staging or drill database, for a refusal's message.
    type: str
    default: ''
extends_documentation_fragment:
  - yieldvault.db_restore.postgres
author:
  - YieldVault platform team
'''

EXAMPLES = r'''
- name: Drop and create the staging database again
  yieldvault.db_restore.database_recreate:
    name: app_prod__restore
    owner: app
    made_kind: staging
    production: app_prod
    run_id: "20260429T140000Z-1234"
    server_lock_held: true
    setting: db_restore_staging_database
'''

RETURN = r'''
dropped:
  description: Whether the database was dropped.
  returned: always
  type: bool
created:
  description: Whether it was created again.
  returned: always
  type: bool
owner_created:
  description: Whether the owner role was created.
  returned: always
  type: bool
terminated:
  description: The sessions ended before the drop, C({pid, usename, application_name, client_addr, state, terminated}).
  returned: always
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yieldvault.db_restore.plugins.module_utils import ddl
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import (
    connect, pg_error_text, postgres_argument_spec, psycopg2,
)


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(ddl.RECREATE_SPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=False)
    result = dict(changed=False)
    conn = connect(module, 'postgres', autocommit=True)
    try:
        ddl.recreate(conn.cursor(), module.params, result)
        result['changed'] = True
    except ddl.Refused as exc:
        result['changed'] = result.get('dropped', False) or result.get('owner_created', False)
        module.fail_json(msg=str(exc), **result)
    except psycopg2.Error as exc:
        result['changed'] = result.get('dropped', False) or result.get('owner_created', False)
        module.fail_json(msg='Could not %s the database %s: %s.%s' % (
            'create' if result.get('dropped') else 'drop', module.params['name'], pg_error_text(exc),
            '' if result.get('dropped') else ' Nothing was dropped.'), **result)
    finally:
        conn.close()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
