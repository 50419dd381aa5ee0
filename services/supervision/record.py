"""What the signatures of an inspection record cover, recomputable by anyone from `inspection-recorded`.

record_hash = SHA-256 of the canonical JSON (draw.canonical) of the published record without `signatures`,
`record_hash` and `sealed_on`. Each signature's chain_hash = SHA-256 of
`previous + "\\n" + signer + "\\n" + role + "\\n" + signed_at + "\\n" + record_hash`, where `previous` is the
record hash for the first signature and the previous chain hash after it: the chain shows who signed what,
in which order, and that nothing was signed twice or dropped.
"""

from __future__ import annotations

from typing import Any

from shared.kernel.events import InspectionRecorded

from .draw import canonical, sha256

NOT_COVERED = {"signatures", "record_hash", "sealed_on"}


def record_hash(content: dict[str, Any]) -> str:
    """The hash of a record's content: the fields of `inspection-recorded` but the three above."""
    return sha256(canonical({k: v for k, v in content.items() if k not in NOT_COVERED}))


def chain_hash(previous: str, *, signer: str, role: str, signed_at: str, record: str) -> str:
    return sha256(f"{previous}\n{signer}\n{role}\n{signed_at}\n{record}")


def record_problems(recorded: InspectionRecorded) -> list[str]:
    """Every way a published record's hashes disagree with its content; empty when they agree."""
    problems = []
    again = record_hash(recorded.model_dump(mode="json"))
    if again != recorded.record_hash:
        problems.append(f"record_hash: published {recorded.record_hash}, recomputed {again}")
    previous = recorded.record_hash
    for signature in recorded.signatures:
        expected = chain_hash(
            previous,
            signer=signature.signer,
            role=signature.role,
            signed_at=signature.signed_at,
            record=recorded.record_hash,
        )
        if expected != signature.chain_hash:
            problems.append(f"signature of {signature.signer}: chain hash does not follow")
        previous = signature.chain_hash
    return problems
