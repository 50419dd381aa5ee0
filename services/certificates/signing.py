"""The province's certificate signing keys: created, rotated and published for the trust list.

Private keys live as PEM files in the keys directory (in production: provisioned, or an HSM behind the
same two functions); the database holds only public keys, with the days each key signs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import col, select

from shared.kernel import credentials
from shared.kernel.errors import Conflict
from shared.kernel.events import SIGNING_KEY_PUBLISHED, SigningKeyPublished
from shared.platform.sequences import next_value
from shared.platform.unit import Unit

from .models import SigningKey
from .settings import CertificatesSettings


def key_file(settings: CertificatesSettings, key_id: str) -> Path:
    return settings.signing_keys_path / f"certificates-{key_id}.ed25519.pem"


def private_key(settings: CertificatesSettings, key_id: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(key_file(settings, key_id).read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def current_key(*, unit: Unit[CertificatesSettings]) -> SigningKey:
    """The key this province signs with today; a first start creates one."""
    settings = unit.settings
    key = unit.session.exec(
        select(SigningKey)
        .where(SigningKey.province == settings.province, col(SigningKey.valid_until).is_(None))
        .order_by(col(SigningKey.valid_from).desc())
    ).first()
    if key is not None and key_file(settings, key.key_id).exists():
        return key
    if key is not None:
        raise Conflict(f"the private key of {key.key_id} is missing from {settings.signing_keys_path}: rotate the key")
    return _create_key(unit=unit)


def rotate(*, unit: Unit[CertificatesSettings]) -> SigningKey:
    """Retires the current key (it signed up to yesterday, and stays on the trust list) and starts a new one."""
    settings = unit.settings
    for old in unit.session.exec(
        select(SigningKey).where(SigningKey.province == settings.province, col(SigningKey.valid_until).is_(None))
    ):
        old.valid_until = max(unit.today - timedelta(days=1), old.valid_from)
        unit.session.add(old)
        _publish(unit, old)
    return _create_key(unit=unit)


def _create_key(*, unit: Unit[CertificatesSettings]) -> SigningKey:
    settings = unit.settings
    serial = next_value(unit.session, f"signing-key:{settings.province}", maximum=9999)
    key_id = f"{settings.province}-{unit.today:%Y%m%d}-{serial}"
    private = Ed25519PrivateKey.generate()
    path = key_file(settings, key_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    key = SigningKey(
        key_id=key_id,
        province=settings.province,
        public_key=credentials.public_key_text(private),
        valid_from=unit.today,
    )
    unit.session.add(key)
    unit.session.flush()
    _publish(unit, key)
    return key


def _publish(unit: Unit[CertificatesSettings], key: SigningKey) -> None:
    payload = SigningKeyPublished(
        key_id=key.key_id,
        province=key.province,
        public_key=key.public_key,
        valid_from=key.valid_from,
        valid_until=key.valid_until,
    )
    unit.emit(SIGNING_KEY_PUBLISHED, subject=key.key_id, payload=payload)


def sign_document(settings: CertificatesSettings, key: SigningKey, document: dict[str, Any]) -> dict[str, Any]:
    """A detached Ed25519 signature over the canonical JSON of a document without its proof."""
    signature = private_key(settings, key.key_id).sign(credentials.canonical_json(document))
    return {
        "type": "SkillcertEd25519Signature2026",
        "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "verificationMethod": key.key_id,
        "proofPurpose": "assertionMethod",
        "proofValue": credentials.b64url(signature),
    }
