#!/usr/bin/env python3
"""A YieldVault-shaped database: the schema Prisma makes, deterministic data.

    yieldvault_fixture.py create   DBNAME [--users 1000] [--seed 1] [--owner ROLE]  (--cluster DIR | --host ...)
    yieldvault_fixture.py activity DBNAME [--users 50] [--seed 2]
    yieldvault_fixture.py incident DBNAME
    yieldvault_fixture.py counts   DBNAME

Tables are quoted mixed case as Prisma creates them ("User", "VaultState",
"Transaction", "Referral", "ReferralCode", "AdminAuditLog") plus
_prisma_migrations. Rows are generated in SQL with generate_series and md5 of
(seed, row number), never random(), so the same seed gives the same rows
whatever plan the server picks; timestamps start at a fixed date, not now().
At users=1000: 1000 users, 5000 transactions, ~300 referral codes, ~400
referrals, 100 audit log rows, 3 vaults, 3 migrations.

Each command prints JSON on stdout.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pg_cluster  # noqa: E402

from psycopg2 import sql  # noqa: E402

TABLES = ("User", "VaultState", "Transaction", "Referral", "ReferralCode", "AdminAuditLog", "_prisma_migrations")

SCHEMA_SQL = r"""
CREATE TYPE "VaultStatus" AS ENUM ('ACTIVE', 'PAUSED', 'DEPRECATED');

CREATE TABLE "_prisma_migrations" (
    "id"                    VARCHAR(36) NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY ("id")
);

CREATE TABLE "User" (
    "id" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "email" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "User_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "User_address_check" CHECK ("address" ~ '^0x[0-9a-f]{40}$')
);
CREATE UNIQUE INDEX "User_address_key" ON "User"("address");
CREATE INDEX "User_createdAt_idx" ON "User"("createdAt");

CREATE TABLE "VaultState" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "status" "VaultStatus" NOT NULL DEFAULT 'ACTIVE',
    "totalAssets" NUMERIC(78,0) NOT NULL DEFAULT 0,
    "totalShares" NUMERIC(78,0) NOT NULL DEFAULT 0,
    "sharePrice" NUMERIC(38,18) NOT NULL DEFAULT 1,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "VaultState_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "Transaction" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "amount" NUMERIC(78,0) NOT NULL,
    "txHash" TEXT NOT NULL,
    "blockNumber" BIGINT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Transaction_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "Transaction_type_check" CHECK ("type" IN ('DEPOSIT', 'WITHDRAW', 'CLAIM', 'REFERRAL_REWARD')),
    CONSTRAINT "Transaction_amount_check" CHECK ("amount" >= 0)
);
CREATE UNIQUE INDEX "Transaction_txHash_key" ON "Transaction"("txHash");
CREATE INDEX "Transaction_userId_idx" ON "Transaction"("userId");
CREATE INDEX "Transaction_createdAt_idx" ON "Transaction"("createdAt");

CREATE TABLE "ReferralCode" (
    "id" TEXT NOT NULL,
    "code" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ReferralCode_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "ReferralCode_code_key" ON "ReferralCode"("code");
CREATE INDEX "ReferralCode_userId_idx" ON "ReferralCode"("userId");

CREATE TABLE "Referral" (
    "id" TEXT NOT NULL,
    "referrerId" TEXT NOT NULL,
    "refereeId" TEXT NOT NULL,
    "codeId" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Referral_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "Referral_refereeId_key" ON "Referral"("refereeId");
CREATE INDEX "Referral_referrerId_idx" ON "Referral"("referrerId");
CREATE INDEX "Referral_codeId_idx" ON "Referral"("codeId");
CREATE INDEX "Referral_createdAt_idx" ON "Referral"("createdAt");

CREATE TABLE "AdminAuditLog" (
    "id" BIGSERIAL NOT NULL,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "payload" JSONB,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "AdminAuditLog_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "AdminAuditLog_createdAt_idx" ON "AdminAuditLog"("createdAt");

ALTER TABLE "Transaction" ADD CONSTRAINT "Transaction_userId_fkey"
    FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "ReferralCode" ADD CONSTRAINT "ReferralCode_userId_fkey"
    FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Referral" ADD CONSTRAINT "Referral_referrerId_fkey"
    FOREIGN KEY ("referrerId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Referral" ADD CONSTRAINT "Referral_refereeId_fkey"
    FOREIGN KEY ("refereeId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Referral" ADD CONSTRAINT "Referral_codeId_fkey"
    FOREIGN KEY ("codeId") REFERENCES "ReferralCode"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

CREATE VIEW "UserBalance" AS
SELECT u."id" AS "userId",
       u."address",
       COALESCE(SUM(CASE t."type" WHEN 'WITHDRAW' THEN -t."amount" ELSE t."amount" END), 0)::NUMERIC(78,0) AS "balance",
       COUNT(t."id") AS "transactionCount"
FROM "User" u
LEFT JOIN "Transaction" t ON t."userId" = u."id"
GROUP BY u."id", u."address";
"""

# h(key) -> 0 .. 2^28-1, a stable pseudo-random number for a text key. A
# session-temporary function leaves nothing behind in the database (and so in
# its backups).
HASH_FUNCTION_SQL = r"""
CREATE FUNCTION pg_temp.h(key text) RETURNS integer LANGUAGE sql IMMUTABLE AS
$$ SELECT ('x' || substr(md5(key), 1, 7))::bit(28)::integer $$;
CREATE FUNCTION pg_temp.cuid(key text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT 'c' || substr(md5(key), 1, 24) $$;
"""

MIGRATIONS_SQL = r"""
INSERT INTO "_prisma_migrations"
    ("id", "checksum", "finished_at", "migration_name", "logs", "rolled_back_at", "started_at", "applied_steps_count")
SELECT regexp_replace(md5('migration:' || m.name), '^(.{8})(.{4})(.{4})(.{4})(.{12})$', '\1-\2-\3-\4-\5'),
       encode(sha256(convert_to(m.name, 'UTF8')), 'hex'),
       m.started + interval '412 milliseconds',
       m.name, NULL, NULL, m.started, 1
FROM (VALUES ('20250101000000_init', timestamptz '2025-01-01 00:00:00+00'),
             ('20250115093000_add_referrals', timestamptz '2025-01-15 09:30:00+00'),
             ('20250201120000_admin_audit_log', timestamptz '2025-02-01 12:00:00+00')) AS m(name, started);

INSERT INTO "VaultState" ("id", "name", "status", "totalAssets", "totalShares", "sharePrice", "updatedAt")
SELECT v.id, v.name, v.status::"VaultStatus",
       (pg_temp.h(%(seed)s || ':assets:' || v.id)::numeric * 1000000000000000),
       (pg_temp.h(%(seed)s || ':shares:' || v.id)::numeric * 1000000000000000),
       round(1 + pg_temp.h(%(seed)s || ':price:' || v.id) %% 200000 / 1000000.0, 18),
       timestamptz '2025-01-01 00:00:00+00'
FROM (VALUES ('usdc-core', 'USDC Core', 'ACTIVE'),
             ('eth-yield', 'ETH Yield', 'ACTIVE'),
             ('btc-basis', 'BTC Basis', 'PAUSED')) AS v(id, name, status);
"""

# Users n0+1 .. n0+users; ids and addresses keyed by (seed, row number).
USERS_SQL = r"""
INSERT INTO "User" ("id", "address", "email", "createdAt", "updatedAt")
SELECT pg_temp.cuid(%(seed)s || ':user:' || i),
       '0x' || substr(md5(%(seed)s || ':addr:' || i) || md5(%(seed)s || ':addr2:' || i), 1, 40),
       CASE WHEN pg_temp.h(%(seed)s || ':email:' || i) %% 3 = 0 THEN NULL ELSE 'user' || i || '@example.com' END,
       timestamptz '2025-01-01 00:00:00+00' + make_interval(mins => i * 37, secs => pg_temp.h(%(seed)s || ':uc:' || i) %% 60),
       timestamptz '2025-01-01 00:00:00+00' + make_interval(mins => i * 37 + 5)
FROM generate_series(%(n0)s + 1, %(n0)s + %(users)s) AS i;
"""

# Transactions pick their user among all users by a stable order, so activity
# also lands on users created earlier (with another seed).
TRANSACTIONS_SQL = r"""
WITH u AS (
    SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "User"
), n AS (SELECT count(*) AS total FROM "User"),
tx AS (
    SELECT j, 1 + pg_temp.h(%(seed)s || ':txu:' || %(n0)s || ':' || j) %% n.total AS rn,
           pg_temp.h(%(seed)s || ':txt:' || %(n0)s || ':' || j) %% 100 AS kind
    FROM generate_series(1, %(count)s) AS j, n
)
INSERT INTO "Transaction" ("id", "userId", "type", "amount", "txHash", "blockNumber", "createdAt")
SELECT pg_temp.cuid(%(seed)s || ':tx:' || %(n0)s || ':' || tx.j),
       u."id",
       CASE WHEN tx.kind < 50 THEN 'DEPOSIT' WHEN tx.kind < 80 THEN 'WITHDRAW'
            WHEN tx.kind < 92 THEN 'CLAIM' ELSE 'REFERRAL_REWARD' END,
       (1 + pg_temp.h(%(seed)s || ':amt:' || %(n0)s || ':' || tx.j) %% 100000)::numeric * 1000000000000000,
       '0x' || md5(%(seed)s || ':hash:' || %(n0)s || ':' || tx.j) || md5(%(seed)s || ':hash2:' || %(n0)s || ':' || tx.j),
       19000000 + (%(n0)s * 5 + tx.j) * 3 + pg_temp.h(%(seed)s || ':blk:' || tx.j) %% 3,
       u."createdAt" + make_interval(secs => pg_temp.h(%(seed)s || ':txc:' || %(n0)s || ':' || tx.j) %% 2592000)
FROM tx JOIN u ON u.rn = tx.rn;
"""

# About 30 %% of the new users get a code, about 40 %% are referred by a code's owner.
REFERRALS_SQL = r"""
INSERT INTO "ReferralCode" ("id", "code", "userId", "createdAt")
SELECT pg_temp.cuid(%(seed)s || ':rc:' || i),
       upper(substr(md5(%(seed)s || ':code:' || i), 1, 10)),
       pg_temp.cuid(%(seed)s || ':user:' || i),
       timestamptz '2025-01-01 00:00:00+00' + make_interval(mins => i * 37 + 10)
FROM generate_series(%(n0)s + 1, %(n0)s + %(users)s) AS i
WHERE pg_temp.h(%(seed)s || ':hasrc:' || i) %% 10 < 3;

WITH c AS (
    SELECT "id", "userId", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "ReferralCode"
), n AS (SELECT count(*) AS total FROM "ReferralCode"),
r AS (
    SELECT i, 1 + pg_temp.h(%(seed)s || ':refc:' || i) %% n.total AS rn
    FROM generate_series(%(n0)s + 1, %(n0)s + %(users)s) AS i, n
    WHERE n.total > 0 AND pg_temp.h(%(seed)s || ':isref:' || i) %% 10 < 4
)
INSERT INTO "Referral" ("id", "referrerId", "refereeId", "codeId", "createdAt")
SELECT pg_temp.cuid(%(seed)s || ':ref:' || r.i), c."userId", pg_temp.cuid(%(seed)s || ':user:' || r.i), c."id",
       timestamptz '2025-01-01 00:00:00+00' + make_interval(mins => r.i * 37 + 20)
FROM r JOIN c ON c.rn = r.rn
WHERE c."userId" <> pg_temp.cuid(%(seed)s || ':user:' || r.i);
"""

AUDIT_SQL = r"""
INSERT INTO "AdminAuditLog" ("actor", "action", "payload", "createdAt")
SELECT (ARRAY['admin@yieldvault.io', 'ops@yieldvault.io', 'risk@yieldvault.io'])[1 + pg_temp.h(%(seed)s || ':actor:' || %(n0)s || ':' || j) %% 3],
       (ARRAY['PAUSE_VAULT', 'RESUME_VAULT', 'UPDATE_FEE', 'SET_SHARE_PRICE'])[1 + pg_temp.h(%(seed)s || ':action:' || %(n0)s || ':' || j) %% 4],
       jsonb_build_object('vault', (ARRAY['usdc-core', 'eth-yield', 'btc-basis'])[1 + pg_temp.h(%(seed)s || ':vault:' || j) %% 3],
                          'value', pg_temp.h(%(seed)s || ':value:' || j) %% 1000,
                          'ticket', 'OPS-' || (%(n0)s + j)),
       timestamptz '2025-01-01 00:00:00+00' + make_interval(hours => (%(n0)s + j) * 6)
FROM generate_series(1, %(count)s) AS j
ORDER BY j;
"""


def _table_counts(conn):
    counts = {}
    with conn.cursor() as cur:
        for table in TABLES:
            cur.execute("SELECT to_regclass(%s)", (sql.Identifier("public", table).as_string(conn),))
            if cur.fetchone()[0] is None:
                continue
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("public", table)))
            counts["public.%s" % table] = cur.fetchone()[0]
    return counts


def _ensure_role(conn, role):
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))


def _generate(conn, seed, users, n0, with_fixed_rows):
    params = {"seed": str(seed), "users": int(users), "n0": int(n0)}
    with conn.cursor() as cur:
        if with_fixed_rows:
            cur.execute(MIGRATIONS_SQL, params)
        cur.execute(USERS_SQL, params)
        cur.execute(TRANSACTIONS_SQL, dict(params, count=int(users) * 5))
        cur.execute("SELECT to_regclass('public.\"Referral\"') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute(REFERRALS_SQL, params)
        cur.execute(AUDIT_SQL, dict(params, count=max(1, int(users) // 10)))


def create(conn_info, dbname, users=1000, seed=1, owner=None):
    """Drop and recreate dbname with the YieldVault schema and deterministic data; returns counts."""
    admin = pg_cluster.connect(conn_info, "postgres")
    try:
        if owner:
            _ensure_role(admin, owner)
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
            query = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(dbname))
            if owner:
                query = query + sql.SQL(" OWNER {}").format(sql.Identifier(owner))
            cur.execute(query)
    finally:
        admin.close()

    conn = pg_cluster.connect(conn_info, dbname)
    try:
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute(HASH_FUNCTION_SQL)
            if owner:
                # Objects owned by the application role, as when Prisma migrations run as it.
                cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(owner)))
            cur.execute(SCHEMA_SQL)
        _generate(conn, seed, users, 0, with_fixed_rows=True)
        with conn.cursor() as cur:
            cur.execute("ANALYZE")
        conn.commit()
        conn.autocommit = True
        counts = _table_counts(conn)
    finally:
        conn.close()
    return {"database": dbname, "owner": owner or conn_info.get("user", "postgres"), "seed": seed,
            "users": users, "counts": counts}


def add_activity(conn_info, dbname, users=50, seed=2):
    """New users, transactions (also for existing users), referrals and audit rows; vault totals move."""
    conn = pg_cluster.connect(conn_info, dbname)
    try:
        before = _table_counts(conn)
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute(HASH_FUNCTION_SQL)
            cur.execute('SELECT count(*) FROM "User"')
            n0 = cur.fetchone()[0]
        _generate(conn, seed, users, n0, with_fixed_rows=False)
        with conn.cursor() as cur:
            cur.execute(
                'UPDATE "VaultState" SET "totalAssets" = "totalAssets" + %s::numeric * 1000000000000000, '
                '"updatedAt" = "updatedAt" + interval \'1 day\'', (int(users),))
        conn.commit()
        conn.autocommit = True
        after = _table_counts(conn)
    finally:
        conn.close()
    return {"database": dbname, "seed": seed, "users": users, "counts_before": before, "counts_after": after,
            "added": {t: after.get(t, 0) - before.get(t, 0) for t in after if after.get(t, 0) != before.get(t, 0)}}


def incident(conn_info, dbname):
    """What the demo simulates: ~30 % of "Transaction" deleted, table "Referral" dropped."""
    conn = pg_cluster.connect(conn_info, dbname)
    try:
        before = _table_counts(conn)
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("""DELETE FROM "Transaction" WHERE ('x' || substr(md5("id"), 1, 7))::bit(28)::integer % 10 < 3""")
            deleted = cur.rowcount
            cur.execute("SELECT to_regclass('public.\"Referral\"') IS NOT NULL")
            had_referral = cur.fetchone()[0]
            cur.execute('DROP TABLE IF EXISTS "Referral"')
        conn.commit()
        conn.autocommit = True
        after = _table_counts(conn)
    finally:
        conn.close()
    return {"database": dbname, "deleted_rows": {"public.Transaction": deleted},
            "dropped_tables": ["public.Referral"] if had_referral else [],
            "counts_before": before, "counts_after": after}


def counts(conn_info, dbname):
    conn = pg_cluster.connect(conn_info, dbname)
    try:
        return {"database": dbname, "counts": _table_counts(conn)}
    finally:
        conn.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Prints JSON on stdout.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("create", help="drop and create DBNAME with schema and data")
    p.add_argument("dbname")
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--owner", help="owner role of the database and its objects (created if missing)")
    pg_cluster.add_connection_args(p)
    p = sub.add_parser("activity", help="add users, transactions, referrals (between two backups)")
    p.add_argument("dbname")
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--seed", type=int, default=2)
    pg_cluster.add_connection_args(p)
    p = sub.add_parser("incident", help='delete ~30%% of "Transaction" and drop "Referral"')
    p.add_argument("dbname")
    pg_cluster.add_connection_args(p)
    p = sub.add_parser("counts", help="exact row counts of the YieldVault tables")
    p.add_argument("dbname")
    pg_cluster.add_connection_args(p)
    args = parser.parse_args(argv)
    import psycopg2
    try:
        info = pg_cluster.conn_info_from_args(args)
        if args.command == "create":
            out = create(info, args.dbname, users=args.users, seed=args.seed, owner=args.owner)
        elif args.command == "activity":
            out = add_activity(info, args.dbname, users=args.users, seed=args.seed)
        elif args.command == "incident":
            out = incident(info, args.dbname)
        else:
            out = counts(info, args.dbname)
    except (pg_cluster.ClusterError, psycopg2.Error) as exc:
        print(json.dumps({"failed": True, "msg": "%s failed on %s: %s" % (args.command, args.dbname, str(exc).strip())}))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
