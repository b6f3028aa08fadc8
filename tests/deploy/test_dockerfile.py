"""The multi-stage Dockerfile, checked statically; built and run with PROPWATCH_DOCKER=1 where
a Docker engine runs (left out of the run elsewhere). The wheel's dependencies against the
image's: see tests/test_packaging.py."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest

from propwatch.cli import build_parser
from tests.deploy.files import ROOT, Instruction, dockerfile, dockerignore_includes, exec_form
from tests.support.servers import free_port, wait_until


def _stages() -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for ins in dockerfile():
        if ins.keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def _final(keyword: str) -> Instruction:
    found = [i for i in _stages()[-1] if i.keyword == keyword]
    assert found, f"the runtime stage has no {keyword}"
    return found[-1]


def test_image_is_built_in_stages_and_runtime_copies_only_the_virtualenv() -> None:
    stages = _stages()
    assert len(stages) >= 2
    assert any(
        i.keyword == "COPY" and i.args.startswith("--from=build /opt/venv") for i in stages[-1]
    )
    assert not any(
        i.keyword == "COPY" and i.args.split()[0] in ("propwatch", ".") for i in stages[-1]
    )


def test_runtime_runs_as_an_unprivileged_user() -> None:
    user = _final("USER").args.split(":")[0]
    assert user not in ("root", "0")


def test_health_check_runs_the_shipped_script() -> None:
    health = _final("HEALTHCHECK").args
    cmd = exec_form(health.split("CMD", 1)[1].strip())
    assert cmd[-1] == "/opt/propwatch/healthcheck.py"
    copies = [i.args.split() for i in _stages()[-1] if i.keyword == "COPY"]
    assert ["deploy/healthcheck.py", "/opt/propwatch/healthcheck.py"] in copies


def test_default_command_is_a_real_cli_invocation_of_a_shipped_site_file() -> None:
    entry = exec_form(_final("ENTRYPOINT").args)
    cmd = exec_form(_final("CMD").args)
    assert entry == ["propwatch"]
    args = build_parser().parse_args(cmd)
    assert args.command == "api"
    copies = [i.args.split() for i in _stages()[-1] if i.keyword == "COPY"]
    site_dir = next(c[-2] for c in copies if c[-1] == str(args.site.parent))
    assert (ROOT / site_dir / args.site.name).is_file()


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    for ins in dockerfile():
        if ins.keyword != "COPY" or ins.args.startswith("--from"):
            continue
        *sources, _dest = ins.args.split()
        for src in sources:
            assert (ROOT / src).exists(), f"Dockerfile:{ins.line}: {src} does not exist"
            assert dockerignore_includes(src), f"Dockerfile:{ins.line}: .dockerignore drops {src}"


def test_build_stage_copies_every_installed_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {i.args.split()[0] for i in _stages()[0] if i.keyword == "COPY"}
    assert packages <= copied


def test_build_context_leaves_out_local_state() -> None:
    for path in (".venv/bin/python", "var/propwatch.db", ".git/HEAD", "tests/conftest.py"):
        assert not dockerignore_includes(path), path
    assert not dockerignore_includes("propwatch/__pycache__/cli.cpython-311.pyc")


def test_dependency_step_lists_the_project_and_postgres_requirements(tmp_path: Path) -> None:
    """Runs the build stage's requirements one-liner against this pyproject.toml."""
    (run,) = [i for i in _stages()[0] if i.keyword == "RUN" and "tomllib" in i.args]
    step = next(part for part in run.args.split("&&") if "tomllib" in part)
    argv = shlex.split(step)
    code = argv[argv.index("-c") + 1].replace("/tmp/requirements.txt", str(tmp_path / "req.txt"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)
    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = wanted["dependencies"] + wanted["optional-dependencies"]["postgres"]
    assert (tmp_path / "req.txt").read_text().splitlines() == expected


def _docker_engine() -> str:
    """The docker client of an engine that answers; asked for and missing is a failure (the
    static checks above and tests/test_packaging.py stand in for the build elsewhere)."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.fail("PROPWATCH_DOCKER=1 but there is no docker client")
    info = subprocess.run([docker, "info"], capture_output=True, timeout=30, check=False)
    if info.returncode != 0:
        pytest.fail("PROPWATCH_DOCKER=1 but no Docker engine answers")
    return docker


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@pytest.mark.docker
def test_the_image_builds_checks_the_site_and_serves_the_api() -> None:
    docker = _docker_engine()
    tag = f"propwatch-test:{os.getpid()}"
    subprocess.run([docker, "build", "--quiet", "-t", tag, str(ROOT)], check=True, timeout=1800)
    container = ""
    try:
        check = subprocess.run(
            [docker, "run", "--rm", tag, "check-config", "--site", "/etc/propwatch/site/site.yaml"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert check.returncode == 0, check.stderr
        port = free_port()
        container = subprocess.run(
            [docker, "run", "-d", "-p", f"127.0.0.1:{port}:8000", tag],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.strip()
        wait_until(lambda: _healthy(f"http://127.0.0.1:{port}/healthz"), 120, "the image's API")
        logs = subprocess.run(
            [docker, "logs", container], capture_output=True, text=True, timeout=60, check=False
        )
        assert "Traceback" not in logs.stdout + logs.stderr
    finally:
        if container:
            subprocess.run([docker, "rm", "-f", container], capture_output=True, check=False)
        subprocess.run([docker, "rmi", "-f", tag], capture_output=True, check=False)
