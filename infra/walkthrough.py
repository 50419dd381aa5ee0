"""One certificate from filing to public lookup, over the services' HTTP APIs.

`make demo` runs it against the running suite; the end-to-end and integration tests run the same steps.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

import httpx
from stdnum.cn import ric, uscc

from shared.kernel.clock import Clock
from shared.kernel.workdays import add_working_days, add_years

T = TypeVar("T")

PROVINCE_CITIES = {
    "33": ("杭州市", "330106"),
    "32": ("南京市", "320102"),
    "31": ("上海市", "310101"),
    "21": ("沈阳市", "210102"),
    "37": ("济南市", "370102"),
    "45": ("南宁市", "450102"),
}


# `resident_id` gives distinct numbers for 0 to 629,999, 21,000 per birth year from 1990; candidates take them
# from 1, staff from here: born in 1998 (adults with the walk's 10 years of work), above any batch up to 168,000.
STAFF_IDS = 8 * 21_000


def credit_code(province: str, number: int) -> str:
    """A unified social credit code with a correct check character (GB 32100)."""
    body = f"91{province}0100MA{number:07d}"[:17]
    return body + uscc.calc_check_digit(body)


def resident_id(province: str, number: int) -> str:
    """A resident identity card number with a correct check digit (GB 11643)."""
    region = PROVINCE_CITIES.get(province, ("", f"{province}0102"))[1]
    # Month, day and sequence repeat every 21,000 numbers; the birth year moves on past that (1990-2019).
    body = f"{region}{1990 + (number // 21000) % 30}{(number % 12) + 1:02d}{(number % 28) + 1:02d}{number % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # python-stdnum's function expects a placeholder digit


def material(kind: str, name: str) -> dict[str, str]:
    """A document reference as the document store would return it (key and SHA-256 of the content)."""
    return {"kind": kind, "file_ref": f"docs/{name}", "sha256": hashlib.sha256(name.encode()).hexdigest()}


def organization_application(province: str, number: int = 1, **changes: Any) -> dict[str, Any]:
    """A complete application of a province-level industry organization that meets every rule."""
    city, _ = PROVINCE_CITIES.get(province, ("", ""))
    application = {
        "name": f"{city}机械行业协会技能评价中心{number}号",
        "credit_code": credit_code(province, number),
        "kind": "industry_organization",
        "admin_level": "province",
        "evaluation_scope": "province",
        "city": city,
        "address": f"{city}人民路{number}号",
        "legal_representative": "王建国",
        "registered_capital_10k_yuan": 500,
        "contact_name": "李明",
        "contact_phone": "0571-88886666",
        "years_of_evaluation": 6,
        "full_time_staff": 5,
        "examiners": 20,
        "quality_supervisors": 4,
        "main_business_occupations": ["6-18-01-01", "4-03-02-01"],
        "occupations": [
            {
                "occupation_code": "6-18-01-01",
                "occupation_name": "车工",
                "levels": [5, 4, 3],
                "standard": "车工国家职业技能标准(2018年版)",
                "person_times": 1500,
            },
            {
                "occupation_code": "4-03-02-01",
                "occupation_name": "中式烹调师",
                "levels": [5, 4],
                "standard": "中式烹调师国家职业技能标准(2018年版)",
                "person_times": 900,
            },
        ],
        "sites": [{"address": f"{city}人民路{number}号", "city": city, "ownership": "owned", "area_m2": 1200}],
        "materials": [
            material("registration", f"{number}-registration.pdf"),
            material("site_proof", f"{number}-property.pdf"),
            material("staff_roster", f"{number}-staff.pdf"),
            material("integrity_pledge", f"{number}-pledge.pdf"),
        ],
    }
    application.update(changes)
    return application


def filed_organization(
    province: str, number: int = 1, *, today: date | None = None, code: str | None = None, **changes: Any
) -> dict[str, Any]:
    """An organization the province filed before the system ran (`POST /organizations`), taken in with its code
    (by default `S0000<province>` and `number`'s last six digits), filed `today` (the service's date) and valid
    three years."""
    filed_on = today or Clock().today()
    return {
        **organization_application(province, number, **changes),
        "filing_code": code or f"S0000{province}{number % 1_000_000:06d}",
        "filed_on": filed_on.isoformat(),
        "valid_until": add_years(filed_on, 3).isoformat(),
    }


def staff(province: str, number: int = 1) -> list[dict[str, Any]]:
    """Two examiners, an invigilator and an internal quality supervisor (the shipped policies' minimums:
    `materials.min_examiners` 2, `min_quality_supervisors` 1), none tied to any candidate: their ID numbers come
    from above those of any batch's candidates (`candidate` numbers them from 1)."""
    people = (
        ("周考评", "examiner"),
        ("吴监考", "invigilator"),
        ("郑督导", "quality_supervisor"),
        ("孙考评", "examiner"),
    )
    first = STAFF_IDS + 10 * number
    return [
        {"name": name, "id_type": "居民身份证", "id_number": resident_id(province, first + i), "role": role}
        for i, (name, role) in enumerate(people)
    ]


def candidate(province: str, index: int, **facts: Any) -> dict[str, Any]:
    names = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强"]
    return {
        "name": names[index % len(names)] + (str(index) if index >= len(names) else ""),
        "id_type": "居民身份证",
        "id_number": resident_id(province, index + 1),
        "years_of_work": 10,
        **facts,
    }


async def approve_change(
    registry: httpx.AsyncClient,
    code: str,
    change_id: int,
    *,
    selector: dict[str, str],
    official: dict[str, str],
) -> dict[str, Any]:
    """Takes a filed organization's change through the steps the province's policy gives its kind (acceptance,
    expert assessment, publicity by the selecting division's `selector`; a step the procedure lacks answers 409
    and is skipped) to the province's approval, moving the clock over the publicity [L11; S附件3]."""
    at = f"/organizations/{code}/changes/{change_id}"
    steps: list[tuple[str, dict[str, Any] | None]] = [
        ("acceptance", None),
        ("assessment", {"passed": True, "reason": "专家评估: 条件符合"}),
        ("publicity", {"published_on": (await service_today(registry)).isoformat()}),
    ]
    for step, body in steps:
        response = await registry.post(f"{at}/{step}", json=body, headers=selector)
        if response.status_code == 409 and "has no" in response.json()["detail"]:
            continue
        done = expect(response, 200)
        if step == "publicity":
            await move_clock(registry, date.fromisoformat(done["publicity_until"]) + timedelta(days=1), official)
    return expect(await registry.post(f"{at}/approve", headers=official), 200)


def filed_site(application: dict[str, Any]) -> dict[str, str]:
    """The application's first site as a batch plan names it: a batch there is at a filed site, not a new one."""
    site = application["sites"][0]
    return {"address": site["address"], "city": site["city"]}


def batch_plan(
    organization_code: str,
    province: str,
    candidates: int | list[dict[str, Any]] = 2,
    level: int = 4,
    today: date | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """A plan for the organization's filed site, announced `today` (the service's date), starting after the
    longest announcement period any shipped policy asks (Guangxi: 10 working days), with candidates who meet
    the conditions."""
    city, _ = PROVINCE_CITIES.get(province, ("", ""))
    number = int(organization_code[-6:])
    today = today or Clock().today()
    starts_on = add_working_days(today, 12)
    plan = {
        "organization_code": organization_code,
        "occupation_code": "6-18-01-01",
        "occupation_name": "车工",
        "work_type": None,
        "level": level,
        "method": "assessment",
        "announced_on": today.isoformat(),
        "exam_starts_on": starts_on.isoformat(),
        "exam_ends_on": starts_on.isoformat(),
        "site": {"address": f"{city}人民路{number}号", "city": city},
        "staff": staff(province, number),
        "candidates": candidates
        if isinstance(candidates, list)
        else [candidate(province, i) for i in range(candidates)],
    }
    plan.update(changes)
    return plan


# A request body takes at most 1 MiB (shared/platform/limits.py): a plan's candidates in JSON pass it at some 8,000,
# results at some 14,000. A larger batch's candidates arrive by CSV upload, its results a page at a time.
PLAN_CANDIDATES = 5000
RESULTS_PER_REQUEST = 5000


def candidates_csv(province: str, count: int) -> bytes:
    """The upload of `count` candidates (`candidate` 0 to count - 1) as CSV."""
    lines = ["name,id_type,id_number,years_of_work"]
    lines += [
        f"{c['name']},{c['id_type']},{c['id_number']},{c['years_of_work']}"
        for c in (candidate(province, i) for i in range(count))
    ]
    return "\n".join(lines).encode()


def passing_scores(candidates: list[dict[str, Any]], level: int) -> dict[str, Any]:
    defence = {"defence": 75.0} if level <= 2 else {}
    return {"results": [{"candidate_id": c["id"], "theory": 82.0, "skill": 78.5, **defence} for c in candidates]}


async def service_today(client: httpx.AsyncClient) -> date:
    """The date of a training deployment's service, which a walk-through may have moved on."""
    return date.fromisoformat(expect(await client.get("/clock"), 200)["today"])


async def move_clock(client: httpx.AsyncClient, to: date, official: dict[str, str]) -> None:
    """Moves a training deployment's date on to `to`, for every service of the province (a province official's
    request; the service refuses unless ADJUSTABLE_CLOCK is on)."""
    today = await service_today(client)
    if to > today:
        expect(await client.post("/clock", json={"days": (to - today).days}, headers=official), 200)


async def all_candidates(
    recognition: httpx.AsyncClient, batch_id: str, headers: dict[str, str], page: int = 5000
) -> list[dict[str, Any]]:
    """Every candidate of the batch, read page by page (the API answers at most 5,000 at a time)."""
    people: list[dict[str, Any]] = []
    while True:
        response = await recognition.get(
            f"/batches/{batch_id}/candidates", params={"skip": len(people), "limit": page}, headers=headers
        )
        data = expect(response, 200)["data"]
        people += data
        if len(data) < page:
            return people


async def ready_for_approval(
    recognition: httpx.AsyncClient, batch: dict[str, Any], token: Callable[..., dict[str, str]], province: str
) -> dict[str, Any]:
    """Takes a draft batch through submission, plan approval, the exam, results, publicity, report and review,
    moving the province's training clock over the waiting periods: what is left is the province's re-check."""
    operator = token(province, "org_operator", batch["organization_code"])
    department, official = token(province, "testing_department"), token(province, "province_official")
    at = f"/batches/{batch['id']}"
    expect(await recognition.post(f"{at}/submit", headers=operator), 200)
    expect(await recognition.post(f"{at}/plan-decision", json={"approve": True}, headers=department), 200)
    await move_clock(recognition, date.fromisoformat(batch["exam_ends_on"]), official)
    candidates = await all_candidates(recognition, batch["id"], operator)
    for start in range(0, len(candidates), RESULTS_PER_REQUEST):
        page = passing_scores(candidates[start : start + RESULTS_PER_REQUEST], batch["level"])
        expect(await recognition.post(f"{at}/results", json=page, headers=operator), 200)
    published = expect(
        await recognition.post(
            f"{at}/results-publicity", headers=operator, json={"published_on": batch["exam_ends_on"]}
        ),
        200,
    )
    await move_clock(
        recognition, date.fromisoformat(published["results_publicity_until"]) + timedelta(days=1), official
    )
    expect(await recognition.post(f"{at}/report", headers=operator), 200)
    return expect(await recognition.post(f"{at}/review", json={"approve": True}, headers=department), 200)


async def run_batch(
    recognition: httpx.AsyncClient, batch: dict[str, Any], token: Callable[..., dict[str, str]], province: str
) -> dict[str, Any]:
    """`ready_for_approval`, then the province's approval (which sends the results on for certificates)."""
    await ready_for_approval(recognition, batch, token, province)
    official = token(province, "province_official")
    return expect(await recognition.post(f"/batches/{batch['id']}/approve", headers=official), 200)


async def eventually(probe: Callable[[], Awaitable[T | None]], *, within: float = 60, what: str = "") -> T:
    """Polls `probe` until it returns something truthy: events take a moment to flow between services."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await probe()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not within {within:.0f}s: {what}")
        await asyncio.sleep(0.2)


def expect(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise AssertionError(
            f"{response.request.method} {response.request.url} -> {response.status_code} "
            f"(expected {status}): {response.text}"
        )
    return response.json()  # type: ignore[no-any-return]


@dataclass
class ProvinceClients:
    province: str
    registry: httpx.AsyncClient
    recognition: httpx.AsyncClient
    certificates: httpx.AsyncClient
    supervision: httpx.AsyncClient


@dataclass
class WalkResult:
    organization_code: str
    batch_id: str
    candidates: list[dict[str, Any]]
    certificates: list[dict[str, Any]]


async def plan_batch(
    clients: ProvinceClients, token: Callable[..., dict[str, str]], *, number: int = 1, candidates: int = 2
) -> dict[str, Any]:
    """Files organization `number` and has recognition accept a draft batch of `candidates` for it (more than
    `PLAN_CANDIDATES` are uploaded by CSV after the plan)."""
    province = clients.province
    official = token(province, "province_official")
    filed = filed_organization(province, number, today=await service_today(clients.registry))
    organization = expect(await clients.registry.post("/organizations", json=filed, headers=official), 201)
    code = organization["filing_code"]
    operator = token(province, "org_operator", code)

    async def batch_accepted() -> dict[str, Any] | None:
        # Recognition learns of the organization from its event, not from a call to the registry: until the
        # event arrives the plan is refused for an unknown organization, and any other refusal is an error.
        today = await service_today(clients.recognition)
        in_plan = candidates if candidates <= PLAN_CANDIDATES else 0
        plan = batch_plan(code, province, in_plan, today=today, site=filed_site(filed))
        response = await clients.recognition.post("/batches", json=plan, headers=operator)
        if response.status_code == 422 and response.json()["detail"][0]["field"] == "organization_code":
            return None
        return expect(response, 201)

    batch = await eventually(batch_accepted, what=f"recognition accepts a batch for {code}")
    if candidates > PLAN_CANDIDATES:
        upload = {**operator, "content-type": "text/csv"}
        at = f"/batches/{batch['id']}/candidates"
        expect(await clients.recognition.post(at, content=candidates_csv(province, candidates), headers=upload), 200)
    return batch


async def walk_province(
    clients: ProvinceClients, token: Callable[..., dict[str, str]], *, number: int = 1, candidates: int = 2
) -> WalkResult:
    """Files an organization, plans a batch, records results, approves it, and waits for its certificates."""
    province = clients.province
    official = token(province, "province_official")
    batch = await plan_batch(clients, token, number=number, candidates=candidates)
    code = batch["organization_code"]
    batch = await run_batch(clients.recognition, batch, token, province)
    people = await all_candidates(clients.recognition, batch["id"], token(province, "org_operator", code))

    async def certificates_issued() -> list[dict[str, Any]] | None:
        response = await clients.certificates.get("/certificates", params={"batch_id": batch["id"]}, headers=official)
        data = expect(response, 200)["data"]
        return data if len(data) == len(people) else None

    certificates = await eventually(certificates_issued, what=f"certificates for batch {batch['id']}")
    return WalkResult(code, batch["id"], people, certificates)
