"""Electronic certificates as W3C Verifiable Credentials (VC Data Model 2.0), one signature per batch.

Each claim of `credentialSubject` is hashed with its own random salt; a certificate's target hash is the
hash of its sorted claim hashes; the batch's target hashes are the leaves of a Merkle tree whose root the
province signs once with Ed25519 (as OpenAttestation and Blockcerts do). Every credential carries its
salts, its Merkle path, the root and the signature, so it verifies alone. A holder hides a claim by
removing it and its salt and listing the claim's hash under `proof.obfuscated`: the target hash still adds
up, the hidden value is not revealed.

Verification (`verify`) is the same code for the certificates service, the query service and the offline
CLI; what it cannot know offline (status, the organization's filing) it reports as not checked.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from json.encoder import encode_basestring
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, Field

from shared.kernel.numbering import CertificateNumber, NumberError

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
SKILLCERT_CONTEXT = "https://skillcert.example.cn/contexts/skill-certificate/v1"
PROOF_TYPE = "SkillcertMerkleBatchSignature2026"
STATUS_LIST_SIZE = 131_072  # bits per list: the W3C minimum, so one revocation does not single a holder out
CERTIFICATE_TITLE = "职业技能等级证书"
# Claims a holder may withhold; the rest are what verification checks (number, issuer, scope, date, status).
HIDEABLE_CLAIMS = frozenset({"holderName", "idType", "idNumber"})
_ROOT_SIGNING_CONTEXT = b"skillcert merkle root v1:"


class CredentialError(ValueError):
    """A credential that cannot be built or read; the message says why."""


# --- hashing -------------------------------------------------------------------------------------


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, UTF-8 (Chinese kept as is)."""
    return _CANONICAL.encode(value).encode()


def _canonical_text(value: Any) -> str:
    # A claim is a string or an integer nearly always: encoded directly, as the encoder does them, they skip its
    # set-up, which was most of the time of hashing a certificate's 19 claims.
    if type(value) is str:
        return encode_basestring(value)
    if type(value) is int:
        return int.__repr__(value)
    return _CANONICAL.encode(value)


def new_salts(names: Iterable[str]) -> dict[str, str]:
    """A random 128-bit salt (hex) for each claim name, from one read of the system's random source."""
    names = list(names)
    randomness = secrets.token_hex(16 * len(names))
    return {name: randomness[32 * i : 32 * (i + 1)] for i, name in enumerate(names)}


def claim_hash(name: str, value: Any, salt: str) -> str:
    """SHA-256 of the canonical JSON of [name, value, salt]."""
    triple = f"[{encode_basestring(name)},{_canonical_text(value)},{encode_basestring(salt)}]"
    return hashlib.sha256(triple.encode()).hexdigest()


def target_hash(claim_hashes: Iterable[str]) -> str:
    """A certificate's hash: of its claims' hashes in sorted order, so hiding one changes nothing."""
    return hashlib.sha256(canonical_json(sorted(claim_hashes))).hexdigest()


def salted_target_hash(claims: dict[str, Any], salts: dict[str, str]) -> str:
    return target_hash(claim_hash(name, value, salts[name]) for name, value in claims.items())


def _pair(a: bytes, b: bytes) -> bytes:
    # Sorted pairs: a proof needs no left/right flags.
    return hashlib.sha256(min(a, b) + max(a, b)).digest()


class MerkleTree:
    """All levels of a binary Merkle tree over 32-byte leaves, each level one bytearray (compact at 100k)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise CredentialError("a Merkle tree needs at least one leaf")
        level = bytearray(b"".join(leaves))
        self.levels = [level]
        while len(level) > 32:
            nodes = [bytes(level[i : i + 32]) for i in range(0, len(level), 32)]
            parents = bytearray()
            for i in range(0, len(nodes), 2):
                parents += _pair(nodes[i], nodes[i + 1]) if i + 1 < len(nodes) else nodes[i]
            level = parents
            self.levels.append(level)

    @property
    def root(self) -> bytes:
        return bytes(self.levels[-1])

    def proof(self, index: int) -> list[str]:
        path: list[str] = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling * 32 < len(level):
                path.append(level[sibling * 32 : sibling * 32 + 32].hex())
            index //= 2
        return path


def merkle_root_of(leaf_hex: str, path: Iterable[str]) -> str:
    node = bytes.fromhex(leaf_hex)
    for sibling in path:
        node = _pair(node, bytes.fromhex(sibling))
    return node.hex()


def sign_root(key: Ed25519PrivateKey, root: bytes) -> str:
    return b64url(key.sign(_ROOT_SIGNING_CONTEXT + root))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- trust list and status list ------------------------------------------------------------------


class TrustedKey(BaseModel):
    """A province's public signing key and when it signed; published as `signing key published`."""

    key_id: str
    province: str = Field(pattern=r"^\d{2}$")
    public_key: str = Field(description="raw Ed25519 public key, base64url")
    valid_from: date
    valid_until: date | None = Field(default=None, description="last day it signed; None while in use")

    def signs_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    def verify(self, signature: str, root: bytes) -> bool:
        return _root_signature_valid(self.public_key, signature, root)


@functools.lru_cache(maxsize=4096)
def _root_signature_valid(public_key: str, signature: str, root: bytes) -> bool:
    # One signature covers a whole batch: a reader of many of its certificates checks it once.
    try:
        Ed25519PublicKey.from_public_bytes(from_b64url(public_key)).verify(
            from_b64url(signature), _ROOT_SIGNING_CONTEXT + root
        )
    except (InvalidSignature, ValueError):
        return False
    return True


class TrustList(BaseModel):
    keys: list[TrustedKey]

    def find(self, key_id: str) -> TrustedKey | None:
        return next((key for key in self.keys if key.key_id == key_id), None)


def encode_status_list(revoked_indexes: Iterable[int], size: int = STATUS_LIST_SIZE) -> str:
    """W3C Bitstring Status List `encodedList`: multibase base64url (`u`) of the GZIP'd bitstring."""
    bits = bytearray(size // 8)
    for index in revoked_indexes:
        bits[index // 8] |= 0x80 >> (index % 8)  # bit 0 is the left-most bit of the first byte
    return "u" + b64url(gzip.compress(bytes(bits), mtime=0))


def status_bit(encoded_list: str, index: int) -> bool:
    if not encoded_list.startswith("u"):
        raise CredentialError("encodedList must be multibase base64url (starting with u)")
    bits = gzip.decompress(from_b64url(encoded_list[1:]))
    if not 0 <= index < len(bits) * 8:
        raise CredentialError(f"status index {index} is outside the list")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def document_signature_valid(document: dict[str, Any], trust: TrustList) -> bool:
    """Checks a detached signature (`proof`) over a document's canonical JSON, e.g. a status list."""
    proof = document.get("proof") or {}
    key = trust.find(str(proof.get("verificationMethod")))
    if key is None:
        return False
    unsigned = {name: value for name, value in document.items() if name != "proof"}
    try:
        Ed25519PublicKey.from_public_bytes(from_b64url(key.public_key)).verify(
            from_b64url(str(proof.get("proofValue"))), canonical_json(unsigned)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def status_from_list(document: dict[str, Any], trust: TrustList) -> StatusLookup:
    """A status source from a downloaded status list (offline verification); its signature must hold."""
    if not document_signature_valid(document, trust):
        raise CredentialError("the status list's signature does not verify against the trust list")
    url, encoded = document["id"], document["credentialSubject"]["encodedList"]

    def lookup(_number: str, entry: StatusEntry) -> RevocationStatus | None:
        if entry.list_url != url:
            return None
        revoked = status_bit(encoded, entry.index)
        return RevocationStatus(revoked, None, "marked in the status list" if revoked else None)

    return lookup


# --- building ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusEntry:
    list_url: str
    index: int


def status_list_position(sequence: int) -> tuple[int, int]:
    """Which list (0, 1, ...) and which bit a certificate's status takes, from its 1-based allocation."""
    return (sequence - 1) // STATUS_LIST_SIZE, (sequence - 1) % STATUS_LIST_SIZE


def credential_document(
    *,
    claims: dict[str, Any],
    salts: dict[str, str],
    target: str,
    status: StatusEntry,
    issuer_name: str,
    key_id: str,
    merkle_root: str,
    merkle_proof: list[str],
    signature: str,
    signed_at: str,
) -> dict[str, Any]:
    """The credential as handed to the holder: claims, salts, their target hash, Merkle path, root, signature."""
    number = claims["certificateNumber"]
    return {
        "@context": [VC_CONTEXT, SKILLCERT_CONTEXT],
        "id": f"urn:skillcert:certificate:{number}",
        "type": ["VerifiableCredential", "SkillLevelCertificate"],
        "name": CERTIFICATE_TITLE,
        "issuer": {"id": f"urn:skillcert:province:{claims['province']}", "name": issuer_name},
        "validFrom": f"{claims['issuedOn']}T00:00:00+08:00",
        "credentialStatus": {
            "id": f"{status.list_url}#{status.index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(status.index),
            "statusListCredential": status.list_url,
        },
        "credentialSubject": dict(claims),
        "proof": {
            "type": PROOF_TYPE,
            "created": signed_at,
            "proofPurpose": "assertionMethod",
            "verificationMethod": key_id,
            "targetHash": target,
            "merkleProof": merkle_proof,
            "merkleRoot": merkle_root,
            "proofValue": signature,
            "salts": dict(salts),
            "obfuscated": [],
        },
    }


def hide_claims(credential: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """A copy without the named claims; their hashes stay in `proof.obfuscated`, so it still verifies."""
    hidden = json.loads(json.dumps(credential))
    subject, proof = hidden["credentialSubject"], hidden["proof"]
    for name in names:
        if name not in HIDEABLE_CLAIMS:
            raise CredentialError(f"{name} cannot be hidden: only {', '.join(sorted(HIDEABLE_CLAIMS))} may be")
        if name not in subject:
            continue
        proof["obfuscated"].append(claim_hash(name, subject.pop(name), proof["salts"].pop(name)))
    return hidden  # type: ignore[no-any-return]


# --- verifying -----------------------------------------------------------------------------------

CheckName = Literal["integrity", "signature", "status", "organization"]


@dataclass(frozen=True)
class Check:
    name: CheckName
    passed: bool | None  # None: not checked (offline, or nothing to check against)
    detail: str


@dataclass(frozen=True)
class RevocationStatus:
    revoked: bool
    revoked_on: date | None = None
    reason: str | None = None


@dataclass
class Verification:
    certificate_number: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """Nothing failed, and the document is intact and signed by a key the trust list names."""
        passed = {check.name: check.passed for check in self.checks}
        return (
            passed.get("integrity") is True
            and passed.get("signature") is True
            and all(value is not False for value in passed.values())
        )


# What a verifier may know besides the trust list: a certificate's status, and the organization's filing.
StatusLookup = Callable[[str, StatusEntry], RevocationStatus | None]
OrganizationLookup = Callable[[str, str, int, date], tuple[bool, str] | None]


def verify(
    credential: dict[str, Any],
    *,
    trust: TrustList,
    status: StatusLookup | None = None,
    organization: OrganizationLookup | None = None,
) -> Verification:
    try:
        subject: dict[str, Any] = credential["credentialSubject"]
        proof: dict[str, Any] = credential["proof"]
        number = str(subject["certificateNumber"])
        issued_on = date.fromisoformat(subject["issuedOn"])
    except (KeyError, TypeError, ValueError) as error:
        return Verification(None, [Check("integrity", False, f"not a skill certificate credential: {error!r}")])
    result = Verification(number)
    integrity = _integrity(credential, subject, proof, issued_on)
    result.checks.append(integrity)
    result.checks.append(_signature(proof, subject, issued_on, trust))
    if status is None:
        result.checks.append(Check("status", None, "not checked: no status source (offline)"))
    else:
        entry = credential["credentialStatus"]
        found = status(number, StatusEntry(entry["statusListCredential"], int(entry["statusListIndex"])))
        if found is None:
            result.checks.append(Check("status", None, "not checked: the status list is not known here"))
        elif found.revoked:
            result.checks.append(Check("status", False, f"revoked on {found.revoked_on}: {found.reason}"))
        else:
            result.checks.append(Check("status", True, "not revoked"))
    if organization is None:
        result.checks.append(Check("organization", None, "not checked: no filing records (offline)"))
    else:
        code, occupation, level = subject["organizationCode"], subject["occupationCode"], int(subject["level"])
        answer = organization(code, occupation, level, issued_on)
        if answer is None:
            result.checks.append(Check("organization", None, f"not checked: no filing records of {code}"))
        else:
            result.checks.append(Check("organization", answer[0], answer[1]))
    return result


def _integrity(credential: dict[str, Any], subject: dict[str, Any], proof: dict[str, Any], issued_on: date) -> Check:
    salts: dict[str, str] = proof.get("salts", {})
    if set(salts) != set(subject):
        return Check("integrity", False, "claims and salts do not match (a claim was added or removed)")
    hashes = [claim_hash(name, value, salts[name]) for name, value in subject.items()]
    computed = target_hash([*hashes, *proof.get("obfuscated", [])])
    if computed != proof.get("targetHash"):
        return Check("integrity", False, "a claim was changed: the document's hash does not match its proof")
    # The unsigned envelope must say what the signed claims say.
    status = credential.get("credentialStatus", {})
    mismatches = [
        name
        for name, ok in (
            ("id", credential.get("id") == f"urn:skillcert:certificate:{subject['certificateNumber']}"),
            ("issuer", credential.get("issuer", {}).get("id") == f"urn:skillcert:province:{subject.get('province')}"),
            ("validFrom", str(credential.get("validFrom", "")).startswith(issued_on.isoformat())),
            (
                "credentialStatus",
                status.get("statusListCredential") == subject.get("statusListCredential")
                and str(status.get("statusListIndex")) == str(subject.get("statusListIndex")),
            ),
        )
        if not ok
    ]
    if mismatches:
        return Check("integrity", False, f"unsigned fields contradict the signed claims: {', '.join(mismatches)}")
    number_fault = _number_contradiction(subject, issued_on)
    if number_fault:
        return Check("integrity", False, number_fault)
    hidden = len(proof.get("obfuscated", []))
    return Check("integrity", True, "claims intact" + (f" ({hidden} hidden by the holder)" if hidden else ""))


def _number_contradiction(subject: dict[str, Any], issued_on: date) -> str | None:
    """The 22-character number repeats the organization, year and level: they must agree with the claims."""
    try:
        number = CertificateNumber.parse(str(subject["certificateNumber"]))
    except NumberError as error:
        return f"certificateNumber breaks the national rule: {error}"
    disagreements = [
        name
        for name, ok in (
            ("organizationCode", str(number.organization) == subject.get("organizationCode")),
            ("level", int(number.level) == subject.get("level")),
            ("issuedOn", number.year == issued_on.year % 100),
        )
        if not ok
    ]
    if disagreements:
        return f"the certificate number contradicts the claims: {', '.join(disagreements)}"
    return None


def _signature(proof: dict[str, Any], subject: dict[str, Any], issued_on: date, trust: TrustList) -> Check:
    if proof.get("type") != PROOF_TYPE:
        return Check("signature", False, f"unknown proof type {proof.get('type')}")
    key = trust.find(str(proof.get("verificationMethod")))
    if key is None:
        return Check("signature", False, f"key {proof.get('verificationMethod')} is not on the trust list")
    if key.province != subject.get("province"):
        return Check(
            "signature",
            False,
            f"key {key.key_id} belongs to province {key.province}, not the issuing province {subject.get('province')}",
        )
    if not key.signs_on(issued_on):
        return Check(
            "signature",
            False,
            f"key {key.key_id} did not sign on {issued_on} (valid {key.valid_from} to {key.valid_until or 'now'})",
        )
    try:
        root = merkle_root_of(proof["targetHash"], proof.get("merkleProof", []))
    except (KeyError, ValueError):
        return Check("signature", False, "the Merkle path is malformed")
    if root != proof.get("merkleRoot"):
        return Check("signature", False, "the certificate is not in the signed batch (Merkle path fails)")
    if not key.verify(str(proof.get("proofValue")), bytes.fromhex(root)):
        return Check("signature", False, f"the batch signature does not verify with key {key.key_id}")
    return Check("signature", True, f"batch signed by province {key.province} with key {key.key_id}")


def public_key_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64url(raw)
