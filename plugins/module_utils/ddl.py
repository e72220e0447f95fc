# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database DDL: drop a database and create it again empty, every name quoted by psycopg2.sql.

Used by the database_recreate module (the prepare_database role) and by database_restore, which empties the
database again before it retries pg_restore with fewer jobs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import sql
from ansible_collections.yieldvault.db_restore.plugins.module_utils.rename import MAX_NAME_BYTES, cut_name, name_bytes
from ansible_collections.yieldvault.db_restore.plugins.module_utils.server_state import (
    database_oid, drop_database, journal_update, mark_of, schema_exists, server_now,
)

# What a recreation needs; database_recreate's options and database_restore's O(recreate) suboptions.
RECREATE_SPEC = dict(
    name=dict(type='str', required=True),
    owner=dict(type='str', required=True),
    encoding=dict(type='str', default='UTF8'),
    lc_collate=dict(type='str', default=''),
    lc_ctype=dict(type='str', default=''),
    connection_limit_zero=dict(type='bool', default=False),
    create_owner=dict(type='bool', default=False),
    owner_login=dict(type='bool', default=False),
    made_kind=dict(type='str', default='', choices=['', 'staging', 'drill']),
    production=dict(type='str', default=''),
    run_id=dict(type='str', default=''),
    safety=dict(type='str', default=''),
    server_lock_held=dict(type='bool', default=False),
    setting=dict(type='str', default=''),
)


class Refused(Exception):
    """Nothing was dropped: the message says why and what to do."""


KIND_WORDS = {
    'staging': 'a staging database (restored into before a swap)',
    'drill': "a drill's scratch database",
    'previous': "a previous database (production's data before a swap, kept until its safety backup exists or "
                "because db_restore_keep_previous asked for it)",
    'failed': 'a restored database swapped back out after a failure (kept for inspection)',
}


def kind_refusal(name, found, wanted, setting=''):
    """Why a database the collection made as one kind is not dropped as another."""
    return ('Refusing to drop the database %s: a run of yieldvault.db_restore made it as %s, not as %s.%s Nothing was '
            'dropped.' % (name, KIND_WORDS.get(found, 'a %s database' % found), KIND_WORDS.get(wanted, 'a %s database'
                                                                                                % wanted),
                          (' It is named by %s: choose another name.' % setting) if setting else ''))


def refuse_cut_name(name, setting=''):
    """Refuse a name PostgreSQL would cut to 63 bytes (with a notice only): DROP DATABASE IF EXISTS of
    "<63-byte name>_drill" drops the 63-byte database. The preflight refuses such names first."""
    size = name_bytes(name)
    if size > MAX_NAME_BYTES:
        raise Refused('Refusing the database name %s: it is %d bytes: PostgreSQL cuts database names to %d bytes, '
                      'here to %s, another name.%s Nothing was dropped.'
                      % (name, size, MAX_NAME_BYTES, cut_name(name),
                         (' Set %s to a name of %d bytes or less.' % (setting, MAX_NAME_BYTES)) if setting else ''))


def create_statement(p):
    """The CREATE DATABASE for the options ``p`` (a psycopg2.sql.Composed): template0, owner, encoding, locale."""
    parts = [sql.SQL('CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING {}').format(
        sql.Identifier(p['name']), sql.Identifier(p['owner']), sql.Literal(p['encoding'] or 'UTF8'))]
    if p.get('lc_collate'):
        parts.append(sql.SQL('LC_COLLATE {}').format(sql.Literal(p['lc_collate'])))
    if p.get('lc_ctype'):
        parts.append(sql.SQL('LC_CTYPE {}').format(sql.Literal(p['lc_ctype'])))
    if p.get('connection_limit_zero'):
        parts.append(sql.SQL('CONNECTION LIMIT 0'))
    return sql.SQL(' ').join(parts)


def ensure_owner(cur, p):
    """The owner role exists, created (NOLOGIN unless owner_login) only with create_owner; True when created."""
    cur.execute('SELECT 1 FROM pg_roles WHERE rolname = %s', (p['owner'],))
    if cur.fetchone():
        return False
    if not p.get('create_owner'):
        raise Refused('The owner role %s does not exist (db_restore_owner); nothing was dropped. Set '
                      'db_restore_create_owner=true to create it.' % p['owner'])
    cur.execute(sql.SQL('CREATE ROLE {} ' + ('LOGIN' if p.get('owner_login') else 'NOLOGIN')).format(
        sql.Identifier(p['owner'])))
    return True


def end_sessions(cur, name):
    """End every session connected to ``name`` but autovacuum's; the sessions ended, as the report lists them."""
    cur.execute(
        "SELECT pid, usename, application_name, client_addr::text AS client_addr, state, "
        "pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE datname = %s "
        "AND pid <> pg_backend_pid() AND backend_type IS DISTINCT FROM 'autovacuum worker'", (name,))
    columns = [c[0] for c in cur.description]
    return [dict(zip(columns, row)) for row in cur.fetchall()]


def drop_made(cur, p):
    """Drop a staging or drill database an earlier run left, only when the collection made it (safety rule 7)."""
    state, mark = mark_of(cur, p['name'])
    if state == 'absent':
        if mark:
            # A pending mark whose CREATE never happened must not make a database created later by hand "ours".
            cur.execute('DELETE FROM yieldvault_db_restore.made WHERE name = %s', (p['name'],))
        return False
    if state == 'foreign':
        raise Refused('Refusing to drop the database %s: it was not made by yieldvault.db_restore (no mark of a run), '
                      'so it may be somebody\'s data.%s Drop it yourself if you are sure. Nothing was dropped.'
                      % (p['name'], (' It is named by %s: choose a name that does not exist.' % p['setting'])
                                    if p.get('setting') else ''))
    if p.get('production') and mark['production'] != p['production']:
        raise Refused('Refusing to drop the database %s: a run for %s made it, not one for %s. Nothing was dropped.'
                      % (p['name'], mark['production'], p['production']))
    if mark['kind'] != p['made_kind']:
        # A kept previous database (production's data before a swap, perhaps its only copy) named as the staging or
        # scratch database is not this run's to drop and restore over.
        raise Refused(kind_refusal(p['name'], mark['kind'], p['made_kind'], p.get('setting')))
    drop_database(cur, p['name'])
    return True


def create(cur, p):
    """Create the empty database; a staging or drill one is marked (pending before the CREATE, its OID after)."""
    marked = bool(p.get('made_kind')) and bool(p.get('server_lock_held')) and schema_exists(cur)
    if marked:
        cur.execute(
            'INSERT INTO yieldvault_db_restore.made (name, oid, kind, production, run_id) VALUES (%s, NULL, %s, %s, %s) '
            'ON CONFLICT (name) DO UPDATE SET oid = NULL, kind = EXCLUDED.kind, production = EXCLUDED.production, '
            'run_id = EXCLUDED.run_id, created = now()',
            (p['name'], p['made_kind'], p.get('production') or p['name'], p.get('run_id') or ''))
    cur.execute(create_statement(p))
    if marked:
        cur.execute('UPDATE yieldvault_db_restore.made SET oid = %s WHERE name = %s',
                    (database_oid(cur, p['name']), p['name']))


def recreate(cur, p, result=None):
    """Drop ``p['name']`` and create it again empty, on an autocommit cursor.

    A staging or drill database (made_kind) is dropped only when marked as the collection's; production (no
    made_kind) is dropped after the journal of the server lock says so. The owner is checked (or created) and the
    sessions ended before anything is dropped: a refusal or failure up to the drop leaves everything as it was.
    ``result`` (a dict, updated as each step is done, so a caller knows what happened should a later step fail)
    gets owner_created, terminated, dropped and created; it is returned.
    """
    result = {} if result is None else result
    result.update(owner_created=False, terminated=[], dropped=False, created=False)
    refuse_cut_name(p['name'], p.get('setting') or '')
    if p.get('made_kind'):
        result['dropped'] = drop_made(cur, p)
        result['owner_created'] = ensure_owner(cur, p)
    else:
        result['owner_created'] = ensure_owner(cur, p)
        result['terminated'] = end_sessions(cur, p['name'])
        if p.get('server_lock_held') and p.get('run_id'):
            journal_update(cur, p.get('production') or p['name'], p['run_id'],
                           {'dropped_at': server_now(cur), 'safety': p.get('safety') or ''})
        # WITH (FORCE) ends the sessions that reconnected since, atomically with the drop.
        cur.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(p['name'])))
        result['dropped'] = True
    create(cur, p)
    result['created'] = True
    return result
