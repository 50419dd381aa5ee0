"""The public web page on a phone-sized headless Chromium (Debian's package, driven by Playwright): lookups,
verifying an uploaded electronic certificate, the catalogue, the plans and supervision's published results,
plans and draws. Screenshots go to test-output/query-page/."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import shutil
from collections.abc import AsyncIterator
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
from shared.kernel.events import DrawnTarget, Envelope, InspectionFinding, contract_for
from tests.harness import Environment, province_services, query_app, serve
from tests.service import samples

pytestmark = pytest.mark.kafka
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "query-page"


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
    """What Zhejiang's supervision publishes of a batch's inspection (一公开): the plan that drew it, the draw and
    the sealed record, sent on supervision's topics as its relay would. The plan's id."""
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
    producer = AIOKafkaProducer(bootstrap_servers=env.kafka_bootstrap)
    await producer.start()
    try:
        for payload in (plan, draw, recorded):
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
    async with (
        listening(query_app(env)) as site,
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
            await page.get_by_role("button", name="按姓名和证件号码查询").click()
            await expect(page.locator("#lookup-results")).to_contain_text("共查到 1 本证书")
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
                return inspections == 1 and len(plans) == 1 and plans[0]["drawn"]

            await eventually(published, what="the inspection, its plan and the draw in the public lookup")
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
            await shot(page, "9-organization-inspected")
            await browser.close()
