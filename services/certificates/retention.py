"""Records are never deleted: the database itself refuses, so no code path (or console session) can.

Paper records are kept 3+ years and electronic ones 5+ years [L23]; certificates are evidence long after
that, so this service keeps every row for good and a database trigger enforces it.
"""

from __future__ import annotations

from .models import KEPT_TABLES

MINIMUM_YEARS = 5
POLICY = (
    "Electronic certificate records are kept at least 5 years [L23]; skillcert keeps them for good. "
    "A revoked certificate stays on record with its revocation."
)


def protect_statements(dialect: str) -> list[str]:
    """DDL making each kept table refuse DELETE (and TRUNCATE on PostgreSQL)."""
    if dialect == "postgresql":
        statements = [
            "CREATE OR REPLACE FUNCTION skillcert_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'records of % are kept (retention policy): nothing is deleted', TG_TABLE_NAME; END $$"
        ]
        for table in KEPT_TABLES:
            statements += [
                f"CREATE TRIGGER {table}_kept BEFORE DELETE ON {table} FOR EACH ROW "
                "EXECUTE FUNCTION skillcert_refuse_delete()",
                f"CREATE TRIGGER {table}_kept_whole BEFORE TRUNCATE ON {table} FOR EACH STATEMENT "
                "EXECUTE FUNCTION skillcert_refuse_delete()",
            ]
        return statements
    return [
        f"CREATE TRIGGER {table}_kept BEFORE DELETE ON {table} BEGIN "
        f"SELECT RAISE(ABORT, 'records of {table} are kept (retention policy): nothing is deleted'); END"
        for table in KEPT_TABLES
    ]


def unprotect_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table}"
            for table in KEPT_TABLES
            for suffix in ("kept", "kept_whole")
        ] + ["DROP FUNCTION IF EXISTS skillcert_refuse_delete()"]
    return [f"DROP TRIGGER IF EXISTS {table}_kept" for table in KEPT_TABLES]
