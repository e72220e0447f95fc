# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL connection helpers shared by the collection's modules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.text.converters import to_native

PSYCOPG2_IMPORT_ERROR = None
try:
    import psycopg2
    from psycopg2 import sql
    HAS_PSYCOPG2 = True
except ImportError:
    psycopg2 = None
    sql = None
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

APPLICATION_NAME = 'yieldvault.db_restore'
CONNECT_TIMEOUT = 10


def postgres_argument_spec():
    """Connection options; documented once in the yieldvault.db_restore.postgres fragment."""
    return dict(
        login_host=dict(type='str', default='localhost'),
        login_port=dict(type='int', default=5432),
        login_user=dict(type='str', default='postgres'),
        login_password=dict(type='str', default='', no_log=True),
        login_unix_socket=dict(type='str', default=''),
    )


def ensure_psycopg2(module):
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib('psycopg2'), exception=PSYCOPG2_IMPORT_ERROR)


def connection_target(params, database):
    """Human-readable description of where we connect, without any secret."""
    host = params.get('login_unix_socket') or params.get('login_host') or 'localhost'
    return '%s:%s/%s as %s' % (host, params.get('login_port'), database, params.get('login_user'))


def connect(module, database, autocommit=True):
    """Open a psycopg2 connection or fail the module with an actionable message."""
    ensure_psycopg2(module)
    params = module.params
    kwargs = dict(
        host=params.get('login_unix_socket') or params.get('login_host') or 'localhost',
        port=params.get('login_port'),
        user=params.get('login_user'),
        dbname=database,
        connect_timeout=CONNECT_TIMEOUT,
        application_name=APPLICATION_NAME,
    )
    # An empty password must not be sent: libpq would then skip .pgpass.
    if params.get('login_password'):
        kwargs['password'] = params['login_password']
    try:
        conn = psycopg2.connect(**kwargs)
        conn.autocommit = autocommit
    except psycopg2.Error as exc:
        # libpq spreads one error over several indented lines; one line reads better in a play log.
        detail = _scrub(' '.join(str(exc).split()), params.get('login_password')).rstrip('.?')
        module.fail_json(
            msg='Could not connect to PostgreSQL at %s: %s. Check that the server is running and reachable '
                '(db_restore_login_host and db_restore_login_port, or db_restore_login_unix_socket), that the '
                'database exists, and that db_restore_login_user and db_restore_login_password are right '
                '(pg_hba.conf must allow this client). Nothing was changed.'
                % (connection_target(params, database), detail))
    return conn


def _scrub(text, secret):
    if secret:
        text = text.replace(secret, '********')
    return text


def qualified(schema, name):
    """A schema-qualified identifier, quoted by psycopg2 (names are used verbatim)."""
    return sql.Identifier(schema, name)


def server_version(conn):
    """'15.6' style version string of the connected server."""
    num = conn.server_version
    major = num // 10000
    if major >= 10:
        return '%d.%d' % (major, num % 10000)
    return '%d.%d.%d' % (major, (num // 100) % 100, num % 100)


def pg_error_text(exc):
    """The first line of a PostgreSQL error, without psycopg2's context and hints."""
    diag = getattr(exc, 'diag', None)
    primary = getattr(diag, 'message_primary', None) if diag is not None else None
    if primary:
        return primary
    text = (getattr(exc, 'pgerror', None) or to_native(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def wait_promoted(host, port, user, password, dbname, deadline):
    """Poll a starting server until it accepts connections and has left recovery (promoted), or deadline (epoch).

    Returns (True, timeline, None) once promoted - timeline is that of its latest checkpoint, None where the role
    may not read pg_control_checkpoint() - or (False, None, the last reason in one line, the password masked).
    """
    last = 'no connection yet'
    while time.time() < deadline:
        try:
            conn = psycopg2.connect(host=host, port=port, user=user, password=password or None, dbname=dbname,
                                    connect_timeout=5, application_name=APPLICATION_NAME)
            try:
                cur = conn.cursor()
                cur.execute('SELECT pg_is_in_recovery()')
                if not cur.fetchone()[0]:
                    try:
                        cur.execute('SELECT timeline_id FROM pg_control_checkpoint()')
                        timeline = cur.fetchone()[0]
                    except psycopg2.Error:
                        timeline = None
                    return True, timeline, None
                last = 'still in recovery'
            finally:
                conn.close()
        except psycopg2.Error as exc:
            last = _scrub(' '.join(str(exc).split()), password)
        time.sleep(0.5)
    return False, None, last
