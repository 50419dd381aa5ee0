"""The public web page on a phone-sized headless Chromium (Debian's package, driven by Playwright): lookups,
verifying an uploaded electronic certificate, the catalogue with star ratings, the plans, supervision's published
results, plans and draws, and a complaint filed and followed by its tracking code (forwarded to a stand-in of the
province's supervision intake). Screenshots go to test-output/query-page/."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import re
import shutil
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from playwright.async_api import Page, async_playwright, expect

from infra.servers import free_port
from infra.walkthrough import eventually, walk_province
from infra.walkthrough import expect as expect_status
from shared.kernel.clock import CHINA
from shared.kernel.events import (
    DrawnTarget,
    Envelope,
    InspectionFinding,
    OrganizationRated,
    RatedIndicator,
    contract_for,
)
from tests.harness import Environment, province_services, query_app, serve
from tests.service import samples
from tests.service.test_query_complaints import TRACKING_CODE, StandInSupervision

pytestmark = pytest.mark.kafka
# The page runs beside a whole province's services in one event loop: on a busy CI machine a lookup has taken
# longer than Playwright's default 5 s to come back.
expect.set_options(timeout=20_000)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "query-page"
RATED_YEAR = datetime.now(CHINA).year - 1  # the yearly rating rates the past year


@contextlib.asynccontextmanager
async def listening(app: FastAPI) -> AsyncIterator[str]:
    """The app behind a real HTTP server on loopback, for the browser."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        await task


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    print(f"screenshot {SCREENSHOTS / name}.png")


async def publish_supervision(env: Environment, organization_code: str, organization_name: str, batch_id: str) -> str:
    """What Zhejiang's supervision publishes of a batch's inspection (一公开): the plan that drew it, the draw, the
    sealed record and the organization's star rating for last year, sent on supervision's topics as its relay
    would. The plan's id."""
    plan = samples.plan_published("33-P000001")
    [target] = plan.targets
    plan = plan.model_copy(
        update={
            "targets": [
                target.model_copy(
                    update={
                        "target_id": batch_id,
                        "organization_code": organization_code,
                        "organization_name": organization_name,
                    }
                )
            ]
        }
    )
    draw = samples.draw_made("33-P000001").model_copy(
        update={"targets": [DrawnTarget(target_id=batch_id, inspectors=["33-E000001"])]}
    )
    finding = InspectionFinding(
        item_code="plan",
        item_title="实施计划与现场一致",
        severity="minor",
        description="考场座位与计划不符：考评员周某未按计划到岗，已当场整改",
        public_summary="考场座位与计划不符，已当场整改",
    )
    recorded = samples.inspection_recorded("33-I000001").model_copy(
        update={
            "batch_id": batch_id,
            "organization_code": organization_code,
            "organization_name": organization_name,
            "findings": [finding],
        }
    )
    rating = OrganizationRated(
        filing_code=organization_code,
        organization_name=organization_name,
        year=RATED_YEAR,
        stars=4,
        score=90,
        draw_weight=2,
        indicators=[
            RatedIndicator(
                code="finding_minor", title="检查发现一般问题", count=2, points=5, references=["33-I000001"]
            ),
            RatedIndicator(code="complaint_upheld", title="投诉举报查实", count=0, points=8),
        ],
        rated_on=date(RATED_YEAR + 1, 1, 5),
    )
    producer = AIOKafkaProducer(bootstrap_servers=env.kafka_bootstrap)
    await producer.start()
    try:
        for payload in (plan, draw, recorded, rating):
            event: Envelope[Any] = samples.envelope(payload, province="33")
            await producer.send_and_wait(
                contract_for(event.type).topic("33", env.topic_root),
                event.model_dump_json().encode(),
                key=event.subject.encode(),
            )
    finally:
        await producer.stop()
    return plan.terms.plan_id


async def test_the_public_page_on_a_phone(env: Environment, token: Any, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium package is needed (make deps installs it)"
    supervision = StandInSupervision("33")  # Zhejiang's complaints intake; Jiangsu and Shanghai have none here
    async with (
        listening(supervision.app()) as intake,
        listening(query_app(env, supervision_urls={"33": intake})) as site,
        serve(query_app(env, redis_prefix=f"{env.topic_root}:")) as query,
        province_services(env, "33", query) as zhejiang,
    ):
        walk = await walk_province(zhejiang, token)
        number, holder = walk.certificates[0]["number"], walk.candidates[0]

        async def verified() -> bool:
            response = await query.get(f"/certificates/{number}")
            return response.status_code == 200 and response.json()["verification"]["verified"] is True

        await eventually(verified, what="the certificate verified in the public lookup")
        operator = token("33", "org_operator", walk.organization_code)
        document = expect_status(
            await zhejiang.certificates.get(f"/certificates/{number}/credential", headers=operator), 200
        )
        genuine, forged = tmp_path / "certificate.json", tmp_path / "forged.json"
        genuine.write_text(json.dumps(document, ensure_ascii=False))
        changed = copy.deepcopy(document)
        changed["credentialSubject"]["holderName"] = "王五"
        forged.write_text(json.dumps(changed, ensure_ascii=False))

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            context = await browser.new_context(
                viewport={"width": 390, "height": 844},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
                locale="zh-CN",
            )
            page = await context.new_page()
            # A failure names what the browser saw: its console and any request that did not complete.
            page.on("console", lambda message: print(f"console {message.type}: {message.text}"))
            page.on("requestfailed", lambda request: print(f"request failed: {request.method} {request.url}"))
            page.on("response", lambda response: print(f"response {response.status} {response.url}"))
            await page.goto(site)
            await expect(page.get_by_role("heading", name="职业技能等级证书查询")).to_be_visible()
            # Fits a phone: nothing wider than the screen.
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            await shot(page, "1-home")

            await page.get_by_label("证书编号").fill(number.lower())
            await page.get_by_role("button", name="按证书编号查询").click()
            card = page.locator(f'article[data-number="{number}"]')
            await expect(card).to_contain_text(holder["name"])
            await expect(card).to_contain_text("验证通过")
            await expect(card).to_contain_text("四级/中级工")
            await expect(card).to_contain_text("证书有效，未被撤销")
            await expect(card).to_contain_text(walk.organization_code)
            await expect(card).not_to_contain_text(holder["id_number"])
            await shot(page, "2-by-number")

            await page.get_by_label("证书编号").fill("S000033000001264999999")
            await page.get_by_role("button", name="按证书编号查询").click()
            await expect(page.locator("#lookup-results")).to_contain_text("未查到证书")

            await page.get_by_label("姓名").fill(holder["name"])
            await page.get_by_label("证件号码").fill(holder["id_number"])
            # Name and ID number go in a POST body: the ID number is in no URL (history, access logs, traces).
            async with page.expect_request(lambda r: r.url.endswith("/holder-lookups")) as asked:
                await page.get_by_role("button", name="按姓名和证件号码查询").click()
            lookup = await asked.value
            assert lookup.method == "POST" and holder["id_number"] in (lookup.post_data or "")
            await expect(page.locator("#lookup-results")).to_contain_text("共查到 1 本证书")
            assert holder["id_number"] not in page.url
            await shot(page, "3-by-name-and-id")

            await page.get_by_role("tab", name="电子证书验证").click()
            await page.get_by_label("电子证书文件（JSON）").set_input_files(str(genuine))
            await page.get_by_role("button", name="验证电子证书").click()
            await expect(page.locator("#verdict")).to_contain_text("验证通过")
            await shot(page, "4-verified-upload")
            await page.get_by_label("电子证书文件（JSON）").set_input_files(str(forged))
            await page.get_by_role("button", name="验证电子证书").click()
            await expect(page.locator("#verdict")).to_contain_text("验证未通过")
            await expect(page.locator("#verdict")).to_contain_text("内容完整")
            await shot(page, "5-forged-upload")

            await page.get_by_role("tab", name="评价机构目录").click()
            await page.get_by_label("机构名称或备案编码").fill("机械行业协会")
            await page.get_by_role("button", name="查询评价机构").click()
            await expect(page.locator("#organization-results")).to_contain_text(walk.organization_code)
            await expect(page.locator("#organization-results")).to_contain_text("已备案")
            await expect(page.locator("#organization-results")).to_contain_text("0571-88886666")  # L10 附件4
            await shot(page, "6-organizations")

            await page.get_by_role("tab", name="年度认定计划").click()
            await page.get_by_role("button", name="查询认定计划").click()
            await expect(page.locator("#plan-results")).to_contain_text("车工")
            await shot(page, "7-batch-plans")

            # Supervision publishes an inspection of the walk's batch, its plan and the draw (双随机、一公开).
            [organization] = expect_status(
                await query.get("/organizations", params={"q": walk.organization_code}), 200
            )["data"]
            plan_id = await publish_supervision(env, walk.organization_code, organization["name"], walk.batch_id)

            async def published() -> bool:
                inspections = (await query.get("/inspections")).json()["count"]
                plans = (await query.get("/inspection-plans")).json()["data"]
                [entry] = (await query.get("/organizations", params={"q": walk.organization_code})).json()["data"]
                return inspections == 1 and len(plans) == 1 and plans[0]["drawn"] and entry["rating"] is not None

            await eventually(published, what="the inspection, its plan, the draw and the rating in the public lookup")
            await page.get_by_role("tab", name="监督检查").click()
            inspection = page.locator('article[data-inspection="33:33-I000001"]')
            await expect(inspection).to_contain_text(organization["name"])
            await expect(inspection).to_contain_text("发现问题 1 项")
            await expect(inspection).to_contain_text("实施计划与现场一致")  # an item checked, by its title
            await expect(inspection).to_contain_text("考场座位与计划不符")
            plan_card = page.locator(f'article[data-plan="33:{plan_id}"]')
            await expect(plan_card).to_contain_text("已抽取")
            await expect(plan_card).to_contain_text("抽中 1 个")
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            await shot(page, "8-supervision")
            async with page.expect_download() as downloading:
                await plan_card.get_by_role("link", name="下载抽取结果文件").click()
            download = await downloading.value
            assert download.suggested_filename == f"{plan_id}.draw.json"
            drawn = json.loads(await asyncio.to_thread((await download.path()).read_bytes))
            assert drawn["targets"][0]["target_id"] == walk.batch_id

            await page.get_by_role("tab", name="评价机构目录").click()
            await page.get_by_role("button", name="查询评价机构").click()
            await expect(page.locator("#organization-results")).to_contain_text("最近一次")
            await expect(page.locator("#organization-results")).to_contain_text("发现问题 1 项")
            await expect(page.locator("#organization-results")).to_contain_text(f"★★★★☆ {RATED_YEAR}年度，90分")
            await expect(page.locator("#organization-results")).to_contain_text("检查发现一般问题 2 次（-10）")
            await shot(page, "9-organization-inspected")

            # 投诉举报: filed through the page, forwarded to Zhejiang's supervision, followed by its tracking code.
            evidence = tmp_path / "现场照片.jpg"
            evidence.write_bytes(b"\xff\xd8\xff\xe0 photo of the exam room " * 100)
            await page.get_by_role("tab", name="投诉举报").click()
            await page.get_by_label("受理省份").select_option("33")
            await page.get_by_label("投诉举报对象").select_option("organization")
            await page.get_by_label("对象名称或编号").fill(walk.organization_code)
            await page.get_by_label("评价机构备案编码").fill(walk.organization_code.lower())
            await page.get_by_label("投诉举报内容").fill(
                "理论考试时考场监控未开启，监考人员中途离场，有考生使用手机查找答案。"
            )
            await page.get_by_label("您的称呼").fill("李女士")
            await page.get_by_label("联系电话").fill("13900001234")
            await page.get_by_label("证明材料").set_input_files(str(evidence))
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            await shot(page, "10-complaint-form")
            await page.get_by_role("button", name="提交投诉举报").click()
            receipt = page.locator("#complaint-receipt article")
            await expect(receipt).to_contain_text("受理编号")
            await expect(receipt).to_contain_text("办结期限")
            code = (await receipt.locator(".tracking-code").inner_text()).strip()
            assert re.fullmatch(TRACKING_CODE, code) and code.startswith("33-")
            [(body, _)] = supervision.received
            sent = json.loads(body)
            assert sent["attachments"] == [hashlib.sha256(evidence.read_bytes()).hexdigest()]  # the hash, not the file
            assert sent["contact"] == {"name": "李女士", "phone": "13900001234", "email": None}
            assert sent["organization_code"] == walk.organization_code and sent["anonymous"] is False
            await expect(page.get_by_label("联系电话")).to_have_value("")  # not left on a shared phone
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            await shot(page, "11-complaint-filed")

            # Another province without supervision here is told so; an anonymous complaint carries no contact.
            await expect(page.get_by_label("投诉举报内容")).to_be_hidden()  # the form is put away after filing
            await page.get_by_role("button", name="再提交一件投诉举报").click()
            await page.get_by_label("受理省份").select_option("32")
            await page.get_by_label("对象名称或编号").fill("张某（考评员）")
            await page.get_by_label("投诉举报对象").select_option("person")
            await page.get_by_label("投诉举报内容").fill("考评员张某同时担任该批次的培训教师，未回避。")
            await page.get_by_label("匿名投诉举报").check()
            await expect(page.get_by_label("联系电话")).to_be_hidden()
            await page.get_by_role("button", name="提交投诉举报").click()
            await expect(page.locator("#complaint-receipt")).to_contain_text("江苏暂未开通网上投诉举报")
            assert len(supervision.received) == 1

            # Zhejiang handles it; the complainant reads the status and the reply by the code.
            supervision.close(
                code, outcome="upheld", reply="经核查，投诉举报属实。已责令该机构限期整改，并记入信用档案。"
            )
            await page.get_by_label("受理编号", exact=True).fill(code.lower())
            await page.get_by_role("button", name="查询办理进度").click()
            status = page.locator(f'#complaint-status article[data-tracking="{code}"]')
            await expect(status).to_contain_text("已办结")
            await expect(status).to_contain_text("投诉举报属实")
            await expect(status).to_contain_text("已责令该机构限期整改")
            await page.get_by_label("受理编号", exact=True).fill("33-0000000000ZZ")
            await page.get_by_role("button", name="查询办理进度").click()
            await expect(page.locator("#complaint-status")).to_contain_text("未查到受理编号 33-0000000000ZZ")
            await page.get_by_label("受理编号", exact=True).fill(code)
            await page.get_by_role("button", name="查询办理进度").click()
            await expect(status).to_contain_text("已办结")
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            await shot(page, "12-complaint-status")
            await browser.close()
