"""The random draw of 双随机 [L27; Z五(五) 随机、回避、轮换], verifiable by anyone (after RFC 3797).

Pure functions of the published documents: the plan with its frozen population (InspectionPlanPublished) and
the public value nobody could know when the plan was published. The service draws with them, and anyone
repeats the draw offline:

    python -m services.supervision.draw verify plan.json draw.json
    python -m services.supervision.draw verify documents.json     # {"plan": ..., "draw": ...} as served

The algorithm (`skillcert-draw-1`), precisely enough to re-implement it (docs/supervision.md says the same):
- canonical JSON: keys sorted, no spaces, UTF-8 (not ASCII-escaped), dates as ISO strings; the documents
  hold no floating-point numbers.
- plan_hash = SHA-256(canonical(terms)); snapshot_hash = SHA-256(canonical({"inspectors": [...], "targets": [...]})).
- the public value counts by its numbers only: Unicode NFKC (full-width digits become ASCII), every run of
  digits read as a number, written without leading zeros and joined by single spaces ("03 07 12 + 09" and
  "3,7,12,9" are both "3 7 12 9"); it must hold exactly `entropy_numbers` numbers, so no other spelling of
  the announced value is accepted and none can be picked to steer the draw.
- seed = SHA-256("skillcert-draw-1\\n" + plan_hash + "\\n" + snapshot_hash + "\\n" + numbers), hex.
- the value comes after the plan: published_on < entropy_expected_on <= drawn_on.
- each target holds `weight` tickets; ticket i hashes SHA-256(seed + ":target:" + target_id + ":" + i); a
  target's key is its smallest ticket hash (so a target of weight w is drawn as in weighted sampling without
  replacement: the smallest of w uniform keys). Targets are ranked by key (hex, ascending), then target id.
- sample size: `sample_size`, or ceil(population * sample_percent / 100), at least one of a non-empty
  population, at most the population.
- for each drawn target, in rank order, inspectors are ranked by SHA-256(seed + ":inspector:" + target_id +
  ":" + expert_id) ascending; walking that ranking, an inspector is passed over (an exclusion, with its
  reason) when tied to the target (`exclusion_reason`) or already drawn for `max_targets_per_inspector`
  targets; the first `inspectors_per_target` others are drawn. Fewer than that: the target is `short`.
  Every avoidance (employer, tie, rotation) of every pool member is recorded for each drawn target; a
  missing qualification or the maximum only when the walk passed the inspector over and they were not drawn
  for that target in the end.
- refusals, in the order recorded: the refused inspector leaves the target, and the target's ranking is
  walked again from the top for the first inspector not on it, not refused for it, not tied and not at the
  maximum; that one replaces them (`replaced_by`), appended to the target's inspectors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.kernel.events import (
    DrawExclusion,
    DrawInspector,
    DrawMade,
    DrawnTarget,
    DrawRefusal,
    DrawTarget,
    InspectionPlanPublished,
    PlanTerms,
)

ALGORITHM = "skillcert-draw-1"
QUALIFICATION = "qualification"


def canonical(value: Any) -> bytes:
    """Canonical JSON of a model or plain value: sorted keys, no spaces, UTF-8."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def plan_hash(terms: PlanTerms) -> str:
    return sha256(canonical(terms))


def snapshot_hash(targets: Sequence[DrawTarget], inspectors: Sequence[DrawInspector]) -> str:
    return sha256(canonical({"inspectors": canonical_list(inspectors), "targets": canonical_list(targets)}))


def canonical_list(models: Sequence[BaseModel]) -> list[Any]:
    return [model.model_dump(mode="json") for model in models]


def value_numbers(public_value: str) -> str:
    """The numbers of the public value, as the seed reads them: "03 07 12 + 09" is "3 7 12 9"."""
    return " ".join(str(int(run)) for run in re.findall(r"[0-9]+", unicodedata.normalize("NFKC", public_value)))


def value_error(terms: PlanTerms, public_value: str) -> str | None:
    """Why the value cannot be the one the plan announced, or None."""
    count = len(value_numbers(public_value).split())
    if count != terms.entropy_numbers:
        return (
            f"{terms.entropy_source} has {terms.entropy_numbers} numbers; {count} were entered: enter every "
            "number of the announced value, and nothing else"
        )
    return None


def seed_of(plan_hash_: str, snapshot_hash_: str, public_value: str) -> str:
    return sha256(f"{ALGORITHM}\n{plan_hash_}\n{snapshot_hash_}\n{value_numbers(public_value)}")


def sample_size(terms: PlanTerms, population: int) -> int:
    if population == 0:
        return 0
    if terms.sample_size is not None:
        return min(terms.sample_size, population)
    percent = terms.sample_percent or 100
    return max(1, min(population, (population * percent + 99) // 100))


def target_key(seed: str, target: DrawTarget) -> str:
    return min(sha256(f"{seed}:target:{target.target_id}:{ticket}") for ticket in range(target.weight))


def ranked_targets(seed: str, targets: Sequence[DrawTarget]) -> list[DrawTarget]:
    return sorted(targets, key=lambda t: (target_key(seed, t), t.target_id))


def ranked_inspectors(seed: str, target: DrawTarget, inspectors: Sequence[DrawInspector]) -> list[DrawInspector]:
    return sorted(inspectors, key=lambda i: (sha256(f"{seed}:inspector:{target.target_id}:{i.expert_id}"), i.expert_id))


def exclusion_reason(terms: PlanTerms, target: DrawTarget, inspector: DrawInspector) -> str | None:
    """Why `inspector` may not serve on `target` (回避、轮换, qualification), or None."""
    codes = {target.organization_code, target.organization_credit_code} - {None}
    if inspector.employer_credit_code in codes:
        return "employer: works for the organization"
    for tie in inspector.tied_organizations:
        if tie.organization_code in codes:
            return f"tie: {tie.reason}"
    window_opens = terms.published_on - timedelta(days=terms.rotation_window_days)
    for past in inspector.inspected:
        if past.organization_code in codes and past.on > window_opens:
            return f"rotation: inspected the organization on {past.on.isoformat()}"
    if target.occupation_code and target.level is not None:
        day = target.starts_on or terms.period_from
        if not any(
            _qualifies(q.occupation_code, q.levels, q.valid_from, q.valid_until, target, day)
            for q in inspector.qualifications
        ):
            return f"{QUALIFICATION}: none valid for {target.occupation_code} level {target.level} on {day.isoformat()}"
    return None


def _qualifies(
    code: str, levels: list[int], valid_from: date, valid_until: date, target: DrawTarget, day: date
) -> bool:
    return code == target.occupation_code and target.level in levels and valid_from <= day <= valid_until


@dataclass
class Drawn:
    seed: str
    targets: list[DrawnTarget]
    exclusions: list[DrawExclusion]
    refusals: list[DrawRefusal]


class _Walk:
    """The inspectors' assignments while drawing, with the exclusions met on the way."""

    def __init__(self, plan: InspectionPlanPublished, seed: str):
        self.plan, self.seed = plan, seed
        self.terms = plan.terms
        self.assigned: dict[str, list[str]] = {}
        self.load: dict[str, int] = {}
        self.refused: set[tuple[str, str]] = set()
        self.exclusions: dict[tuple[str, str], str] = {}

    def next_eligible(self, target: DrawTarget) -> str | None:
        taken = self.assigned.setdefault(target.target_id, [])
        for inspector in ranked_inspectors(self.seed, target, self.plan.inspectors):
            expert = inspector.expert_id
            if expert in taken or (target.target_id, expert) in self.refused:
                continue
            reason = exclusion_reason(self.terms, target, inspector)
            if reason is None and self.load.get(expert, 0) >= self.terms.max_targets_per_inspector:
                reason = f"rotation: already drawn for {self.terms.max_targets_per_inspector} targets of this plan"
            if reason is not None:
                self.exclusions.setdefault((target.target_id, expert), reason)
                continue
            taken.append(expert)
            self.load[expert] = self.load.get(expert, 0) + 1
            return expert
        return None


def draw(plan: InspectionPlanPublished, public_value: str, refusals: Sequence[DrawRefusal] = ()) -> Drawn:
    """The draw of `plan` seeded by `public_value`, with `refusals` applied in order."""
    seed = seed_of(plan.plan_hash, plan.snapshot_hash, public_value)
    ranked = ranked_targets(seed, plan.targets)[: sample_size(plan.terms, len(plan.targets))]
    walk = _Walk(plan, seed)
    short: set[str] = set()
    for target in ranked:
        for _ in range(plan.terms.inspectors_per_target):
            if walk.next_eligible(target) is None:
                short.add(target.target_id)
                break
    by_id = {target.target_id: target for target in ranked}
    applied: list[DrawRefusal] = []
    for refusal in refusals:
        refused = by_id.get(refusal.target_id)
        if refused is None or refusal.expert_id not in walk.assigned.get(refused.target_id, []):
            raise ValueError(f"refusal of {refusal.expert_id} for {refusal.target_id}: not drawn for that target")
        walk.assigned[refused.target_id].remove(refusal.expert_id)
        walk.load[refusal.expert_id] -= 1
        walk.refused.add((refused.target_id, refusal.expert_id))
        replacement = walk.next_eligible(refused)
        if replacement is None:
            short.add(refused.target_id)
        applied.append(refusal.model_copy(update={"replaced_by": replacement}))
    for target in ranked:  # every avoidance is on record, also of those the walk never reached
        for inspector in plan.inspectors:
            reason = exclusion_reason(plan.terms, target, inspector)
            if reason is not None and not reason.startswith(QUALIFICATION):
                walk.exclusions.setdefault((target.target_id, inspector.expert_id), reason)
    drawn = [
        DrawnTarget(target_id=t.target_id, inspectors=walk.assigned.get(t.target_id, []), short=t.target_id in short)
        for t in ranked
    ]
    exclusions = [
        DrawExclusion(target_id=t, expert_id=e, reason=r)
        for (t, e), r in walk.exclusions.items()
        if e not in walk.assigned.get(t, [])  # passed over at the maximum, then drawn as a replacement
    ]
    return Drawn(seed, drawn, exclusions, applied)


def verify(plan: InspectionPlanPublished, made: DrawMade) -> list[str]:
    """Every way the published draw differs from the draw recomputed from the plan; empty when it matches."""
    problems = []
    if made.algorithm != ALGORITHM:
        return [f"algorithm {made.algorithm!r} is not {ALGORITHM}"]
    if plan_hash(plan.terms) != plan.plan_hash:
        problems.append("the plan's terms do not hash to its plan_hash: the plan was changed")
    if snapshot_hash(plan.targets, plan.inspectors) != plan.snapshot_hash:
        problems.append("the population does not hash to its snapshot_hash: the snapshot was changed")
    if (made.plan_id, made.plan_hash, made.snapshot_hash) != (plan.terms.plan_id, plan.plan_hash, plan.snapshot_hash):
        problems.append("the draw names another plan or snapshot than this one")
    terms = plan.terms
    if not terms.published_on < terms.entropy_expected_on <= made.drawn_on:
        problems.append(
            f"timing: published {terms.published_on}, value expected {terms.entropy_expected_on}, drawn "
            f"{made.drawn_on}: the value must come after the plan and the draw after the value"
        )
    wrong_value = value_error(terms, made.public_value)
    if wrong_value:
        problems.append(f"public value: {wrong_value}")
    try:
        again = draw(plan, made.public_value, made.refusals)
    except ValueError as error:
        return [*problems, str(error)]
    if again.seed != made.seed:
        problems.append(f"seed: published {made.seed}, recomputed {again.seed}")
    if canonical_list(again.targets) != canonical_list(made.targets):
        problems.append("drawn targets or inspectors differ from the recomputed draw")
    if sorted(map(canonical, again.exclusions)) != sorted(map(canonical, made.exclusions)):
        problems.append("exclusions differ from the recomputed draw")
    if canonical_list(again.refusals) != canonical_list(made.refusals):
        problems.append("refusal replacements differ from the recomputed draw")
    return problems


def _documents(paths: list[Path]) -> tuple[InspectionPlanPublished, DrawMade]:
    loaded = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    if len(loaded) == 1:
        combined = loaded[0]
        if combined.get("draw") is None:
            raise ValueError("the document holds no draw yet")
        return InspectionPlanPublished.model_validate(combined["plan"]), DrawMade.model_validate(combined["draw"])
    # An envelope as on the bus is accepted too: its payload is the document.
    plan, made = (document.get("payload", document) for document in loaded)
    return InspectionPlanPublished.model_validate(plan), DrawMade.model_validate(made)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.supervision.draw", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="recompute a published draw and say whether it matches")
    check.add_argument("documents", nargs="+", type=Path, help="plan.json draw.json, or one {plan, draw} document")
    args = parser.parse_args(argv)
    if len(args.documents) > 2:
        parser.error("give plan.json and draw.json, or one combined document")
    try:
        plan, made = _documents(args.documents)
    except (OSError, ValueError, KeyError, ValidationError) as error:
        sys.stderr.write(f"cannot read the documents: {error}\n")
        return 2
    problems = verify(plan, made)
    if problems:
        sys.stdout.write(f"MISMATCH: draw of plan {made.plan_id} does not follow from the published documents\n")
        sys.stdout.writelines(f"- {problem}\n" for problem in problems)
        return 1
    drawn = ", ".join(f"{t.target_id} ({', '.join(t.inspectors) or 'no inspector'})" for t in made.targets)
    sys.stdout.write(
        f"MATCH: plan {made.plan_id}, seed {made.seed}, {len(made.targets)} of {len(plan.targets)} targets: {drawn}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
