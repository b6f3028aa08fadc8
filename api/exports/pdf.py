"""PDF documents (服务报告, 二维码标签): reportlab with its built-in CJK font, and the answer
that carries one.

STSong-Light is one of the Adobe CID fonts every PDF reader has or substitutes (Acrobat, Chrome
and Firefox's viewers, pdfium, poppler): the PDF names it and embeds nothing, so a page of
Chinese stays a few kilobytes and no font file has to ship or be installed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi.responses import Response
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont

CJK = "STSong-Light"


def cjk_font() -> str:
    """The font name, registered with reportlab on first use."""
    if CJK not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK))
    return CJK


def fit(text: str, size: float, width: float) -> str:
    """`text` cut with an ellipsis to fit `width` points at `size`."""
    font = cjk_font()
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


PDF: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the PDF, inline, with a zh-CN file name",
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def pdf_response(body: bytes, stem: str, ascii_stem: str) -> Response:
    """A PDF shown in the browser (to print), saved under its zh-CN name."""
    disposition = f"inline; filename=\"{ascii_stem}.pdf\"; filename*=UTF-8''{quote(stem + '.pdf')}"
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )
