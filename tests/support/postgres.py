"""A throwaway PostgreSQL cluster for the test session: initdb + pg_ctl on a free port.

PostgreSQL refuses to run as root; when the tests run as root the cluster belongs to the
`postgres` system user (created by the Debian package) and its commands go through `runuser`.
Its directory lives outside pytest's root-only temp dir so that user can reach it.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.servers import REQUIRE, free_port, require_binary

PG_BIN = "/usr/lib/postgresql/15/bin"
SUPERUSER = "propwatch"
INITDB_OPTIONS = ("-E", "UTF8", "--locale=C", "--no-sync")


@dataclass
class Postgres:
    port: int
    root: Path
    pg_ctl: str
    run_as: list[str]
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str | None = None) -> str:
        """A fresh database, empty or a copy of `template`; returns its SQLAlchemy URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        copy = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, self.pg_ctl, "-D", str(self.root / "data"), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def _run_as() -> tuple[list[str], int | None, int | None]:
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        reason = "running as root and there is no postgres user to own the test cluster"
        if REQUIRE:
            pytest.fail(f"PROPWATCH_REQUIRE_SERVERS=1 but {reason}")
        pytest.skip(reason)
    return (
        [require_binary("runuser", "/usr/sbin", "/sbin"), "-u", "postgres", "--"],
        (user.pw_uid),
        user.pw_gid,
    )


def start_postgres() -> Postgres:
    initdb = require_binary("initdb", PG_BIN)
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    run_as, uid, gid = _run_as()
    root = Path(tempfile.mkdtemp(prefix="propwatch-pg-"))
    if uid is not None and gid is not None:
        os.chown(root, uid, gid)
    data, log = root / "data", root / "server.log"
    subprocess.run(
        [*run_as, initdb, "-D", str(data), "-U", SUPERUSER, "-A", "trust", *INITDB_OPTIONS],
        capture_output=True,
        check=True,
        timeout=120,
    )
    port = free_port()
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
    )
    started = subprocess.run(
        [*run_as, pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start"],
        capture_output=True,
        check=False,
        timeout=90,
    )
    if started.returncode != 0:
        detail = log.read_text(errors="replace") if log.exists() else started.stderr.decode()
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {detail[-2000:]}")
    return Postgres(port=port, root=root, pg_ctl=pg_ctl, run_as=run_as)
