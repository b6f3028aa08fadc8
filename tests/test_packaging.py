"""What `pip install .` gives is enough to run every command, and the image installs the same.

Two ways, a fast one and a real one:
- every third-party module the shipped packages import is provided by the project's own
  dependencies (or what they pull in), read from the metadata of this venv: `httpx` listed only in
  `[dev]` failed here;
- the wheel (`pip wheel . --no-deps`) installed into a fresh venv with its dependencies from PyPI
  runs `check-config`, `db upgrade` and `demo` (gateway, maintenance, API, simulators and the
  embedded broker in one process) with real HTTP to `/healthz`. About a minute: marked
  `packaging`, so `-m "not packaging"` leaves it out of a quick local run; CI runs it.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import EXAMPLE_SITE, ROOT
from tests.deploy.files import dockerfile
from tests.stack import quick_site_copy
from tests.support.servers import free_port, wait_until

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PACKAGES = ("propwatch", "gateway", "maintenance", "api", "simulators")


def imported_modules() -> dict[str, str]:
    """Top-level third-party modules the shipped code imports, with one file importing each."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in PACKAGES:
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def closure(requirements: list[str]) -> set[str]:
    """Every distribution `requirements` install, following the installed metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            continue  # for another platform or Python; pip would not install it here either
        for text in dist.requires or []:
            sub = Requirement(text)
            extras = ["", *sorted(req.extras)]  # evaluate() fills in this interpreter's markers
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append(sub)
    return {name for name, _ in seen}


def test_every_module_the_code_imports_is_installed_by_the_dependencies() -> None:
    installed = closure(PROJECT["dependencies"])
    # the PostgreSQL driver comes with the `postgres` extra that a PostgreSQL URL needs; the code
    # may import it only on that path (api/outbox_feed.py's LISTEN), never at module level
    driver = closure(PROJECT["optional-dependencies"]["postgres"])
    provided = md.packages_distributions()
    modules = imported_modules()
    missing = {
        module: where
        for module, where in modules.items()
        if not any(canonicalize_name(d) in installed for d in provided.get(module, [module]))
        and not (module == "psycopg" and "psycopg" in driver)
    }
    assert missing == {}, "imported at run time but not a dependency of `pip install .`"


def _dockerfile_requirements(tmp_path: Path) -> list[str]:
    """What the build stage's one-liner feeds to pip, run against this pyproject.toml."""
    (run,) = [i for i in dockerfile() if i.keyword == "RUN" and "tomllib" in i.args]
    step = next(part for part in run.args.split("&&") if "tomllib" in part)
    argv = shlex.split(step)
    out = tmp_path / "requirements.txt"
    code = argv[argv.index("-c") + 1].replace("/tmp/requirements.txt", str(out))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)
    return out.read_text().splitlines()


# --- the wheel in a fresh venv ------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # from a copy of what the Dockerfile copies: a stale build/ of the checkout cannot leak in
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(src)],
        check=True,
        timeout=600,
    )
    (built,) = out.glob("propwatch-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv with nothing but the wheel and what it asks for, from PyPI."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", wheel],
        check=True,
        timeout=900,
    )
    yield venv
    shutil.rmtree(venv, ignore_errors=True)


def _metadata(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(z.read(name).decode())
    return message.get_all("Requires-Dist") or []


def _clean_env(var: Path, port: int) -> dict[str, str]:
    """Only what a fresh machine has: no PROPWATCH_* of the test run, no virtualenv of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROPWATCH_", "VIRTUAL_ENV"))}
    env.pop("PYTHONPATH", None)
    return env | {"PROPWATCH_VAR_DIR": str(var), "PROPWATCH_API_PORT": str(port)}


@pytest.mark.packaging
def test_the_image_installs_exactly_the_wheels_dependencies(wheel: Path, tmp_path: Path) -> None:
    """The Dockerfile reads pyproject.toml itself; this holds it to what the wheel declares,
    with the PostgreSQL driver the image adds (no Docker engine needed)."""
    declared = _metadata(wheel)
    plain = [r for r in declared if "extra ==" not in r]
    postgres = [r.split(";")[0].strip() for r in declared if 'extra == "postgres"' in r]
    wanted = sorted(str(Requirement(r)) for r in plain + postgres)
    assert sorted(str(Requirement(r)) for r in _dockerfile_requirements(tmp_path)) == wanted
    assert any(Requirement(r).name == "httpx" for r in plain)


@pytest.mark.packaging
def test_the_wheel_in_a_fresh_venv_runs_every_command(fresh_venv: Path, tmp_path: Path) -> None:
    propwatch = str(fresh_venv / "bin" / "propwatch")
    env = _clean_env(tmp_path / "var", free_port())

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        # from elsewhere, so nothing of the checkout can be imported by accident
        return subprocess.run(
            argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
        )

    where = run(str(fresh_venv / "bin" / "python"), "-c", "import api; print(api.__file__)")
    assert where.stdout.startswith(str(fresh_venv)), where.stdout + where.stderr
    check = run(propwatch, "check-config", "--site", str(EXAMPLE_SITE))
    assert check.returncode == 0, check.stderr
    upgrade = run(propwatch, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert "is at migration" in upgrade.stdout

    site = quick_site_copy(tmp_path)  # the devices on free ports
    log = tmp_path / "demo.out"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [propwatch, "demo", "--site", str(site)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    health = f"http://127.0.0.1:{env['PROPWATCH_API_PORT']}/healthz"
    try:
        wait_until(lambda: _answers(health) or demo.poll() is not None, 120, "the demo's API")
        assert demo.poll() is None, log.read_text()
        with urllib.request.urlopen(health, timeout=5) as answer:
            assert answer.status == 200
    finally:
        demo.terminate()
        demo.wait(60)
    assert demo.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@pytest.mark.packaging
def test_the_wheel_ships_the_vendored_browser_libraries_with_their_licences(wheel: Path) -> None:
    vendor = ROOT / "api" / "static" / "vendor"
    wanted = {
        f"api/static/vendor/{p.relative_to(vendor)}" for p in vendor.rglob("*") if p.is_file()
    }
    with zipfile.ZipFile(wheel) as z:
        shipped = set(z.namelist())
    assert {"api/static/vendor/swagger-ui/LICENSE", "api/static/vendor/redoc/LICENSE"} <= wanted
    assert wanted - shipped == set()
