"""Each certificates rule against the service functions and a real, migrated database (no broker needed)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, func, select

from infra.walkthrough import resident_id
from services.certificates import cli, pdf, service, signing
from services.certificates.app import MIGRATIONS
from services.certificates.models import Certificate, CertificateStatus, RevocationCreate, SignedBatch
from services.certificates.settings import CertificatesSettings
from shared.kernel import credentials
from shared.kernel.credentials import CredentialError
from shared.kernel.errors import Conflict, FieldError
from shared.kernel.events import (
    BatchResultCorrected,
    BatchResultsApproved,
    OrganizationFiled,
    PassedCandidate,
    ScopeItem,
)
from shared.kernel.numbering import CertificateNumber, Level
from shared.platform.auth import Actor
from shared.platform.db import make_engine, migrate
from shared.platform.outbox import OutboxEvent, apply_once
from shared.platform.sequences import SequenceCounter, SequenceExhausted
from tests.units import as_unit

TODAY = date(2026, 11, 23)
ORG = "S000033000001"
OFFICIAL = Actor("official", "province_official")


@pytest.fixture
def engine(database_url_factory: Any) -> Iterator[Engine]:
    engine = make_engine(database_url_factory("certificates"))
    migrate(engine, MIGRATIONS)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> CertificatesSettings:
    return CertificatesSettings(province="33", keys_dir=tmp_path / "keys", public_base_url="https://cx.example.cn")


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        service.record_filing(
            unit=as_unit(session),
            filed=OrganizationFiled(
                filing_code=ORG,
                name="杭州市职业技能评价中心",
                credit_code="91330100MA2xxxxx0X",
                org_type="S",
                province="33",
                scope=[ScopeItem(occupation_code="6-18-01-01", occupation_name="车工", levels=[5, 4, 3])],
                filed_on=TODAY - timedelta(days=100),
                valid_until=TODAY + timedelta(days=900),
            ),
        )
        session.commit()
        yield session


def approved(
    batch_id: str = "b1", count: int = 3, *, level: int = 4, part: int = 1, parts: int = 1, first: int = 0
) -> BatchResultsApproved:
    return BatchResultsApproved(
        batch_id=batch_id,
        organization_code=ORG,
        organization_name="杭州市职业技能评价中心",
        occupation_code="6-18-01-01",
        occupation_name="车工",
        work_type=None,
        level=level,
        approved_on=TODAY,
        part=part,
        parts=parts,
        passed=[
            PassedCandidate(
                candidate_id=f"{batch_id}-c{i}", name=f"张{i}", id_type="居民身份证", id_number=resident_id("33", i)
            )
            for i in range(first, first + count)
        ],
    )


def issue(
    session: Session, settings: CertificatesSettings, batch: BatchResultsApproved, today: date = TODAY
) -> list[Certificate]:
    numbers = service.receive_batch_part(unit=as_unit(session, today=today, settings=settings), approved=batch)
    session.commit()
    return [certificate for number in numbers if (certificate := session.get(Certificate, number))]


def credential(session: Session, settings: CertificatesSettings, number: str) -> dict[str, Any]:
    certificate, signed = service.get_signed(unit=as_unit(session), number=number)
    return service.credential_of(certificate, signed, settings)


def checks(session: Session, document: dict[str, Any]) -> dict[str, bool | None]:
    return {check.name: check.passed for check in service.verify(unit=as_unit(session), credential=document).checks}


def issued_events(session: Session) -> list[dict[str, Any]]:
    rows = session.exec(
        select(OutboxEvent)
        .where(OutboxEvent.event_type == "certificates.certificate-issued")
        .order_by(col(OutboxEvent.seq))
    )
    return [json.loads(row.body) for row in rows]


# --- the number ----------------------------------------------------------------------------------


def test_numbers_follow_the_national_rule_gap_free_per_organization_year_and_level(
    session: Session, settings: CertificatesSettings
) -> None:
    level_four = issue(session, settings, approved("b1", 3, level=4))
    level_three = issue(session, settings, approved("b2", 2, level=3))
    more_four = issue(session, settings, approved("b3", 1, level=4))
    numbers = [CertificateNumber.parse(c.number) for c in [*level_four, *level_three, *more_four]]
    assert [str(n.organization) for n in numbers] == [ORG] * 6  # positions 1-13: the filing code
    assert {n.year for n in numbers} == {26}  # positions 14-15
    assert [(int(n.level), n.serial) for n in numbers] == [(4, 1), (4, 2), (4, 3), (3, 1), (3, 2), (4, 4)]
    assert level_four[0].number == "S000033000001264000001"


def test_concurrent_batches_get_unique_gap_free_serials_and_a_restart_continues(
    engine: Engine, session: Session, settings: CertificatesSettings, database_url_factory: Any
) -> None:
    signing.current_key(unit=as_unit(session, today=TODAY, settings=settings))
    session.commit()

    def deliver(batch: int) -> None:
        envelope_id = uuid.uuid4()
        apply_once(
            engine,
            "certificates",
            envelope_id,
            lambda s: service.receive_batch_part(
                unit=as_unit(s, today=TODAY, settings=settings),
                approved=approved(f"c{batch}", 10, first=batch * 10),
            ),
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(deliver, range(8)))
    serials = sorted(CertificateNumber.parse(n).serial for n in session.exec(select(Certificate.number)))
    assert serials == list(range(1, 81))

    restarted = make_engine(str(engine.url.render_as_string(hide_password=False)))
    with Session(restarted) as fresh:
        [number] = service.receive_batch_part(
            unit=as_unit(fresh, today=TODAY, settings=settings),
            approved=approved("after", 1, first=500),
        )
        assert CertificateNumber.parse(number).serial == 81
        fresh.commit()
    restarted.dispose()


def test_running_out_of_serials_is_a_clear_error_and_issues_nothing(
    session: Session, settings: CertificatesSettings
) -> None:
    session.add(SequenceCounter(name=service.serial_counter(ORG, 26, 4), value=999_999))
    session.commit()
    with pytest.raises(SequenceExhausted, match=f"serial:{ORG}:26:4 has used all 999999"):
        issue(session, settings, approved("b1", 1))
    session.rollback()
    assert session.exec(select(func.count()).select_from(Certificate)).one() == 0


# --- issuing and signing -------------------------------------------------------------------------


def test_each_part_of_a_batch_is_signed_once_as_it_arrives(session: Session, settings: CertificatesSettings) -> None:
    issue(session, settings, approved("big", 4, part=1, parts=3))
    assert len(issued_events(session)) == 4  # issued without waiting for the later parts
    issue(session, settings, approved("big", 4, part=2, parts=3, first=4))
    issue(session, settings, approved("big", 2, part=3, parts=3, first=8))

    signatures = {s.id: s for s in session.exec(select(SignedBatch)).all()}
    assert {id: s.certificates for id, s in signatures.items()} == {"big/part-1": 4, "big/part-2": 4, "big/part-3": 2}
    events = issued_events(session)
    assert len(events) == 10
    numbers = [event["subject"] for event in events]
    assert len(set(numbers)) == 10 and [n[-6:] for n in sorted(numbers)] == [f"{i:06d}" for i in range(1, 11)]
    by_root = {s.merkle_root: s.signature for s in signatures.values()}
    for document in (event["payload"]["credential"] for event in events):
        assert by_root[document["proof"]["merkleRoot"]] == document["proof"]["proofValue"]  # one signature a part
        assert service.verify(unit=as_unit(session), credential=document).verified


def test_a_replayed_or_resent_approval_issues_nothing_twice(
    engine: Engine, session: Session, settings: CertificatesSettings
) -> None:
    event_id = uuid.uuid4()
    batch = approved("b1", 3)
    for _ in range(2):  # the same event delivered twice
        apply_once(
            engine,
            "certificates",
            event_id,
            lambda s: service.receive_batch_part(unit=as_unit(s, today=TODAY, settings=settings), approved=batch),
        )
    # The same part resent as a new event (a new event id): still nothing twice.
    apply_once(
        engine,
        "certificates",
        uuid.uuid4(),
        lambda s: service.receive_batch_part(unit=as_unit(s, today=TODAY, settings=settings), approved=batch),
    )
    assert session.exec(select(func.count()).select_from(Certificate)).one() == 3
    assert len(issued_events(session)) == 3


def test_the_credential_carries_the_required_fields(session: Session, settings: CertificatesSettings) -> None:
    [certificate, *_] = issue(session, settings, approved("b1", 1))
    document = credential(session, settings, certificate.number)
    subject = document["credentialSubject"]
    assert document["type"] == ["VerifiableCredential", "SkillLevelCertificate"]
    assert document["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert document["issuer"]["name"] == "浙江省人力资源和社会保障厅"
    assert subject["title"] == "职业技能等级证书"
    assert subject["organizationName"] == "杭州市职业技能评价中心"
    holder = (subject["holderName"], subject["idType"], subject["idNumber"])
    assert holder == ("张0", "居民身份证", resident_id("33", 0))
    assert (subject["workType"], subject["levelTitle"]) == ("--", "四级/中级工")
    assert subject["lookupUrl"] == f"https://cx.example.cn/certificates/{certificate.number}"
    assert subject["organizationLookupUrl"] == f"https://cx.example.cn/organizations/{ORG}"
    assert document["validFrom"].startswith("2026-11-23")
    assert document["credentialStatus"]["type"] == "BitstringStatusListEntry"


# --- verification --------------------------------------------------------------------------------


def test_a_tampered_field_fails_verification(session: Session, settings: CertificatesSettings) -> None:
    [certificate, *_] = issue(session, settings, approved("b1", 2))
    document = credential(session, settings, certificate.number)
    assert checks(session, document) == {"integrity": True, "signature": True, "status": True, "organization": True}

    changes: tuple[Callable[[dict[str, Any]], None], ...] = (
        lambda d: d["credentialSubject"].update(level=2, levelTitle="二级/技师"),
        lambda d: d["credentialSubject"].update(holderName="李四"),
        lambda d: d.update(validFrom="2020-01-01T00:00:00+08:00"),  # an unsigned field contradicting the claims
        lambda d: d["credentialSubject"].update(extra="added"),
    )
    for change in changes:
        tampered = json.loads(json.dumps(document))
        change(tampered)
        result = service.verify(unit=as_unit(session), credential=tampered)
        assert not result.verified
        assert [c.passed for c in result.checks if c.name == "integrity"] == [False]

    moved = json.loads(json.dumps(document))
    moved["proof"]["merkleRoot"] = "00" * 32
    assert checks(session, moved)["signature"] is False


def test_a_number_that_contradicts_its_claims_fails_even_when_signed(
    session: Session, settings: CertificatesSettings
) -> None:
    [certificate] = issue(session, settings, approved("b1", 1))
    key = signing.current_key(unit=as_unit(session, today=TODAY, settings=settings))
    claims = {**certificate.claims, "level": 3, "levelTitle": "三级/高级工"}  # the number says level 4
    salts = certificate.salts
    leaf = bytes.fromhex(credentials.salted_target_hash(claims, salts))
    signed = credentials.credential_document(
        claims=claims,
        salts=salts,
        target=leaf.hex(),
        issuer_name="x",
        key_id=key.key_id,
        status=credentials.StatusEntry(certificate.status_list, certificate.status_index),
        merkle_root=leaf.hex(),
        merkle_proof=[],
        signature=credentials.sign_root(signing.private_key(settings, key.key_id), leaf),
        signed_at="x",
    )
    [integrity] = [c for c in service.verify(unit=as_unit(session), credential=signed).checks if c.name == "integrity"]
    assert integrity.passed is False and integrity.detail.endswith("contradicts the claims: level")


def test_a_hidden_field_still_verifies(session: Session, settings: CertificatesSettings) -> None:
    [certificate, *_] = issue(session, settings, approved("b1", 3))
    document = credential(session, settings, certificate.number)
    hidden = credentials.hide_claims(document, ["idNumber", "idType"])
    assert "idNumber" not in hidden["credentialSubject"] and resident_id("33", 0) not in json.dumps(hidden)
    result = service.verify(unit=as_unit(session), credential=hidden)
    assert result.verified
    assert "2 hidden by the holder" in result.checks[0].detail
    with pytest.raises(CredentialError, match="organizationCode cannot be hidden"):
        credentials.hide_claims(document, ["organizationCode"])


def test_a_revoked_certificate_shows_as_revoked(session: Session, settings: CertificatesSettings) -> None:
    [first, second, *_] = issue(session, settings, approved("b1", 3))
    with pytest.raises(FieldError, match="revoked_on: .* in the future"):
        service.revoke(
            unit=as_unit(session, today=TODAY, settings=settings),
            number=first.number,
            actor=OFFICIAL,
            revocation=RevocationCreate(reason="fraud", detail="伪造学历证明", revoked_on=TODAY + timedelta(1)),
        )
    service.revoke(
        unit=as_unit(session, today=TODAY, settings=settings),
        number=first.number,
        actor=OFFICIAL,
        revocation=RevocationCreate(reason="fraud", detail="伪造学历证明"),
    )
    session.commit()
    with pytest.raises(Conflict, match="already revoked"):
        service.revoke(
            unit=as_unit(session, today=TODAY, settings=settings),
            number=first.number,
            actor=OFFICIAL,
            revocation=RevocationCreate(reason="error", detail="again"),
        )

    result = service.verify(unit=as_unit(session), credential=credential(session, settings, first.number))
    assert not result.verified
    assert [c.detail for c in result.checks if c.name == "status"] == ["revoked on 2026-11-23: fraud: 伪造学历证明"]
    assert service.verify(unit=as_unit(session), credential=credential(session, settings, second.number)).verified
    record = session.get(Certificate, first.number)
    assert record is not None and record.status is CertificateStatus.REVOKED  # kept, marked

    status_list = service.status_list_credential(unit=as_unit(session, today=TODAY, settings=settings), list_number=0)
    trust = service.trust_list(unit=as_unit(session))
    lookup = credentials.status_from_list(status_list, trust)
    entry = credentials.StatusEntry(first.status_list, first.status_index)
    assert lookup(first.number, entry) == credentials.RevocationStatus(True, None, "marked in the status list")
    assert lookup(second.number, credentials.StatusEntry(second.status_list, second.status_index)).revoked is False  # type: ignore[union-attr]
    status_list["credentialSubject"]["encodedList"] = credentials.encode_status_list([])
    with pytest.raises(CredentialError, match="signature does not verify"):
        credentials.status_from_list(status_list, trust)


def test_an_out_of_scope_organization_fails_verification(session: Session, settings: CertificatesSettings) -> None:
    # Level 2 is outside the organization's filed scope (levels 5, 4, 3): validly signed, still not valid.
    [certificate] = issue(session, settings, approved("b1", 1, level=2))
    result = service.verify(unit=as_unit(session), credential=credential(session, settings, certificate.number))
    assert not result.verified
    [organization] = [c for c in result.checks if c.name == "organization"]
    assert organization.passed is False and "level 2 is outside the filed scope" in organization.detail

    # Before its filing the organization could not issue at all.
    [early] = issue(session, settings, approved("b2", 1), today=TODAY - timedelta(days=200))
    early_checks = checks(session, credential(session, settings, early.number))
    assert early_checks["organization"] is False


def test_keys_rotate_and_each_signs_only_its_own_days(session: Session, settings: CertificatesSettings) -> None:
    [before] = issue(session, settings, approved("b1", 1))
    old_key = signing.current_key(unit=as_unit(session, today=TODAY, settings=settings))
    later = TODAY + timedelta(days=30)
    new_key = signing.rotate(unit=as_unit(session, today=later, settings=settings))
    session.commit()
    [after] = issue(session, settings, approved("b2", 1), today=later)
    assert old_key.valid_until == later - timedelta(days=1) and new_key.valid_until is None
    assert service.verify(unit=as_unit(session), credential=credential(session, settings, before.number)).verified
    document = credential(session, settings, after.number)
    assert document["proof"]["verificationMethod"] == new_key.key_id
    assert service.verify(unit=as_unit(session), credential=document).verified

    # A retired key (say, leaked) signing a certificate dated after its retirement is refused.
    claims = {**document["credentialSubject"]}
    salts = document["proof"]["salts"]
    leaf = bytes.fromhex(credentials.salted_target_hash(claims, salts))
    forged = credentials.credential_document(
        claims=claims,
        salts=salts,
        target=leaf.hex(),
        status=credentials.StatusEntry(after.status_list, after.status_index),
        issuer_name="x",
        key_id=old_key.key_id,
        merkle_root=leaf.hex(),
        merkle_proof=[],
        signature=credentials.sign_root(signing.private_key(settings, old_key.key_id), leaf),
        signed_at="x",
    )
    [signature] = [c for c in service.verify(unit=as_unit(session), credential=forged).checks if c.name == "signature"]
    assert signature.passed is False and "did not sign on" in signature.detail


def test_corrections_certify_or_revoke_one_candidate(session: Session, settings: CertificatesSettings) -> None:
    [kept, wrong] = issue(session, settings, approved("b1", 2))

    def correction(candidate: PassedCandidate, passed_now: bool, correction_id: int) -> BatchResultCorrected:
        return BatchResultCorrected(
            batch_id="b1",
            correction_id=correction_id,
            organization_code=ORG,
            candidate=candidate,
            passed_before=not passed_now,
            passed_now=passed_now,
            reason="复核分数登记错误",
            corrected_by="official",
            corrected_on=TODAY,
        )

    newcomer = PassedCandidate(
        candidate_id="b1-late", name="王五", id_type="居民身份证", id_number=resident_id("33", 77)
    )
    added = service.apply_correction(
        unit=as_unit(session, today=TODAY, settings=settings),
        correction=correction(newcomer, True, 1),
    )
    failed = approved("b1", 2).passed[1]
    service.apply_correction(
        unit=as_unit(session, today=TODAY, settings=settings),
        correction=correction(failed, False, 2),
    )
    session.commit()
    assert added is not None and CertificateNumber.parse(added.number).serial == 3
    assert service.verify(unit=as_unit(session), credential=credential(session, settings, added.number)).verified
    assert session.get(SignedBatch, "b1/correction-1") is not None
    assert checks(session, credential(session, settings, wrong.number))["status"] is False
    assert checks(session, credential(session, settings, kept.number))["status"] is True


def test_records_are_never_deleted(engine: Engine, session: Session, settings: CertificatesSettings) -> None:
    issue(session, settings, approved("b1", 1))
    session.rollback()  # end the read transaction, so TRUNCATE meets the trigger rather than a lock
    for table in ("certificate", "signed_batch", "signing_key", "organization_record"):
        with engine.connect() as connection, pytest.raises(DBAPIError, match="kept"):
            connection.execute(text(f"DELETE FROM {table}"))
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection, pytest.raises(DBAPIError, match="kept"):
                connection.execute(text(f"TRUNCATE {table}"))
    assert session.exec(select(func.count()).select_from(Certificate)).one() == 1


# --- paper and offline ---------------------------------------------------------------------------


def test_the_pdf_is_a4_with_the_lookup_qr_and_renders_the_same_every_time(
    session: Session, settings: CertificatesSettings
) -> None:
    [certificate] = issue(session, settings, approved("b1", 1))
    first, again = pdf.render(certificate), pdf.render(certificate)
    assert first.startswith(b"%PDF") and first == again
    assert b"/MediaBox [ 0 0 595.2756 841.8898 ]" in first  # A4 in points
    assert b"STSong-Light" in first
    assert pdf.qr_modules(certificate.claims["lookupUrl"]) == pdf.qr_modules(
        f"https://cx.example.cn/certificates/{certificate.number}"
    )
    assert pdf.render(certificate, revoked_on=TODAY) != first


def test_the_cli_verifies_offline_with_a_trust_list(
    session: Session, settings: CertificatesSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [certificate] = issue(session, settings, approved("b1", 1))
    files = {
        "credential.json": credential(session, settings, certificate.number),
        "trust.json": service.trust_list(unit=as_unit(session)).model_dump(mode="json"),
        "status.json": service.status_list_credential(
            unit=as_unit(session, today=TODAY, settings=settings), list_number=0
        ),
    }
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    args = ["verify", str(tmp_path / "credential.json"), "--trust-list", str(tmp_path / "trust.json")]
    assert cli.main([*args, "--status-list", str(tmp_path / "status.json")]) == 0
    output = capsys.readouterr().out
    assert "VERIFIED" in output and "organization  not checked" in output

    assert cli.main(["hide", str(tmp_path / "credential.json"), "--claim", "idNumber"]) == 0
    (tmp_path / "hidden.json").write_text(capsys.readouterr().out, encoding="utf-8")
    assert cli.main(["verify", str(tmp_path / "hidden.json"), "--trust-list", str(tmp_path / "trust.json")]) == 0

    files["credential.json"]["credentialSubject"]["occupationName"] = "焊工"
    (tmp_path / "credential.json").write_text(json.dumps(files["credential.json"]), encoding="utf-8")
    assert cli.main(args) == 1
    assert "NOT VERIFIED" in capsys.readouterr().out


def test_level_titles_are_written_as_on_the_certificate() -> None:
    assert [Level(n).title for n in (1, 2, 3, 4, 5)] == [
        "一级/高级技师",
        "二级/技师",
        "三级/高级工",
        "四级/中级工",
        "五级/初级工",
    ]
