"""Photo and document upload on work orders: limits, who may upload and fetch, the reference."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.deps import AppContext
from api.routes.attachments import MAX_BYTES
from tests.api.conftest import Tokens, bearer

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"


def _order(client: TestClient, tokens: Tokens, assignee: str = "wang-gong") -> dict[str, Any]:
    r = client.post(
        "/api/v1/work-orders",
        json={
            "site_id": "hexie",
            "title": "1号水泵异响",
            "category": "water_supply",
            "assignee": assignee,
        },
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 201
    return dict(r.json())


def _upload(
    client: TestClient,
    token: str,
    order_id: int,
    data: bytes,
    name: str = "p.jpg",
    ctype: str = "image/jpeg",
    note: str | None = None,
) -> Any:
    form = {"note": note} if note is not None else {}
    return client.post(
        f"/api/v1/work-orders/{order_id}/attachments",
        files={"file": (name, data, ctype)},
        data=form,
        headers=bearer(token),
    )


def test_an_upload_is_stored_and_recorded_as_a_note_with_its_reference(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    order = _order(client, tokens)
    r = _upload(client, tokens.technician, order["id"], JPEG, note="叶轮磨损")
    assert r.status_code == 201
    body = r.json()
    assert body["content_type"] == "image/jpeg" and body["size"] == len(JPEG)
    assert r.headers["location"] == body["url"]

    detail = client.get(f"/api/v1/work-orders/{order['id']}", headers=bearer(tokens.duty)).json()
    step = detail["transitions"][-1]
    assert (step["to_status"], step["actor"], step["note"]) == ("note", "wang-gong", "叶轮磨损")
    assert step["attachments"] == [body["ref"]]
    name = body["ref"].rsplit("/", 1)[1]
    stored = ctx.var_dir / "attachments" / "hexie" / str(order["id"]) / name
    assert stored.read_bytes() == JPEG
    assert [p.name for p in stored.parent.iterdir()] == [name]  # no partial file left behind


def test_an_upload_without_a_caption_names_the_file(client: TestClient, tokens: Tokens) -> None:
    order = _order(client, tokens)
    assert (
        _upload(client, tokens.duty, order["id"], PDF, "验收单.pdf", "application/pdf").status_code
        == 201
    )
    detail = client.get(f"/api/v1/work-orders/{order['id']}", headers=bearer(tokens.duty)).json()
    assert detail["transitions"][-1]["note"] == "上传附件 验收单.pdf"


def test_the_reference_can_go_on_a_later_transition(client: TestClient, tokens: Tokens) -> None:
    order = _order(client, tokens)
    ref = _upload(client, tokens.technician, order["id"], JPEG).json()["ref"]
    r = client.post(
        f"/api/v1/work-orders/{order['id']}/transitions",
        json={"to": "accepted", "attachments": [ref]},
        headers=bearer(tokens.technician),
    )
    assert r.status_code == 200
    assert r.json()["transitions"][-1]["attachments"] == [ref]


def test_the_type_is_judged_by_content_not_by_the_declared_type(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    order = _order(client, tokens)
    r = _upload(client, tokens.technician, order["id"], b"<script>alert(1)</script>", "x.jpg")
    assert r.status_code == 415
    assert r.json()["code"] == "attachment_type"
    assert r.headers["content-type"] == "application/problem+json"
    assert not (ctx.var_dir / "attachments").exists() or not any(
        (ctx.var_dir / "attachments").rglob("*.*")
    )


def test_a_file_over_the_limit_is_refused_and_not_kept(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    order = _order(client, tokens)
    one_byte_over = JPEG + b"\0" * (MAX_BYTES - len(JPEG) + 1)
    r = _upload(client, tokens.technician, order["id"], one_byte_over)
    assert r.status_code == 413
    assert r.json()["code"] == "attachment_too_large"
    folder = ctx.var_dir / "attachments" / "hexie" / str(order["id"])
    assert not folder.exists() or list(folder.iterdir()) == []
    detail = client.get(f"/api/v1/work-orders/{order['id']}", headers=bearer(tokens.duty)).json()
    assert all(t["to_status"] != "note" for t in detail["transitions"])


def test_a_file_of_exactly_the_limit_is_accepted(client: TestClient, tokens: Tokens) -> None:
    order = _order(client, tokens)
    data = JPEG + b"\0" * (MAX_BYTES - len(JPEG))
    assert _upload(client, tokens.technician, order["id"], data).json()["size"] == MAX_BYTES


def test_only_tokens_that_may_see_the_order_upload_or_fetch(
    client: TestClient, tokens: Tokens
) -> None:
    order = _order(client, tokens)
    assert _upload(client, tokens.other_technician, order["id"], JPEG).status_code == 403
    assert _upload(client, tokens.other_site, order["id"], JPEG).status_code == 403
    url = _upload(client, tokens.technician, order["id"], JPEG).json()["url"]

    got = client.get(url, headers=bearer(tokens.technician))
    assert got.status_code == 200 and got.content == JPEG
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert client.get(url, headers=bearer(tokens.duty)).status_code == 200
    assert client.get(url, headers=bearer(tokens.other_technician)).status_code == 403
    assert client.get(url, headers=bearer(tokens.other_site)).status_code == 403
    assert client.get(url).status_code == 401


def test_a_name_that_was_never_issued_is_not_found(client: TestClient, tokens: Tokens) -> None:
    order = _order(client, tokens)
    base = f"/api/v1/work-orders/{order['id']}/attachments"
    for name in ("..%2F..%2Fapi.db", "0123456789abcdef0123456789abcdef.jpg", "x.png"):
        assert client.get(f"{base}/{name}", headers=bearer(tokens.duty)).status_code == 404


def test_storage_that_cannot_be_written_is_a_clear_507_and_records_nothing(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    order = _order(client, tokens)
    ctx.var_dir.mkdir(parents=True, exist_ok=True)
    (ctx.var_dir / "attachments").write_bytes(b"")  # a file where the folder should be

    r = _upload(client, tokens.technician, order["id"], JPEG)

    assert r.status_code == 507
    assert r.json()["code"] == "attachment_storage"
    detail = client.get(f"/api/v1/work-orders/{order['id']}", headers=bearer(tokens.duty)).json()
    assert all(t["to_status"] != "note" for t in detail["transitions"])
