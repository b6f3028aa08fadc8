"""二维码标签: an A4 sheet of QR labels to cut out and stick on assets, buildings and places.

Each label has the QR code (the `qrcode` library, error correction M: it still scans when a
corner is scratched), the name, where it is, and what scanning does (扫码报修 / 巡更签到).
Twelve to a page (3 x 4 labels of 70 x 74 mm), with cut lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

import qrcode
import qrcode.constants
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from api.exports.pdf import cjk_font, fit

COLUMNS, ROWS = 3, 4
QR_SIZE = 46 * mm


@dataclass(frozen=True)
class Label:
    url: str
    name: str
    location: str
    instruction: str  # 扫码报修 / 巡更签到


def _qr_image(url: str) -> ImageReader:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    code.add_data(url)
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white").get_image()
    out = BytesIO()
    image.save(out, format="PNG")
    out.seek(0)
    return ImageReader(out)


def label_sheet(title: str, labels: list[Label]) -> bytes:
    """The PDF: `labels` in reading order, `title` (the site's name) on each label's foot."""
    font = cjk_font()
    out = BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"{title} 二维码标签")
    page_w, page_h = A4
    cell_w, cell_h = page_w / COLUMNS, page_h / ROWS
    per_page = COLUMNS * ROWS
    for i, label in enumerate(labels):
        if i and i % per_page == 0:
            canvas.showPage()
        slot = i % per_page
        x = (slot % COLUMNS) * cell_w
        y = page_h - (slot // COLUMNS + 1) * cell_h
        canvas.setDash(2, 3)
        canvas.setLineWidth(0.3)
        canvas.rect(x, y, cell_w, cell_h)
        canvas.setDash()
        centre = x + cell_w / 2
        canvas.setFont(font, 14)
        canvas.drawCentredString(centre, y + cell_h - 10 * mm, label.instruction)
        canvas.drawImage(_qr_image(label.url), centre - QR_SIZE / 2, y + 19 * mm, QR_SIZE, QR_SIZE)
        width = cell_w - 8 * mm
        canvas.setFont(font, 11)
        canvas.drawCentredString(centre, y + 13 * mm, fit(label.name, 11, width))
        canvas.setFont(font, 8)
        canvas.drawCentredString(centre, y + 8.5 * mm, fit(label.location, 8, width))
        canvas.drawCentredString(centre, y + 4.5 * mm, fit(title, 8, width))
    if not labels:
        canvas.setFont(font, 12)
        canvas.drawString(20 * mm, page_h - 30 * mm, "没有可打印的标签")
    canvas.save()
    return out.getvalue()
