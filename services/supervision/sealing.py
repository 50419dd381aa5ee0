"""A signed inspection record is sealed: the database itself refuses to change it [L27 签字存档].

From the first signature (status SIGNING) the record's content refuses UPDATE, and once sealed (SEALED) so do
its status and seal date; no inspection is ever deleted; findings and signatures are append-only; a finding
cannot be added to a record being signed or sealed, nor a signature to a sealed one. Like the certificates'
kept records, no code path or console session can get round it.
"""

from __future__ import annotations

# How the InspectionStatus members are stored (SQLAlchemy stores enum names).
OPEN, SEALED = "OPEN", "SEALED"
# What the signatures cover. The key is not here: shared.platform.db.locked writes `id = id` to lock a row.
CONTENT = (
    "plan_id, alert_id, target_id, batch_id, organization_code, organization_name, inspectors, opened_on, "
    "inspected_on, items_checked, notes, record_hash"
)
SEAL = "status, sealed_on"
APPEND_ONLY = ("inspection_finding", "inspection_signature")
# (name, table, SQLite timing, PostgreSQL timing, condition on the row) for each refusing trigger.
ROW_TRIGGERS = (
    ("inspection_signed", "inspection", f"UPDATE OF {CONTENT}", f"UPDATE OF {CONTENT}", f"OLD.status <> '{OPEN}'"),
    ("inspection_sealed", "inspection", f"UPDATE OF {SEAL}", f"UPDATE OF {SEAL}", f"OLD.status = '{SEALED}'"),
    ("inspection_kept", "inspection", "DELETE", "DELETE", None),
    *((f"{t}_no_update", t, "UPDATE", "UPDATE", None) for t in APPEND_ONLY),
    *((f"{t}_no_delete", t, "DELETE", "DELETE", None) for t in APPEND_ONLY),
    (
        "inspection_finding_open",
        "inspection_finding",
        "INSERT",
        "INSERT",
        f"(SELECT status FROM inspection WHERE id = NEW.inspection_id) <> '{OPEN}'",
    ),
    (
        "inspection_signature_unsealed",
        "inspection_signature",
        "INSERT",
        "INSERT",
        f"(SELECT status FROM inspection WHERE id = NEW.inspection_id) = '{SEALED}'",
    ),
)


def protect_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        statements = [
            "CREATE OR REPLACE FUNCTION skillcert_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'records of % are signed, sealed or kept: % refused', TG_TABLE_NAME, TG_OP; END $$"
        ]
        for name, table, _, timing, condition in ROW_TRIGGERS:
            if condition and "SELECT" in condition:
                # PostgreSQL allows no subquery in WHEN: the check moves into the function.
                statements += [
                    f"CREATE OR REPLACE FUNCTION skillcert_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF {condition} THEN RAISE EXCEPTION 'inspection %: % on % refused (signed or sealed)', "
                    f"NEW.inspection_id, TG_OP, TG_TABLE_NAME; END IF; RETURN NEW; END $$",
                    f"CREATE TRIGGER {name} BEFORE {timing} ON {table} FOR EACH ROW "
                    f"EXECUTE FUNCTION skillcert_{name}()",
                ]
                continue
            when = f"WHEN ({condition}) " if condition else ""
            statements.append(
                f"CREATE TRIGGER {name} BEFORE {timing} ON {table} FOR EACH ROW {when}"
                "EXECUTE FUNCTION skillcert_refuse_change()"
            )
        statements += [
            f"CREATE TRIGGER {table}_kept_whole BEFORE TRUNCATE ON {table} FOR EACH STATEMENT "
            "EXECUTE FUNCTION skillcert_refuse_change()"
            for table in ("inspection", *APPEND_ONLY)
        ]
        return statements
    return [
        f"CREATE TRIGGER {name} BEFORE {timing} ON {table} {f'WHEN {condition} ' if condition else ''}"
        f"BEGIN SELECT RAISE(ABORT, '{table}: {timing.split()[0]} refused (signed, sealed or kept)'); END"
        for name, table, timing, _, condition in ROW_TRIGGERS
    ]


def unprotect_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            *(f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table, *_ in ROW_TRIGGERS),
            *(f"DROP TRIGGER IF EXISTS {t}_kept_whole ON {t}" for t in ("inspection", *APPEND_ONLY)),
            *(
                f"DROP FUNCTION IF EXISTS skillcert_{name}()"
                for name, _, _, _, condition in ROW_TRIGGERS
                if condition and "SELECT" in condition
            ),
            "DROP FUNCTION IF EXISTS skillcert_refuse_change()",
        ]
    return [f"DROP TRIGGER IF EXISTS {name}" for name, *_ in ROW_TRIGGERS]
