"""Electronic certificates across provinces over HTTP and the real broker: a Zhejiang credential verified by
Jiangsu's certificates service (trust list, filing records and revocations all learned from events)."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from infra.walkthrough import eventually, expect, walk_province
from shared.kernel.credentials import StatusEntry, TrustList, hide_claims, status_from_list
from tests.harness import Environment, province_services, query_app, serve

pytestmark = pytest.mark.kafka


def verdict(response_json: dict[str, Any]) -> dict[str, bool | None]:
    return {check["name"]: check["passed"] for check in response_json["checks"]}


async def test_a_zhejiang_credential_verifies_in_jiangsu_until_it_is_revoked(env: Environment, token: Any) -> None:
    async with (
        province_services(env, "32") as jiangsu,
        province_services(env, "33") as zhejiang,
        serve(query_app(env)) as query,
    ):
        walk = await walk_province(zhejiang, token)
        number = walk.certificates[0]["number"]
        operator = token("33", "org_operator", walk.organization_code)
        official = token("33", "province_official")

        document = expect(await zhejiang.certificates.get(f"/certificates/{number}/credential", headers=operator), 200)
        assert document["credentialSubject"]["idNumber"] == walk.candidates[0]["id_number"]
        # Another organization's operator cannot fetch it (it carries the full ID number).
        stranger = token("33", "org_operator", "S000033999999")
        assert (
            await zhejiang.certificates.get(f"/certificates/{number}/credential", headers=stranger)
        ).status_code == 404

        # The holder shares it with the ID number hidden; Jiangsu checks everything from what events told it.
        shared = hide_claims(document, ["idNumber"])

        async def fully_checked() -> dict[str, Any] | None:
            answer = expect(await jiangsu.certificates.post("/verify", json=shared), 200)
            return answer if None not in verdict(answer).values() else None

        answer = await eventually(fully_checked, what="Jiangsu learns Zhejiang's key, filing and status")
        assert answer["verified"] is True
        assert verdict(answer) == {"integrity": True, "signature": True, "status": True, "organization": True}

        # The organization adds the holder's photo for the paper copy: an image, once.
        photo_at = f"/certificates/{number}/photo"
        not_image = await zhejiang.certificates.put(photo_at, content=b"not an image", headers=operator)
        assert not_image.status_code == 422 and not_image.json()["detail"][0]["field"] == "photo"
        without_photo = await zhejiang.certificates.get(f"/certificates/{number}/pdf", headers=operator)
        image = io.BytesIO()
        Image.new("RGB", (120, 160), "white").save(image, format="PNG")
        assert (
            await zhejiang.certificates.put(photo_at, content=image.getvalue(), headers=operator)
        ).status_code == 204
        assert (
            await zhejiang.certificates.put(photo_at, content=image.getvalue(), headers=operator)
        ).status_code == 409
        pdf = await zhejiang.certificates.get(f"/certificates/{number}/pdf", headers=operator)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content != without_photo.content and b"/Subtype /Image" in pdf.content

        # A revocation by a Zhejiang official: public at once in Zhejiang, and in Jiangsu through the event.
        bad = await zhejiang.certificates.post(
            f"/certificates/{number}/revocation", json={"reason": "mistake", "detail": "x"}, headers=official
        )
        assert bad.status_code == 422
        assert {e["field"] for e in bad.json()["detail"]} == {"reason", "detail"}
        assert expect(await zhejiang.certificates.get(f"/certificates/{number}"), 200)["status"] == "valid"
        forbidden = await zhejiang.certificates.post(
            f"/certificates/{number}/revocation",
            json={"reason": "fraud", "detail": "冒名顶替参加考试"},
            headers=operator,
        )
        assert forbidden.status_code == 403
        expect(
            await zhejiang.certificates.post(
                f"/certificates/{number}/revocation",
                json={"reason": "fraud", "detail": "冒名顶替参加考试"},
                headers=official,
            ),
            200,
        )
        public = expect(await zhejiang.certificates.get(f"/certificates/{number}"), 200)
        assert public["status"] == "revoked" and public["revoked_on"] is not None

        async def revoked_in_jiangsu() -> dict[str, Any] | None:
            answer = expect(await jiangsu.certificates.post("/verify", json=shared), 200)
            return answer if verdict(answer)["status"] is False else None

        answer = await eventually(revoked_in_jiangsu, what="Jiangsu learns of the revocation")
        assert answer["verified"] is False

        # The shared public lookup shows it revoked, by number and by name + ID.
        async def revoked_in_public() -> dict[str, Any] | None:
            view = expect(await query.get(f"/certificates/{number}"), 200)
            return view if view["status"] == "revoked" else None

        view = await eventually(revoked_in_public, what="the query service learns of the revocation")
        assert (view["revoked_on"], view["revocation_reason"]) == (public["revoked_on"], "fraud")
        holder = walk.candidates[0]
        [by_holder] = expect(
            await query.post("/holder-lookups", json={"name": holder["name"], "id_number": holder["id_number"]}), 200
        )["data"]
        assert by_holder["status"] == "revoked"
        other = walk.certificates[1]["number"]
        assert expect(await query.get(f"/certificates/{other}"), 200)["status"] == "valid"

        # The public status list and trust list, enough to verify offline.
        status = document["credentialStatus"]
        status_list = expect(await zhejiang.certificates.get(urlsplit(status["statusListCredential"]).path), 200)
        trust = TrustList.model_validate(expect(await jiangsu.certificates.get("/trust-list"), 200))
        lookup = status_from_list(status_list, trust)
        found = lookup(number, StatusEntry(status["statusListCredential"], int(status["statusListIndex"])))
        assert found is not None and found.revoked

        # A legacy 16-digit number is recognised as such; a malformed one names the fault.
        legacy = await zhejiang.certificates.get("/certificates/1234567890123456")
        assert legacy.status_code == 404 and legacy.headers["x-legacy-number"] == "true"
        malformed = await zhejiang.certificates.get("/certificates/S00003300000126")
        assert malformed.status_code == 422 and malformed.json()["detail"][0]["field"] == "number"

        retention = expect(await zhejiang.certificates.get("/records/retention", headers=official), 200)
        assert retention["minimum_years"] == 5 and retention["revocations"] == 1
