"""Short videos as attachments: recognised by their first bytes, their own limit, played back."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.deps import AppContext
from api.routes.attachments import MAX_BYTES
from tests.api.conftest import Tokens, bearer
from tests.api.test_attachments import JPEG, _order, _upload

# the first box of each container as phones write them
MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(range(256)) * 8
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + bytes(range(256)) * 8
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01webm" + bytes(range(256)) * 8


@pytest.mark.parametrize(
    ("data", "name", "ctype"),
    [
        (MP4, "v.mp4", "video/mp4"),
        (MOV, "IMG_0001.MOV", "video/quicktime"),
        (WEBM, "v.webm", "video/webm"),
    ],
)
def test_a_video_is_stored_by_its_content_and_served_back_with_ranges(
    client: TestClient, tokens: Tokens, ctx: AppContext, data: bytes, name: str, ctype: str
) -> None:
    order = _order(client, tokens)
    # the client claims nothing useful: the type comes from the bytes
    r = _upload(client, tokens.technician, order["id"], data, name, "application/octet-stream")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["content_type"] == ctype and body["size"] == len(data)
    assert body["url"].endswith(
        "." + {"video/mp4": "mp4", "video/quicktime": "mov"}.get(ctype, "webm")
    )

    got = client.get(body["url"], headers=bearer(tokens.duty))
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == ctype
    # a phone's player asks for parts of the file
    part = client.get(body["url"], headers={**bearer(tokens.duty), "Range": "bytes=4-11"})
    assert part.status_code == 206 and part.content == data[4:12]

    listed = client.get(
        f"/api/v1/work-orders/{order['id']}/attachments", headers=bearer(tokens.duty)
    ).json()["items"]
    assert [(i["content_type"], i["size"]) for i in listed] == [(ctype, len(data))]


def test_a_video_may_be_larger_than_a_photo_up_to_its_own_limit(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    ctx.video_max_bytes = MAX_BYTES + 1024 * 1024
    order = _order(client, tokens)
    exactly = MP4 + b"\0" * (ctx.video_max_bytes - len(MP4))
    r = _upload(client, tokens.technician, order["id"], exactly, "v.mp4", "video/mp4")
    assert r.status_code == 201 and r.json()["size"] == ctx.video_max_bytes

    # a photo of the same size is still refused: the video limit is the video's only
    photo = JPEG + b"\0" * (MAX_BYTES - len(JPEG) + 1)
    assert _upload(client, tokens.technician, order["id"], photo).status_code == 413


def test_a_video_over_its_limit_is_413_and_nothing_is_kept(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    ctx.video_max_bytes = 1024 * 1024
    order = _order(client, tokens)
    over = WEBM + b"\0" * (ctx.video_max_bytes - len(WEBM) + 1)
    r = _upload(client, tokens.technician, order["id"], over, "v.webm", "video/webm")
    assert r.status_code == 413
    assert r.json()["code"] == "attachment_too_large"
    assert "视频超过 1 MB" in r.json()["detail"]
    folder = ctx.var_dir / "attachments" / "hexie" / str(order["id"])
    assert not folder.exists() or list(folder.iterdir()) == []
    detail = client.get(f"/api/v1/work-orders/{order['id']}", headers=bearer(tokens.duty)).json()
    assert all(t["to_status"] != "note" for t in detail["transitions"])


def test_bytes_that_only_look_like_a_box_are_refused(client: TestClient, tokens: Tokens) -> None:
    order = _order(client, tokens)
    r = _upload(
        client, tokens.technician, order["id"], b"\x00\x00\x00\x20ftyx" + b"\0" * 64, "v.mp4"
    )
    assert r.status_code == 415
    assert r.json()["code"] == "attachment_type"
