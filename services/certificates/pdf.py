"""The certificate on A4 (人社鉴发〔2021〕1号 fields), with a QR code to the public lookup of its number.

Rendered the same way every time: reportlab's invariant mode fixes the document id and dates, the QR code
is drawn module by module, and Chinese comes from reportlab's built-in CID font (no font files to ship).
"""

from __future__ import annotations

import io
from datetime import date

import segno
from reportlab.lib.colors import HexColor, black
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from .models import Certificate

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
RED = HexColor("#B22222")


def qr_modules(url: str) -> list[list[bool]]:
    """The QR code's dark modules (no quiet zone), medium error correction."""
    return [[bool(module) for module in row] for row in segno.make(url, error="m").matrix_iter(border=0)]


def render(certificate: Certificate, *, revoked_on: date | None = None) -> bytes:
    claims = certificate.claims
    buffer = io.BytesIO()
    page = Canvas(buffer, pagesize=A4, invariant=True, pageCompression=True)
    page.setTitle(f"{claims['title']} {certificate.number}")
    page.setAuthor(claims["organizationName"])
    width, height = A4

    page.setLineWidth(2)
    page.setStrokeColor(RED)
    page.rect(12 * mm, 12 * mm, width - 24 * mm, height - 24 * mm)
    page.setFillColor(black)
    page.setFont(FONT, 30)
    page.drawCentredString(width / 2, height - 45 * mm, claims["title"])

    photo_x, photo_y, photo_w, photo_h = width - 60 * mm, height - 110 * mm, 35 * mm, 45 * mm
    page.setLineWidth(0.5)
    page.setStrokeColor(black)
    page.rect(photo_x, photo_y, photo_w, photo_h)
    if certificate.photo:
        page.drawImage(
            ImageReader(io.BytesIO(certificate.photo)),
            photo_x,
            photo_y,
            photo_w,
            photo_h,
            preserveAspectRatio=True,
            anchor="c",
        )
    else:
        page.setFont(FONT, 10)
        page.drawCentredString(photo_x + photo_w / 2, photo_y + photo_h / 2, "照片")

    rows = [
        ("姓　　名", claims["holderName"]),
        ("证件类型", claims["idType"]),
        ("证件号码", claims["idNumber"]),
        ("职业名称", f"{claims['occupationName']}（{claims['occupationCode']}）"),
        ("工种/职业方向", claims["workType"]),
        ("职业技能等级", claims["levelTitle"]),
        ("证书编号", certificate.number),
        ("发证日期", _chinese_date(date.fromisoformat(claims["issuedOn"]))),
    ]
    y = height - 70 * mm
    for label, value in rows:
        page.setFont(FONT, 12)
        page.drawString(28 * mm, y, label)
        page.drawString(62 * mm, y, str(value))
        y -= 11 * mm

    page.setFont(FONT, 12)
    page.drawString(28 * mm, y - 4 * mm, claims["body"])
    page.drawString(28 * mm, y - 22 * mm, f"评价机构：{claims['organizationName']}")
    page.drawString(28 * mm, y - 31 * mm, f"机构备案编码：{claims['organizationCode']}")

    size = 38 * mm
    modules = qr_modules(claims["lookupUrl"])
    cell = size / len(modules)
    left, top = width - 28 * mm - size, 62 * mm + size
    for r, row in enumerate(modules):
        for c, dark in enumerate(row):
            if dark:
                page.rect(left + c * cell, top - (r + 1) * cell, cell, cell, stroke=0, fill=1)
    page.setFont(FONT, 8)
    page.drawString(28 * mm, 52 * mm, f"证书查询：{claims['lookupUrl']}")
    page.drawString(28 * mm, 46 * mm, f"机构查询：{claims['organizationLookupUrl']}")
    page.drawString(28 * mm, 40 * mm, "纸质证书与电子证书具有同等效力。扫描二维码可查询本证书。")

    if revoked_on is not None:
        page.saveState()
        page.setFillColor(RED)
        page.setFont(FONT, 40)
        page.translate(width / 2, height / 2)
        page.rotate(30)
        page.drawCentredString(0, 0, f"已撤销 {revoked_on.isoformat()}")
        page.restoreState()
    page.showPage()
    page.save()
    return buffer.getvalue()


def _chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"
