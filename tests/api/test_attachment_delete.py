"""Attachment list and delete: what is listed, who may delete, what the audit keeps, and a
deletion the disk refuses; SQLite and PostgreSQL, with files on a real directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.deps import AppContext
from api.models import AuditEntry
from maintenance.notifications import Notification, event_type
from propwatch.site import Site
from tests.api import integration
from tests.api.conftest import Tokens, bearer
from tests.api.integration import create_order

db, migrated_template, example_site = (
    integration.db,
    integration.migrated_template,
    integration.example_site,
)

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"


def _upload(client: TestClient, token: str, order_id: int, data: bytes, name: str) -> Any:
    ctype = "application/pdf" if name.endswith(".pdf") else "image/jpeg"
    r = client.post(
        f"/api/v1/work-orders/{order_id}/attachments",
        files={"file": (name, data, ctype)},
        headers=bearer(token),
    )
    assert r.status_code == 201, r.text
    return r.json()


def _listed(client: TestClient, token: str, order_id: int) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/work-orders/{order_id}/attachments", headers=bearer(token))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _file(ctx: AppContext, site: Site, order_id: int, url: str) -> Path:
    return ctx.var_dir / "attachments" / site.id / str(order_id) / url.rsplit("/", 1)[1]


def test_the_list_holds_every_upload_with_its_size_type_and_uploader(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.duty, example_site, assignee="wang-gong")
    photo = _upload(client, tokens.technician, made["id"], JPEG, "before.jpg")
    report = _upload(client, tokens.duty, made["id"], PDF, "report.pdf")
    # a reference to a file elsewhere, given in a comment, is not an upload of this order
    client.post(
        f"/api/v1/work-orders/{made['id']}/comments",
        json={"text": "见上次照片", "attachments": [photo["ref"], "photos/elsewhere.jpg"]},
        headers=bearer(tokens.duty),
    )
    listed = _listed(client, tokens.integration, made["id"])
    assert [
        (a["ref"], a["url"], a["content_type"], a["size"], a["uploaded_by"]) for a in listed
    ] == [
        (photo["ref"], photo["url"], "image/jpeg", len(JPEG), "wang-gong"),
        (report["ref"], report["url"], "application/pdf", len(PDF), "duty"),
    ]
    got = client.get(listed[0]["url"], headers=bearer(tokens.integration))
    assert got.content == JPEG


def test_a_deleted_attachment_is_gone_from_disk_and_list_and_its_history_kept(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.duty, example_site, assignee="wang-gong")
    photo = _upload(client, tokens.technician, made["id"], JPEG, "face.jpg")
    path = _file(ctx, example_site, made["id"], photo["url"])
    assert path.is_file()
    r = client.delete(photo["url"], headers=bearer(tokens.duty))
    assert r.status_code == 204, r.text
    assert not path.exists()
    assert _listed(client, tokens.duty, made["id"]) == []
    gone = client.get(photo["url"], headers=bearer(tokens.duty))
    assert gone.status_code == 410
    assert gone.json()["code"] == "attachment_deleted"
    assert client.delete(photo["url"], headers=bearer(tokens.duty)).status_code == 410
    detail = client.get(f"/api/v1/work-orders/{made['id']}", headers=bearer(tokens.duty)).json()
    step = detail["transitions"][-1]
    assert (step["to_status"], step["actor"], step["attachments"]) == (
        "file_deleted",
        "duty",
        [photo["ref"]],
    )
    assert "wang-gong" in step["note"] and photo["ref"].rsplit("/", 1)[1] in step["note"]
    # the upload's comment keeps its text and reference
    comments = client.get(
        f"/api/v1/work-orders/{made['id']}/comments", headers=bearer(tokens.duty)
    ).json()["items"]
    assert [c["attachments"] for c in comments] == [[photo["ref"]]]
    with ctx.db.session() as s:
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.method == "DELETE").order_by(AuditEntry.id)
        ).one()
        assert entry.actor == "duty"
        assert entry.detail["attachment"] == photo["ref"]
        assert entry.detail["uploaded_by"] == "wang-gong"
        assert entry.detail["size"] == len(JPEG)
        told = s.scalars(
            select(Notification).where(Notification.topic == "work_order.attachment_deleted")
        ).one()
        assert event_type(told.topic) == "work_order.changed"
        assert json.loads(json.dumps(told.payload))["attachment"] == photo["ref"]


def test_a_technician_deletes_only_their_own_uploads(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.duty, example_site, assignee="wang-gong")
    own = _upload(client, tokens.technician, made["id"], JPEG, "mine.jpg")
    dutys = _upload(client, tokens.duty, made["id"], JPEG, "duty.jpg")
    refused = client.delete(dutys["url"], headers=bearer(tokens.technician))
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_your_attachment"
    assert client.delete(own["url"], headers=bearer(tokens.technician)).status_code == 204
    assert client.delete(dutys["url"], headers=bearer(tokens.integration)).status_code == 204
    assert _listed(client, tokens.duty, made["id"]) == []


def test_deleting_an_unknown_attachment_is_404(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.duty, example_site)
    for name in ("0123456789abcdef0123456789abcdef.jpg", "..%2Fsecrets.jpg", "x.exe"):
        r = client.delete(
            f"/api/v1/work-orders/{made['id']}/attachments/{name}", headers=bearer(tokens.duty)
        )
        assert r.status_code == 404, name


def test_a_deletion_the_disk_refuses_is_kept_answered_507_and_finished_by_a_repeat(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.duty, example_site, assignee="wang-gong")
    photo = _upload(client, tokens.technician, made["id"], JPEG, "p.jpg")
    path = _file(ctx, example_site, made["id"], photo["url"])
    # a name the disk cannot unlink as a file (a directory in its place): a real OSError
    path.unlink()
    path.mkdir()
    (path / "inside").write_bytes(b"x")
    r = client.delete(photo["url"], headers=bearer(tokens.duty))
    assert r.status_code == 507
    assert r.json()["code"] == "attachment_storage"
    assert client.get(photo["url"], headers=bearer(tokens.duty)).status_code == 410
    (path / "inside").unlink()
    path.rmdir()
    path.write_bytes(JPEG)  # the file outlived its recorded deletion
    assert client.get(photo["url"], headers=bearer(tokens.duty)).status_code == 410
    assert client.delete(photo["url"], headers=bearer(tokens.duty)).status_code == 204
    assert not path.exists()
    detail = client.get(f"/api/v1/work-orders/{made['id']}", headers=bearer(tokens.duty)).json()
    assert [t["to_status"] for t in detail["transitions"]].count("file_deleted") == 1
