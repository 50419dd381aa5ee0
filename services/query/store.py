"""The Redis read model of every province's certificates, signing keys, organizations and batch plans.

ID numbers are kept only as keyed hashes. Keys, under the deployment's prefix and `f<format>:`, the format of
what they hold (`READ_MODEL_FORMAT`), so a release with a new format builds its read model beside the old one
while the old release goes on serving and writing its own:
- `model`: this read model's id (it names the Kafka consumer groups, so a new Redis, or a new format, reads
  the log from the start) and how its rebuild went;
- `cert:<number>`: the public view exactly as served (`models.CertificateView` JSON), with the verification
  done when it arrived and its revocation, if any, merged in when either was written;
- `holder:<hmac(name, id)>`: the set of that person's numbers;
- `revoked:<number>`: a revocation (issue and revocation arrive on different topics in either order, so it is
  kept for a certificate that has not arrived yet);
- `keys`: the trust list (key id -> key); `filing:<code>`: an organization's filing history (event id -> step);
- `unverified`: number -> the credential without the holder's claims, for certificates whose signing key or
  issuing organization was not known yet; `awaiting:key:<id>`, `awaiting:org:<code>`: which of them wait for what;
- `organizations`, `batch-plans`: the public catalogues (hashes) and `<name>:version` counters, so each worker
  keeps a searchable copy and reloads it only when it changed (a batch plan without its staff);
- `inspection-plans`, `draws`, `inspections`: supervision's published plans, draws and inspection results, the
  same kind of catalogues, of summaries keyed `<province>:<plan or inspection id>`; a plan and its draw are kept
  apart (either may arrive first) and joined when served;
- `plan-documents`, `draw-documents`: `<province>:<plan id>` -> the `InspectionPlanPublished` and latest
  `DrawMade` JSON as published, for the offline verifier; a draw replaces the stored one unless that one was
  sent later (a re-sent draw, after a refusal, holds the whole record);
- `details`: filing code -> the latest approved change of the organization's details (organization-details-changed
  payload, with its place in effective order), merged into its catalogue entry, kept apart so the filing arriving
  later (or again) does not undo it and an earlier change delivered late is ignored;
- `ratings`: filing code -> the organization's latest star rating (`models.RatingRecord`), a catalogue of the
  same kind, joined to the organization's entry when served; a rating of an older year than the one kept, or of
  the same year sent earlier, is ignored;
Complaints are not part of the read model: they are forwarded to the province's supervision (complaints.py).
The fair-use keys are not part of the read model: `blocked:<client>` and the limits' counters (fair_use.py).
Every write is an overwrite or a set addition, so applying an event twice changes nothing. A certificate's
document is written in a transaction that watches both its keys, so an issue, a revocation and a later
verification applied at the same time (by different consumers or workers) never undo each other.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared.kernel import credentials, filing
from shared.kernel.credentials import TrustedKey, TrustList
from shared.kernel.events import (
    BatchPlanApproved,
    CertificateIssued,
    CertificateRevoked,
    DrawMade,
    Envelope,
    InspectionPlanPublished,
    InspectionRecorded,
    OrganizationDetailsChanged,
    OrganizationFiled,
    OrganizationRated,
    OrganizationScopeChanged,
    OrganizationStatusChanged,
    SigningKeyPublished,
)
from shared.kernel.privacy import mask_id_number

from .models import (
    CertificateView,
    DrawSummary,
    FindingSummary,
    InspectionPlanSummary,
    InspectionSummary,
    RatedIndicatorView,
    RatingRecord,
    RatingView,
    summary,
)

HOLDER_CLAIMS = ("holderName", "idType", "idNumber")
CATALOGUES = ("organizations", "batch-plans", "inspection-plans", "draws", "inspections", "ratings")
# A complaint's tracking code (services/query/complaints.py): whoever holds one sees that complaint's status and
# reply, so a rating's references never publish one.
TRACKING_CODE = re.compile(r"^\d{2}-[0-9A-HJKMNP-TV-Z]{12}$")
# Never served from a catalogue, even if a release that kept it wrote it (a batch plan's staff are for
# supervision only: names and ID numbers of examiners).
NOT_PUBLIC: dict[str, tuple[str, ...]] = {"batch-plans": ("staff",)}
# What the keys hold. A new format gets keys of its own, hence a new read model rebuilt from the log, instead
# of serving documents of the old shape or sharing keys with a release that writes them.
READ_MODEL_FORMAT = "3"
# SADD KEYS[i] ARGV[i] for each i, as one command (a batch's holder entries: a command each costs redis-py more than
# Redis takes to apply it).
ADD_TO_SETS = "for i, key in ipairs(KEYS) do redis.call('SADD', key, ARGV[i]) end"
# Certificates verified between two turns of the event loop (about 10 ms of work).
YIELD_EVERY = 50


def details_order(envelope: Envelope[OrganizationDetailsChanged]) -> str:
    """Where a change of details stands among the organization's changes, as a string that sorts so: the
    registry's date of the change, when it was sent, its id."""
    sent = envelope.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"{envelope.effective_on.isoformat()} {sent} {envelope.payload.change_id:012d}"


def _shown_details(raw: bytes | str) -> dict[str, Any]:
    """A kept change of details as the catalogue entry shows it (without its place in the order)."""
    kept: dict[str, Any] = json.loads(raw)
    kept.pop("order", None)
    return kept


def normalize_name(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().replace(" ", "")


def holder_hash(secret: bytes, name: str, id_number: str) -> str:
    message = f"{normalize_name(name)}|{id_number.strip().upper()}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def public_view(certificate: CertificateIssued) -> dict[str, Any]:
    # The credential carries the ID number in clear: it is not part of the public view.
    data = certificate.model_dump(mode="json", exclude={"id_number", "batch_id", "credential"})
    data["id_number_masked"] = mask_id_number(certificate.id_number)
    data["work_type"] = data["work_type"] or "--"
    return data


def stored_document(view: dict[str, Any], checks: list[dict[str, Any]], revocation: bytes | None) -> str:
    """The `CertificateView` JSON kept and served for a certificate: the lasting checks, and the status from
    its revocation if one arrived."""
    document = {**view, "status": "valid", "revoked_on": None, "revocation_reason": None}
    if revocation is not None:
        document.update(json.loads(revocation), status="revoked")
    document["verification"] = summary([*checks, status_check(document)])
    return CertificateView.model_validate(document).model_dump_json()


def lasting_checks(stored: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A stored document and its checks that do not depend on the status (to write it again)."""
    document: dict[str, Any] = json.loads(stored)
    return document, [check for check in document["verification"]["checks"] if check["name"] != "status"]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class FilingStepRecord(BaseModel):
    """A step of an organization's filing history as kept in Redis (shared.kernel.filing.FilingStep)."""

    effective_on: date
    kind: str
    status: str | None = None
    scope: list[dict[str, Any]] | None = None
    filed_on: date | None = None
    valid_until: date | None = None
    order: str


def status_check(view: dict[str, Any] | None) -> dict[str, Any]:
    if view is None:
        return {"name": "status", "passed": None, "detail": "not in the public record of any province (yet)"}
    if view["status"] == "revoked":
        return {
            "name": "status",
            "passed": False,
            "detail": f"revoked on {view['revoked_on']} ({view.get('revocation_reason')})",
        }
    return {"name": "status", "passed": True, "detail": "on record and not revoked"}


@dataclass
class Catalogue:
    """A worker's copy of one public catalogue, reloaded when its version in Redis moves."""

    name: str
    version: int = -1
    entries: list[dict[str, Any]] = field(default_factory=list)
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Indexes made from this version's entries (e.g. inspections by organization), dropped when it reloads.
    derived: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CertificateWrite:
    """What changes of one certificate: its served document's view and checks, or its revocation (None: as stored);
    the holder index entry to add; and whether it waits for a signing key or filing (`waits_for`, with the credential
    kept meanwhile, `hidden`; None leaves the waiting state as it is) or stopped waiting for `done_waiting_for`."""

    number: str
    view: dict[str, Any] | None = None
    checks: list[dict[str, Any]] | None = None
    revocation: bytes | None = None
    holder: str | None = None
    hidden: dict[str, Any] | None = None
    waits_for: list[str] | None = None
    done_waiting_for: str | None = None


def without_holder_claims(credential: dict[str, Any]) -> dict[str, Any]:
    """`credentials.hide_claims(credential, HOLDER_CLAIMS)` for a credential read from JSON, without its JSON round
    trip (a deep copy costing as much as parsing the event): only what hiding changes is copied (the subject, the
    proof, its salts and obfuscated hashes); the rest is shared with `credential`, which nothing changes later."""
    subject, proof = credential.get("credentialSubject"), credential.get("proof")
    if not isinstance(subject, dict) or not isinstance(proof, dict) or not isinstance(proof.get("salts"), dict):
        return credentials.hide_claims(credential, HOLDER_CLAIMS)  # not a credential's shape: as the kernel says
    subject, salts = dict(subject), dict(proof["salts"])
    obfuscated = list(proof.get("obfuscated", []))
    for name in HOLDER_CLAIMS:
        if name in subject:
            obfuscated.append(credentials.claim_hash(name, subject.pop(name), salts.pop(name)))
    return {**credential, "credentialSubject": subject, "proof": {**proof, "salts": salts, "obfuscated": obfuscated}}


class CertificateStore:
    def __init__(self, redis: Redis, secret: bytes, prefix: str = ""):
        self.redis = redis
        self.secret = secret
        self.prefix = prefix
        self._catalogues = {name: Catalogue(name) for name in CATALOGUES}

    def key(self, *parts: str) -> str:
        return f"{self.prefix}f{READ_MODEL_FORMAT}:" + ":".join(parts)

    def _holder(self, name: str, id_number: str) -> str:
        return self.key("holder", holder_hash(self.secret, name, id_number))

    # --- the read model's identity and rebuild --------------------------------------------------

    async def model_id(self) -> tuple[str, bool]:
        """This read model's id, made on first use; True when this call made it (an empty model: rebuild)."""
        model = self.key("model")
        made = await self.redis.hsetnx(model, "id", uuid.uuid4().hex[:12])
        if made:
            await self.redis.hset(model, "created_at", str(time.time()))
        return _text(await self.redis.hget(model, "id") or b""), bool(made)

    async def model_info(self) -> dict[str, str]:
        raw = await self.redis.hgetall(self.key("model"))
        return {_text(k): _text(v) for k, v in raw.items()} | {"format": READ_MODEL_FORMAT}

    async def record_rebuild(self, seconds: float, events: int) -> None:
        await self.redis.hset(
            self.key("model"),
            mapping={
                "rebuilt_in_seconds": f"{seconds:.3f}",
                "rebuilt_events": str(events),
                "rebuilt_at": str(time.time()),
            },
        )

    # --- certificates ---------------------------------------------------------------------------

    async def apply_issued(self, certificate: CertificateIssued) -> None:
        """Stores one issued certificate with its verification; one that cannot be verified yet waits."""
        await self.apply_issued_many([certificate])

    async def apply_issued_many(self, certificates: list[CertificateIssued]) -> None:
        """Stores issued certificates as `apply_issued` does each, with one read of the keys and filings they name
        and one Redis transaction for them all: a batch of 500 costs a few round trips, not a few thousand."""
        credentials_ = [c.credential for c in certificates if c.credential is not None]
        keys, histories = await self._trust_of(credentials_)
        memo: dict[Any, Any] = {}
        writes: list[CertificateWrite] = []
        awaiting: dict[str, list[str]] = {}
        for position, certificate in enumerate(certificates, 1):
            if position % YIELD_EVERY == 0:
                # Verifying a batch takes the process a while: the other consumers (a filing, a key, a revocation,
                # each a few round trips) and the fetcher go on meanwhile rather than wait for the whole batch.
                await asyncio.sleep(0)
            number = certificate.certificate_number
            hidden: dict[str, Any] | None = None
            waits_for: list[str] = []
            if certificate.credential is not None:
                hidden = without_holder_claims(certificate.credential)
                checks, waits_for = self._checks(hidden, keys, histories, arriving=True, memo=memo)
            else:
                checks = [{"name": "signature", "passed": None, "detail": "issued without a credential"}]
            writes.append(
                CertificateWrite(
                    number,
                    view=public_view(certificate),
                    checks=checks,
                    holder=self._holder(certificate.holder_name, certificate.id_number),
                    hidden=hidden,
                    waits_for=waits_for,
                )
            )
            for awaited in waits_for:
                awaiting.setdefault(awaited, []).append(number)
        await self._write_certificates(writes)
        # A key or filing that arrived while these were being verified found nothing waiting for it yet. (A rebuild
        # reads every topic at once, so the first batches of certificates often come before their filings.)
        for awaited, numbers in awaiting.items():
            if await self._arrived(awaited):
                await self._reverify(awaited, only=numbers)

    async def _arrived(self, awaited: str) -> bool:
        kind, _, name = awaited.partition(":")
        if kind == "key":
            return bool(await self.redis.hexists(self.key("keys"), name))
        return bool(await self._known_filing_history(name))

    async def _write_certificates(self, writes: list[CertificateWrite]) -> None:
        """Writes each certificate's served document from what changed (its view and checks, or a revocation) and
        what is stored, with its holder entry and waiting state, in one transaction that watches every certificate's
        document and revocation: retried if any of them changed meanwhile, so an issue, a revocation and a later
        verification applied at the same time (by different consumers or workers) never undo each other. The stored
        documents are read only for the writes that keep part of them (a revocation, a verification again): an issue
        brings its view and checks, and needs only the revocations. Commands are grouped (one MSET, one HDEL, one script
        adding the holder entries), since redis-py spends more on a command than Redis does."""
        if not writes:
            return
        documents = [self.key("cert", w.number) for w in writes]
        revocations = [self.key("revoked", w.number) for w in writes]
        keeps = [i for i, w in enumerate(writes) if w.view is None or w.checks is None]

        async def write(pipe: Pipeline) -> None:
            raws: list[bytes | None] = await pipe.mget([documents[i] for i in keeps] + revocations)  # type: ignore[assignment]
            stored_documents: dict[int, bytes | None] = dict(zip(keeps, raws[: len(keeps)], strict=True))
            stored_revocations = raws[len(keeps) :]
            pipe.multi()  # type: ignore[no-untyped-call]
            values: dict[str, bytes | str] = {}
            no_longer_waiting: list[str] = []
            holders: list[tuple[str, str]] = []
            for i, (w, stored_revocation) in enumerate(zip(writes, stored_revocations, strict=True)):
                stored = stored_documents.get(i)
                stored_view, stored_checks = lasting_checks(stored) if stored is not None else (None, None)
                new_view = w.view if w.view is not None else stored_view
                new_checks = w.checks if w.checks is not None else stored_checks
                if w.revocation is not None:
                    values[revocations[i]] = w.revocation
                if new_view is not None and new_checks is not None:  # else the certificate has not arrived yet
                    values[documents[i]] = stored_document(new_view, new_checks, w.revocation or stored_revocation)
                if w.holder is not None:
                    holders.append((w.holder, w.number))
                if w.done_waiting_for is not None:
                    pipe.srem(self.key("awaiting", w.done_waiting_for), w.number)
                if w.waits_for is not None:
                    if w.waits_for and w.hidden is not None:
                        if no_longer_waiting:  # in the order given, should a batch name a certificate twice
                            pipe.hdel(self.key("unverified"), *no_longer_waiting)
                            no_longer_waiting = []
                        pipe.hset(self.key("unverified"), w.number, json.dumps(w.hidden, ensure_ascii=False))
                        for awaited in w.waits_for:
                            pipe.sadd(self.key("awaiting", awaited), w.number)
                    else:
                        no_longer_waiting.append(w.number)
            if values:
                pipe.mset(values)
            if no_longer_waiting:
                pipe.hdel(self.key("unverified"), *no_longer_waiting)
            if len(holders) == 1:
                pipe.sadd(*holders[0])
            elif holders:  # one command for them all: each holder's set gets its number
                pipe.eval(ADD_TO_SETS, len(holders), *(h for h, _ in holders), *(n for _, n in holders))

        await self.redis.transaction(write, *documents, *revocations)

    async def _verify(self, credential: dict[str, Any], *, arriving: bool) -> tuple[list[dict[str, Any]], list[str]]:
        """The checks that do not change later (integrity, signature, filing), and what is still missing.

        For a certificate `arriving` on the bus, an unknown signing key means its key event is still on the way;
        for an uploaded one it means the key is not on the trust list.
        """
        keys, histories = await self._trust_of([credential])
        return self._checks(credential, keys, histories, arriving=arriving)

    async def _trust_of(
        self, credentials_: list[dict[str, Any]]
    ) -> tuple[dict[str, bytes | None], dict[str, list[FilingStepRecord]]]:
        """The trust list's entries of the signing keys and the filing histories of the organizations these
        credentials name, each read once."""
        key_ids = sorted({str(c.get("proof", {}).get("verificationMethod", "")) for c in credentials_})
        codes = sorted({str(c.get("credentialSubject", {}).get("organizationCode", "")) for c in credentials_})
        raw_keys: list[bytes | None] = await self.redis.hmget(self.key("keys"), key_ids) if key_ids else []  # type: ignore[assignment]
        histories = {code: await self._known_filing_history(code) for code in codes}
        return dict(zip(key_ids, raw_keys, strict=True)), histories

    def _checks(
        self,
        credential: dict[str, Any],
        keys: dict[str, bytes | None],
        histories: dict[str, list[FilingStepRecord]],
        *,
        arriving: bool,
        memo: dict[Any, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """`memo` (one per batch, read with one `keys` and `histories`) keeps what depends on them alone: each key's
        trust list and each filing answer, the same for every certificate of the batch that asks."""
        memo = {} if memo is None else memo
        subject, proof = credential.get("credentialSubject", {}), credential.get("proof", {})
        key_id = str(proof.get("verificationMethod", ""))
        code = str(subject.get("organizationCode", ""))
        raw_key = keys.get(key_id)
        trust = memo.get(("trust", key_id))
        if trust is None:
            trust = memo[("trust", key_id)] = TrustList(
                keys=[TrustedKey.model_validate_json(raw_key)] if raw_key else []
            )
        history = histories.get(code, [])

        def filed(organization: str, occupation: str, level: int, on: date) -> tuple[bool, str] | None:
            asked = ("filed", code, organization, occupation, level, on)
            if asked not in memo:
                memo[asked] = filing.filing_check(
                    history, organization_code=organization, occupation_code=occupation, level=level, on=on
                )
            answer: tuple[bool, str] | None = memo[asked]
            return answer

        result = credentials.verify(credential, trust=trust, organization=filed)
        checks = [
            {"name": c.name, "passed": c.passed, "detail": c.detail} for c in result.checks if c.name != "status"
        ]  # status comes from the revocation, if any
        # Unless the organization passed, each later step of its history verifies the certificate again: a scope
        # change that covers it may still be on its way.
        organization_passed = next((c["passed"] for c in checks if c["name"] == "organization"), True)
        waits_for = [f"key:{key_id}"] if raw_key is None else []
        if organization_passed is not True:
            waits_for.append(f"org:{code}")
        if raw_key is None and arriving:
            for check in checks:
                if check["name"] == "signature":
                    check.update(passed=None, detail=f"waiting for the signing key {key_id} of the trust list")
        return checks, waits_for

    async def _reverify(self, awaited: str, only: list[str] | None = None) -> None:
        """Verifies again the certificates that waited for this key or organization (or just those `only`): a
        thousand at a time, with one read of the keys and filings and one transaction each."""
        numbers = (
            only
            if only is not None
            else sorted(_text(n) for n in await self.redis.smembers(self.key("awaiting", awaited)))
        )
        for start in range(0, len(numbers), 1000):
            chunk = numbers[start : start + 1000]
            raws = await self.redis.hmget(self.key("unverified"), chunk)
            waiting = [(number, json.loads(raw)) for number, raw in zip(chunk, raws, strict=True) if raw is not None]
            if not waiting:
                continue
            keys, histories = await self._trust_of([hidden for _number, hidden in waiting])
            memo: dict[Any, Any] = {}
            writes = []
            for number, hidden in waiting:
                checks, waits_for = self._checks(hidden, keys, histories, arriving=True, memo=memo)
                writes.append(
                    CertificateWrite(
                        number, checks=checks, hidden=hidden, waits_for=waits_for, done_waiting_for=awaited
                    )
                )
            await self._write_certificates(writes)

    async def verify_uploaded(self, credential: dict[str, Any]) -> list[dict[str, Any]]:
        """Verifies a holder's electronic certificate against every province's trust list, filings and revocations."""
        checks, _ = await self._verify(credential, arriving=False)
        number = str(credential.get("credentialSubject", {}).get("certificateNumber", ""))
        if not any(check["name"] == "integrity" and check["passed"] is False for check in checks):
            views = await self.views([number])
            checks.append(status_check(views[0] if views else None))
        return checks

    async def apply_revoked(self, revoked: CertificateRevoked) -> None:
        revocation = {"revoked_on": revoked.revoked_on.isoformat(), "revocation_reason": revoked.reason}
        await self._write_certificates(
            [CertificateWrite(revoked.certificate_number, revocation=json.dumps(revocation).encode())]
        )

    async def holder_numbers(self, name: str, id_number: str) -> list[str]:
        return sorted(_text(n) for n in await self.redis.smembers(self._holder(name, id_number)))

    async def views(self, numbers: list[str]) -> list[dict[str, Any]]:
        return [json.loads(document) for document in await self.documents(numbers)]

    async def documents(self, numbers: list[str]) -> list[bytes]:
        """The `CertificateView` JSON of each of these numbers on record, as stored and served: one read."""
        keys = [self.key("cert", number) for number in numbers]
        if not keys:
            return []
        raws: list[bytes | None]
        if len(keys) == 1:  # the busiest lookup there is; redis-py's GET costs a little less than its MGET
            raws = [await self.redis.get(keys[0])]  # type: ignore[list-item]
        else:
            raws = await self.redis.mget(keys)  # type: ignore[assignment]
        return [raw for raw in raws if raw is not None]

    # --- trust list and organizations -----------------------------------------------------------

    async def apply_signing_key(self, published: SigningKeyPublished) -> None:
        key = TrustedKey.model_validate(published.model_dump())
        await self.redis.hset(self.key("keys"), published.key_id, key.model_dump_json())
        await self._reverify(f"key:{published.key_id}")

    async def apply_filing_step(
        self, envelope: Envelope[Any], code: str, step: dict[str, Any], catalogue_entry: dict[str, Any] | None = None
    ) -> None:
        """Adds a step to the organization's history and refreshes its catalogue entry."""
        step = {"kind": "filed", "status": None, "scope": None, "filed_on": None, "valid_until": None, **step}
        # Topics are not ordered among each other: a filing goes first on its day, the rest as they happened.
        step["order"] = f"{0 if step['kind'] == 'filed' else 1}{envelope.occurred_at.isoformat()}"
        event_id = str(envelope.id)
        await self.redis.hsetnx(self.key("filing", code), event_id, json.dumps(step, ensure_ascii=False))
        state = filing.replay_filing(await self._filing_history(code), code)
        catalogue_key, details_key = self.key("organizations"), self.key("details")

        async def write(pipe: Pipeline) -> None:
            # Watching the kept details: a change applied meanwhile is not overwritten by what was read before it.
            raw_entry = await pipe.hget(catalogue_key, code)
            entry = {**(json.loads(raw_entry) if raw_entry else {}), **(catalogue_entry or {})}
            raw_details = await pipe.hget(details_key, code)
            if not entry or state is None:
                return
            if raw_details:  # an approved change of details outlives a filing delivered again (a filing comes once)
                entry.update(_shown_details(raw_details))
            entry.update(status=state.status, scope=state.scope, valid_until=state.valid_until.isoformat())
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.hset(catalogue_key, code, json.dumps(entry, ensure_ascii=False))
            pipe.incr(self.key("organizations", "version"))

        await self.redis.transaction(write, catalogue_key, details_key)
        await self._reverify(f"org:{code}")

    async def _known_filing_history(self, code: str) -> list[FilingStepRecord]:
        """The history once its filing is here: status and scope steps come on other topics than the filing
        itself and may arrive first, and without the filing nothing is known of the organization yet (it is
        not: "it was not filed")."""
        history = await self._filing_history(code)
        return history if any(step.kind == "filed" for step in history) else []

    async def _filing_history(self, code: str) -> list[FilingStepRecord]:
        steps = [FilingStepRecord.model_validate_json(raw) for raw in await self.redis.hvals(self.key("filing", code))]
        return sorted(steps, key=lambda step: (step.effective_on, step.order))

    async def apply_filed(self, envelope: Envelope[OrganizationFiled]) -> None:
        filed = envelope.payload
        # The catalogue shows name, address, contact and phone [L10 附件4]; the credit code stays out.
        entry = filed.model_dump(mode="json", exclude={"credit_code"})
        await self.apply_filing_step(
            envelope,
            filed.filing_code,
            {
                "effective_on": filed.filed_on.isoformat(),
                "kind": "filed",
                "status": "filed",
                "scope": entry["scope"],
                "filed_on": filed.filed_on.isoformat(),
                "valid_until": filed.valid_until.isoformat(),
            },
            entry,
        )

    async def apply_status_changed(self, envelope: Envelope[OrganizationStatusChanged]) -> None:
        changed = envelope.payload
        if changed.filing_code is None:
            return  # an application before filing: not public
        await self.apply_filing_step(
            envelope,
            changed.filing_code,
            {
                "effective_on": envelope.effective_on.isoformat(),
                "kind": "status",
                "status": changed.to_status,
                "valid_until": changed.valid_until and changed.valid_until.isoformat(),
            },
        )

    async def apply_details_changed(self, envelope: Envelope[OrganizationDetailsChanged]) -> None:
        """An approved change of an organization's information or sites [L11]: kept by the organization and shown
        in its catalogue entry, now or when its filing arrives. The latest in effective order wins (the registry's
        date of the change, then when it was sent: changes are approved in any order of their request ids); an
        earlier one delivered late, or the same one again, changes nothing."""
        changed = envelope.payload
        details = changed.model_dump(mode="json", exclude={"filing_code", "effective_on"})
        order = details_order(envelope)
        code, kept_key = changed.filing_code, self.key("details")

        async def write(pipe: Pipeline) -> None:
            raw = await pipe.hget(kept_key, code)
            if raw and json.loads(raw).get("order", "") >= order:
                return
            raw_entry = await pipe.hget(self.key("organizations"), code)
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.hset(kept_key, code, json.dumps({**details, "order": order}, ensure_ascii=False))
            if raw_entry:
                pipe.hset(
                    self.key("organizations"),
                    code,
                    json.dumps({**json.loads(raw_entry), **details}, ensure_ascii=False),
                )
                pipe.incr(self.key("organizations", "version"))

        await self.redis.transaction(write, kept_key, self.key("organizations"))

    async def apply_scope_changed(self, envelope: Envelope[OrganizationScopeChanged]) -> None:
        changed = envelope.payload
        await self.apply_filing_step(
            envelope,
            changed.filing_code,
            {
                "effective_on": envelope.effective_on.isoformat(),
                "kind": "scope",
                "scope": [item.model_dump(mode="json") for item in changed.scope],
            },
        )

    async def apply_batch_plan(self, plan: BatchPlanApproved, province: str) -> None:
        # The staff (examiners' names and ID numbers) are for supervision only: not kept here.
        entry = {**plan.model_dump(mode="json", exclude={"staff"}), "province": province}
        await self._put_catalogue("batch-plans", plan.batch_id, entry)

    async def _put_catalogue(
        self, name: str, key: str, entry: dict[str, Any], also: Callable[[Pipeline], object] = lambda pipe: None
    ) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key(name), key, json.dumps(entry, ensure_ascii=False))
            pipe.incr(self.key(name, "version"))
            also(pipe)
            await pipe.execute()

    async def _catalogue_copy(self, name: str) -> Catalogue:
        """This worker's copy of the catalogue, reloaded only when its version moved (one small GET)."""
        copy = self._catalogues[name]
        version = int(await self.redis.get(self.key(name, "version")) or 0)
        if version != copy.version:
            raw = await self.redis.hgetall(self.key(name))
            copy.by_key = {_text(key): json.loads(value) for key, value in raw.items()}
            for hidden in NOT_PUBLIC.get(name, ()):
                for entry in copy.by_key.values():
                    entry.pop(hidden, None)
            copy.entries = list(copy.by_key.values())
            copy.derived = {}
            copy.version = version
        return copy

    async def catalogue(self, name: str) -> list[dict[str, Any]]:
        """The whole catalogue, from this worker's copy when its version has not moved (one small GET)."""
        return (await self._catalogue_copy(name)).entries

    async def catalogue_by_key(self, name: str) -> dict[str, dict[str, Any]]:
        """The catalogue by its keys (`<province>:<id>` for supervision's), from the same copy."""
        return (await self._catalogue_copy(name)).by_key

    # --- supervision, published: plans, draws, inspection results --------------------------------

    async def apply_inspection_plan(self, plan: InspectionPlanPublished, province: str) -> None:
        """A published plan: its summary in the catalogue, and the document as published for the verifier."""
        terms = plan.terms
        key = f"{province}:{terms.plan_id}"
        entry = InspectionPlanSummary.model_validate(
            {
                **terms.model_dump(mode="json", include=set(InspectionPlanSummary.model_fields)),
                "province": province,
                "population_size": len(plan.targets),
            }
        )
        document = plan.model_dump_json()
        await self._put_catalogue(
            "inspection-plans",
            key,
            entry.model_dump(mode="json"),
            also=lambda pipe: pipe.hset(self.key("plan-documents"), key, document),
        )

    async def apply_draw(self, envelope: Envelope[DrawMade]) -> None:
        """A plan's draw, whether or not the plan is here yet. A draw re-sent after a refusal replaces the
        stored one; an older one delivered later (a second copy of the topic, a replay) does not."""
        draw, province = envelope.payload, envelope.province
        key = f"{province}:{draw.plan_id}"
        entry = DrawSummary(
            province=province,
            plan_id=draw.plan_id,
            drawn_on=draw.drawn_on.isoformat(),
            drawn_targets=len(draw.targets),
            sent_at=envelope.occurred_at.isoformat(),
        )
        catalogue, documents, version = self.key("draws"), self.key("draw-documents"), self.key("draws", "version")

        async def write(pipe: Pipeline) -> None:
            raw = await pipe.hget(catalogue, key)
            stored = DrawSummary.model_validate_json(raw) if raw else None
            pipe.multi()  # type: ignore[no-untyped-call]
            if stored is None or datetime.fromisoformat(stored.sent_at) <= envelope.occurred_at:
                pipe.hset(catalogue, key, entry.model_dump_json())
                pipe.hset(documents, key, draw.model_dump_json())
                pipe.incr(version)

        await self.redis.transaction(write, catalogue)

    async def apply_inspection(self, inspection: InspectionRecorded, province: str) -> None:
        """A sealed inspection, in summary: nothing of it beyond `InspectionSummary` is kept."""
        entry = InspectionSummary(
            **inspection.model_dump(
                mode="json", include=set(InspectionSummary.model_fields) - {"inspectors", "findings"}
            ),
            province=province,
            inspectors=[inspector.name for inspector in inspection.inspectors],
            findings=[FindingSummary.model_validate(finding.model_dump()) for finding in inspection.findings],
        )
        await self._put_catalogue(
            "inspections", f"{province}:{inspection.inspection_id}", entry.model_dump(mode="json")
        )

    # --- star ratings ---------------------------------------------------------------------------------

    async def apply_rating(self, envelope: Envelope[OrganizationRated]) -> None:
        """An organization's rating for a year, with its inputs (public, so anyone recomputes it). It replaces the
        kept one unless that one is of a later year, or of the same year and sent later (a replay, a second copy
        of the topic), compared in a transaction that watches the entry."""
        rated = envelope.payload
        entry = RatingRecord(
            **rated.model_dump(mode="json", include=set(RatingView.model_fields) - {"indicators", "province"}),
            province=envelope.province,
            indicators=[public_indicator(indicator.model_dump(mode="json")) for indicator in rated.indicators],
            sent_at=envelope.occurred_at.isoformat(),
        )
        catalogue, version = self.key("ratings"), self.key("ratings", "version")

        async def write(pipe: Pipeline) -> None:
            raw = await pipe.hget(catalogue, rated.filing_code)
            stored = RatingRecord.model_validate_json(raw) if raw else None
            pipe.multi()  # type: ignore[no-untyped-call]
            if stored is None or (stored.year, datetime.fromisoformat(stored.sent_at)) <= (
                rated.year,
                envelope.occurred_at,
            ):
                pipe.hset(catalogue, rated.filing_code, entry.model_dump_json())
                pipe.incr(version)

        await self.redis.transaction(write, catalogue)

    async def ratings(self) -> dict[str, dict[str, Any]]:
        """Filing code -> its latest rating as served (kept with this worker's copy of the catalogue)."""
        copy = await self._catalogue_copy("ratings")
        served: dict[str, dict[str, Any]] | None = copy.derived.get("served")
        if served is None:
            fields = set(RatingView.model_fields)
            served = {code: {k: v for k, v in entry.items() if k in fields} for code, entry in copy.by_key.items()}
            copy.derived["served"] = served
        return served

    async def plan_documents(self, province: str, plan_id: str) -> tuple[bytes | None, bytes | None]:
        """The plan and its latest draw as published (JSON), each None when not on record (yet)."""
        key = f"{province}:{plan_id}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.key("plan-documents"), key)
            pipe.hget(self.key("draw-documents"), key)
            plan, draw = await pipe.execute()
        return plan, draw

    async def inspections_by_organization(self) -> dict[str, list[dict[str, Any]]]:
        """Filing code -> that organization's inspection summaries, newest first (kept with the copy)."""
        copy = await self._catalogue_copy("inspections")
        index: dict[str, list[dict[str, Any]]] | None = copy.derived.get("by_organization")
        if index is None:
            index = {}
            for entry in sorted(copy.entries, key=newest_inspection_first):
                index.setdefault(entry["organization_code"], []).append(entry)
            copy.derived["by_organization"] = index
        return index


def public_indicator(indicator: dict[str, Any]) -> dict[str, Any]:
    """A rating's indicator as published: an upheld complaint is counted, its tracking code not shown."""
    references = [] if indicator["code"] == "complaint_upheld" else indicator["references"]
    return RatedIndicatorView.model_validate(
        {**indicator, "references": [ref for ref in references if not TRACKING_CODE.match(ref)]}
    ).model_dump(mode="json")


def newest_inspection_first(entry: dict[str, Any]) -> tuple[int, int, str, str]:
    """Sort key: the latest day on site first, then the latest sealed, then by province and id."""
    return (
        -date.fromisoformat(entry["inspected_on"]).toordinal(),
        -date.fromisoformat(entry["sealed_on"]).toordinal(),
        entry["province"],
        entry["inspection_id"],
    )
