"""A signed inspection record is sealed: the database itself refuses to change it [L27 签字存档].

Once the last signature is on an inspection (status SEALED) its row refuses UPDATE; no inspection is ever
deleted; findings and signatures are append-only, and a finding cannot be added to a record being signed or
sealed. Like the certificates' kept records, no code path or console session can get round it.
"""

from __future__ import annotations

SEALED = "SEALED"  # how the InspectionStatus member is stored (SQLAlchemy stores enum names)
# Every column but the key: shared.platform.db.locked writes `id = id` to lock a row, sealed or not.
CONTENT = (
    "plan_id, alert_id, target_id, batch_id, organization_code, organization_name, inspectors, status, opened_on, "
    "inspected_on, items_checked, notes, record_hash, sealed_on"
)
APPEND_ONLY = ("inspection_finding", "inspection_signature")


def _sqlite(name: str, when: str, table: str, message: str, condition: str = "") -> str:
    return f"CREATE TRIGGER {name} BEFORE {when} ON {table} {condition} BEGIN SELECT RAISE(ABORT, '{message}'); END"


def protect_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION skillcert_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'records of % are sealed or kept: % refused', TG_TABLE_NAME, TG_OP; END $$",
            f"CREATE TRIGGER inspection_sealed BEFORE UPDATE OF {CONTENT} ON inspection FOR EACH ROW "
            f"WHEN (OLD.status = '{SEALED}') EXECUTE FUNCTION skillcert_refuse_change()",
            "CREATE TRIGGER inspection_kept BEFORE DELETE ON inspection FOR EACH ROW "
            "EXECUTE FUNCTION skillcert_refuse_change()",
            "CREATE OR REPLACE FUNCTION skillcert_refuse_late_finding() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF (SELECT status FROM inspection WHERE id = NEW.inspection_id) <> 'OPEN' THEN "
            "RAISE EXCEPTION 'inspection % is being signed or sealed: no finding is added', NEW.inspection_id; "
            "END IF; RETURN NEW; END $$",
            "CREATE TRIGGER inspection_finding_open BEFORE INSERT ON inspection_finding FOR EACH ROW "
            "EXECUTE FUNCTION skillcert_refuse_late_finding()",
            *(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW "
                "EXECUTE FUNCTION skillcert_refuse_change()"
                for table in APPEND_ONLY
            ),
            *(
                f"CREATE TRIGGER {table}_kept_whole BEFORE TRUNCATE ON {table} FOR EACH STATEMENT "
                "EXECUTE FUNCTION skillcert_refuse_change()"
                for table in ("inspection", *APPEND_ONLY)
            ),
        ]
    return [
        _sqlite(
            "inspection_sealed",
            f"UPDATE OF {CONTENT}",
            "inspection",
            "inspection records are sealed once signed: nothing is changed",
            f"WHEN OLD.status = '{SEALED}'",
        ),
        _sqlite("inspection_kept", "DELETE", "inspection", "inspection records are kept: nothing is deleted"),
        _sqlite(
            "inspection_finding_open",
            "INSERT",
            "inspection_finding",
            "the inspection is being signed or sealed: no finding is added",
            "WHEN (SELECT status FROM inspection WHERE id = NEW.inspection_id) <> 'OPEN'",
        ),
        *(
            _sqlite(f"{table}_{op.lower()}_refused", op, table, f"{table} is append-only: {op} refused")
            for table in APPEND_ONLY
            for op in ("UPDATE", "DELETE")
        ),
    ]


def unprotect_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        triggers = [
            ("inspection_sealed", "inspection"),
            ("inspection_kept", "inspection"),
            ("inspection_finding_open", "inspection_finding"),
            *((f"{t}_append_only", t) for t in APPEND_ONLY),
            *((f"{t}_kept_whole", t) for t in ("inspection", *APPEND_ONLY)),
        ]
        return [f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table in triggers] + [
            "DROP FUNCTION IF EXISTS skillcert_refuse_change()",
            "DROP FUNCTION IF EXISTS skillcert_refuse_late_finding()",
        ]
    names = [
        "inspection_sealed",
        "inspection_kept",
        "inspection_finding_open",
        *(f"{t}_{op}_refused" for t in APPEND_ONLY for op in ("update", "delete")),
    ]
    return [f"DROP TRIGGER IF EXISTS {name}" for name in names]
