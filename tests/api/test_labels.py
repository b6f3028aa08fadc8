"""二维码标签: the PDF's QR codes, rendered and decoded again (pdfium, zxing-cpp), hold exactly the
agreed links (`/report?site=&asset=`, `&building=`, `&place=`; `/patrol?site=&point=`), one label
per thing, under the configured public address; with the names printed beside them."""

from __future__ import annotations

from urllib.parse import quote

import pypdfium2 as pdfium
import pytest
import zxingcpp
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.deps import AppContext
from api.exports.label_sheet import Label, label_sheet
from propwatch.settings import Settings
from propwatch.site import Site
from tests.api.conftest import Tokens, bearer

BASE = "https://wuye.example.com/pw"


def _decoded(pdf: bytes) -> tuple[list[str], str]:
    """Every QR code's text over all pages (in page order), and the pages' text."""
    texts, words = [], []
    for page in pdfium.PdfDocument(pdf):
        image = page.render(scale=2).to_pil()
        texts += [r.text for r in zxingcpp.read_barcodes(image) if r.format.name == "QRCode"]
        words.append(page.get_textpage().get_text_range())
    return texts, "\n".join(words)


def _labels(client: TestClient, token: str, site: Site, **params: str) -> bytes:
    r = client.get(f"/api/v1/sites/{site.id}/labels.pdf", params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    return r.content


def test_asset_report_labels_open_the_scan_page(
    ctx: AppContext, client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    ctx.public_base_url = BASE + "/"
    texts, words = _decoded(_labels(client, tokens.duty, example_site, kind="asset"))
    assets = example_site.spec.assets
    assert sorted(texts) == sorted(f"{BASE}/report?site=hexie&asset={a.id}" for a in assets)
    assert words.count("扫码报修") == len(assets)
    for a in assets:
        assert a.name in words
    assert "和谐花园" in words


def test_building_and_place_labels(
    ctx: AppContext, client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    ctx.public_base_url = BASE
    buildings = [b for z in example_site.spec.zones for b in z.buildings]
    texts, words = _decoded(_labels(client, tokens.duty, example_site, kind="building"))
    assert sorted(texts) == sorted(
        f"{BASE}/report?site=hexie&building={quote(b)}" for b in buildings
    )
    assert "1栋" in words and "A区" in words
    places = example_site.spec.quality.places
    texts, _ = _decoded(_labels(client, tokens.duty, example_site, kind="place"))
    assert sorted(texts) == sorted(f"{BASE}/report?site=hexie&place={p.id}" for p in places)


def test_patrol_labels_name_the_point(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    """Without a public address the links start with the address the sheet was asked at."""
    spec = example_site.spec
    texts, words = _decoded(
        _labels(client, tokens.duty, example_site, kind="place", purpose="patrol")
    )
    base = "http://testserver"
    assert sorted(texts) == sorted(
        f"{base}/patrol?site=hexie&point={p.id}" for p in spec.quality.places
    )
    assert words.count("巡更签到") == len(spec.quality.places)
    texts, _ = _decoded(_labels(client, tokens.duty, example_site, kind="asset", purpose="patrol"))
    assert sorted(texts) == sorted(f"{base}/patrol?site=hexie&point={a.id}" for a in spec.assets)


def test_a_zones_labels_only(
    ctx: AppContext, client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    ctx.public_base_url = BASE
    spec = example_site.spec
    texts, words = _decoded(_labels(client, tokens.duty, example_site, kind="asset", zone="zone-b"))
    mine = [a for a in spec.assets if a.zone == "zone-b"]
    assert mine and len(mine) < len(spec.assets)
    assert sorted(texts) == sorted(f"{BASE}/report?site=hexie&asset={a.id}" for a in mine)
    assert all(a.name in words for a in mine)
    assert not any(a.name in words for a in spec.assets if a.zone != "zone-b")
    texts, _ = _decoded(_labels(client, tokens.duty, example_site, kind="building", zone="zone-a"))
    assert sorted(texts) == sorted(
        f"{BASE}/report?site=hexie&building={quote(b)}" for b in spec.zone("zone-a").buildings
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "building", "purpose": "patrol"}, "kind"),
        ({"kind": "flat"}, "kind"),
        ({"kind": "asset", "purpose": "visit"}, "purpose"),
        ({}, "kind"),
        ({"kind": "asset", "zone": "zone-z"}, "zone"),
    ],
)
def test_labels_refuse_what_no_label_is(
    client: TestClient, tokens: Tokens, example_site: Site, params: dict[str, str], field: str
) -> None:
    r = client.get(
        f"/api/v1/sites/{example_site.id}/labels.pdf", params=params, headers=bearer(tokens.duty)
    )
    assert r.status_code == 422
    assert [e["loc"][-1] for e in r.json()["errors"]] == [field]


@pytest.mark.parametrize(
    "url",
    ["wuye.example.com", "ftp://wuye.example.com", "https://wuye.example.com/a b", "https://"],
)
def test_a_public_base_url_that_is_no_web_address_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="public_base_url"):
        Settings(public_base_url=url)


def test_a_public_base_url_with_a_path_is_kept() -> None:
    assert Settings(public_base_url=BASE).public_base_url == BASE


def test_a_sheet_of_many_labels_runs_over_pages() -> None:
    urls = [f"{BASE}/report?site=hexie&asset=lamp-{i:02d}" for i in range(27)]
    pdf = label_sheet(
        "和谐花园",
        [Label(u, f"庭院灯 {i}", "B区 中心花园", "扫码报修") for i, u in enumerate(urls)],
    )
    assert len(pdfium.PdfDocument(pdf)) == 3  # twelve a page
    texts, _ = _decoded(pdf)
    assert texts and sorted(texts) == sorted(urls)
