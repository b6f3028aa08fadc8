"""`propwatch` command line: demo, gateway, maintenance, api, simulate, check-config, db upgrade."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import datetime
from pathlib import Path

from propwatch.config_file import ConfigError
from propwatch.settings import Settings
from propwatch.site import load_site
from simulators.control import (
    ControlError,
    add_control_commands,
    default_control_path,
    run_client,
)


def _aware_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. +08:00")
    return value


def _site_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", type=Path, required=True, help="the site file (YAML)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="propwatch", description="物业设施监测与预防性维护")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="everything in one process on embedded defaults")
    _site_arg(demo)
    demo.add_argument(
        "--scenario", type=Path, help="fault scenario (default: scenario.yaml beside the site file)"
    )
    for name, text in (
        ("gateway", "the edge gateway"),
        ("maintenance", "the maintenance service"),
        ("api", "the HTTP API"),
    ):
        _site_arg(sub.add_parser(name, help=text))
    sim = sub.add_parser(
        "simulate",
        help="run the simulated devices of a site, or control a running simulator",
        description="Without ACTION: run the site's simulated devices (Ctrl-C stops). "
        "With ACTION: send a control command to the simulator already running for the site.",
    )
    _site_arg(sim)
    sim.add_argument("--scenario", type=Path, help="fault scenario (YAML timeline)")
    sim.add_argument(
        "--speed", type=float, help="simulated seconds per real second (default: the scenario's)"
    )
    sim.add_argument("--start", type=_aware_time, help="simulated start time, ISO 8601 with offset")
    add_control_commands(sim)
    _site_arg(sub.add_parser("check-config", help="validate the site file and its profiles"))
    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"])
    db.add_argument("--site", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # alembic lists its plugins at INFO on every start; the revision is enough
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    settings = Settings()
    try:
        if args.command == "check-config":
            from propwatch.check_config import check_config

            site, problems = check_config(args.site)
            if problems or site is None:
                raise ConfigError(problems)
            print(
                f"{args.site}: OK — {site.spec.site.name}: {len(site.spec.assets)} assets, "
                f"{len(site.spec.devices)} devices, {len(site.profiles)} profiles, "
                f"{len(site.spec.rules)} rules"
            )
            return 0
        if args.command == "simulate" and args.sim_action:
            site_id = load_site(args.site).id
            control = args.control or default_control_path(settings.var_dir, site_id)
            return run_client(args, control)
        from propwatch import runtime

        try:
            return asyncio.run(runtime.run(args, settings))
        except runtime.StartRefused as exc:
            print(exc, file=sys.stderr)
            return 2
    except ConfigError as exc:
        print("配置错误 (configuration error):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except ControlError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
