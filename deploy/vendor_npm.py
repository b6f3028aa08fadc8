"""Copy the browser libraries the pages use from npm into `api/static/vendor/`, licences included.

The pages run on intranet boxes with no way out, so nothing they load may come from a CDN: the
files are committed under `api/static/vendor/<name>/` and shipped as package data. This script
is how they get there and how they are upgraded (`python deploy/vendor_npm.py`, needs `npm`):
each package is fetched with `npm pack` at the pinned version, the listed files and every licence
file are copied, and a `VERSION` file records the package and its integrity hash.

A file may be patched on the way in, where a library reaches for a host of its own (ReDoc's
sidebar logo); each patch must apply exactly once, so an upgrade that moves it fails loudly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "api" / "static" / "vendor"
LICENCES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "NOTICE")


@dataclass(frozen=True)
class Vendored:
    name: str  # the folder under api/static/vendor/
    package: str  # npm spec, pinned
    files: tuple[str, ...]  # paths inside the package
    patches: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)


PACKAGES = (
    Vendored(
        "swagger-ui",
        "swagger-ui-dist@5.35.0",
        (
            "swagger-ui-bundle.js",
            "swagger-ui-bundle.js.LICENSE.txt",
            "swagger-ui.css",
            "favicon-32x32.png",
        ),
    ),
    Vendored(
        "redoc",
        "redoc@2.5.2",  # FastAPI's get_redoc_html is written for ReDoc 2 (`<redoc spec-url>`)
        ("bundles/redoc.standalone.js", "bundles/redoc.standalone.js.LICENSE.txt"),
        {
            # the "API docs by Redocly" logo is an <img> from cdn.redoc.ly; an empty data URL
            # fails to decode, and the component's onError hides the image
            "redoc.standalone.js": (('"https://cdn.redoc.ly/redoc/logo-mini.svg"', '"data:,"'),),
        },
    ),
    # the device view's trend chart (设备详情): 50 KB, canvas, no dependencies
    Vendored("uplot", "uplot@1.6.32", ("dist/uPlot.iife.min.js", "dist/uPlot.min.css")),
)


def vendor(item: Vendored, work: Path) -> None:
    out = subprocess.run(
        ["npm", "pack", "--json", item.package],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    )
    packed = json.loads(out.stdout)[0]
    with tarfile.open(work / packed["filename"]) as tar:
        tar.extractall(work / item.name, filter="data")
    root = work / item.name / "package"
    target = VENDOR / item.name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    wanted = [*item.files, *(n for n in LICENCES if (root / n).exists())]
    for name in wanted:
        dest = target / Path(name).name
        shutil.copyfile(root / name, dest)
        for old, new in item.patches.get(dest.name, ()):
            text = dest.read_text(encoding="utf-8")
            if text.count(old) != 1:
                sys.exit(f"{item.package}: {dest.name} holds {old} {text.count(old)} times")
            dest.write_text(text.replace(old, new), encoding="utf-8")
    (target / "VERSION").write_text(
        f"{packed['name']}@{packed['version']}\n{packed['integrity']}\n"
        + "".join(
            f"patched {f}: {old} -> {new}\n" for f, p in item.patches.items() for old, new in p
        ),
        encoding="utf-8",
    )
    print(f"{item.package} -> {target.relative_to(VENDOR.parent.parent.parent)}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="propwatch-vendor-") as work:
        for item in PACKAGES:
            vendor(item, Path(work))


if __name__ == "__main__":
    main()
