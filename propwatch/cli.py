"""`propwatch` command line: demo, gateway, maintenance, api, simulate, check-config, db upgrade.

Every command's `--help` says what it does and lists the `PROPWATCH_*` settings it reads, built
from propwatch/settings.py (the one place they are declared). What stops a command from starting
is one line and exit code 2; `--verbose` adds the traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from propwatch.config_file import ConfigError
from propwatch.messages import say
from propwatch.settings import Settings
from propwatch.site import Site, load_site
from propwatch.startup import StartFailed
from simulators.control import (
    ControlError,
    add_control_commands,
    default_control_path,
    run_client,
)

FORMATTER = argparse.RawDescriptionHelpFormatter


def _aware_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(
            say(f"{text!r} 需要时区偏移, 如 +08:00", f"{text!r} needs a UTC offset, e.g. +08:00")
        )
    return value


def settings_epilog(command: str) -> str:
    """The settings `command` reads, with what each does, for the end of its --help."""
    rows = Settings.read_by(command)
    head = say(
        "读取的环境变量 (PROPWATCH_LANG=zh|en 选择提示语言):",
        "settings read from the environment (PROPWATCH_LANG=zh|en picks the language):",
    )
    if not rows:
        return head + "\n  " + say("(无)", "(none)")
    width = max(len(name) for name, _, _ in rows)
    lines = [f"  {name:<{width}}  {say(zh, en)}" for name, zh, en in rows]
    return head + "\n" + "\n".join(lines)


def _site_arg(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "--site",
        type=Path,
        required=required,
        metavar="FILE",
        help=say("小区的站点文件 (YAML)", "the site file (YAML)"),
    )


def _sites_args(p: argparse.ArgumentParser) -> None:
    """`--site FILE` for one property, or `--sites DIR` for every site file of a folder."""
    one = p.add_mutually_exclusive_group()
    one.add_argument(
        "--site",
        type=Path,
        metavar="FILE",
        help=say("小区的站点文件 (YAML)", "the site file (YAML)"),
    )
    one.add_argument(
        "--sites",
        type=Path,
        metavar="DIR",
        help=say(
            "站点文件目录: 服务其中每个 *.yaml 小区, 文件增删改无需重启 (或 PROPWATCH_SITES_DIR)",
            "a folder of site files: serve every *.yaml site in it, added, changed or removed "
            "without a restart (or PROPWATCH_SITES_DIR)",
        ),
    )


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    what: str,
    settings_of: str | None = None,
    epilog_head: str = "",
) -> argparse.ArgumentParser:
    epilog = settings_epilog(settings_of or name)
    return sub.add_parser(
        name,
        help=what,
        description=what,
        epilog=f"{epilog_head}\n\n{epilog}" if epilog_head else epilog,
        formatter_class=FORMATTER,
    )


def build_parser(site: Site | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `site` known, simulate's actions list its devices."""
    parser = argparse.ArgumentParser(
        prog="propwatch",
        description=say(
            "物业设施监测与预防性维护: 网关采集设备, 维护服务派工单, API 服务值班室和维修师傅。",
            "facility monitoring and preventive maintenance for property management.",
        ),
        epilog=say(
            "每个命令的 --help 列出它读取的 PROPWATCH_* 环境变量。",
            "Each command's --help lists the PROPWATCH_* settings it reads.",
        ),
        formatter_class=FORMATTER,
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=say("详细日志; 启动失败时显示 traceback", "debug logs; a traceback on failure"),
    )
    parser.add_argument(
        "--lang",
        choices=["zh", "en"],
        help=say(
            "提示语言 (默认取 PROPWATCH_LANG 或 LANG)", "language (default: PROPWATCH_LANG, LANG)"
        ),
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help=say("命令", "the command to run")
    )
    demo = _command(
        sub,
        "demo",
        say(
            "一个进程里运行全部 (内置 MQTT 代理、模拟设备、网关、维护、API), 打印值班室地址",
            "everything in one process on embedded defaults; prints the duty-room URL",
        ),
    )
    _site_arg(demo)
    demo.add_argument(
        "--scenario",
        type=Path,
        help=say(
            "故障场景 (默认: 站点文件旁的 scenario.yaml)",
            "fault scenario (default: scenario.yaml beside the site file)",
        ),
    )
    for name, what in (
        (
            "gateway",
            say(
                "边缘网关: 轮询设备、执行告警规则、上报遥测",
                "the edge gateway: polls devices, runs the rules, sends telemetry",
            ),
        ),
        (
            "maintenance",
            say(
                "维护服务: 告警转工单、保养计划、时限",
                "the maintenance service: alarms to work orders, plans, time limits",
            ),
        ),
        (
            "api",
            say(
                "HTTP API 和值班室、维修师傅页面",
                "the HTTP API and the duty-room and technician pages",
            ),
        ),
    ):
        command = _command(sub, name, what)
        (_sites_args if name in ("maintenance", "api") else _site_arg)(command)
    sim = _command(
        sub,
        "simulate",
        say(
            "运行站点的模拟设备, 或控制运行中的模拟器",
            "run the simulated devices of a site, or control a running simulator",
        ),
        epilog_head=say(
            "不带 ACTION: 运行站点的模拟设备 (Ctrl-C 停止)。带 ACTION: 向已运行的模拟器发送命令。",
            "Without ACTION: run the site's simulated devices (Ctrl-C stops). "
            "With ACTION: send a command to the simulator already running for the site.",
        ),
    )
    _site_arg(sim)
    sim.add_argument(
        "--scenario",
        type=Path,
        help=say("故障场景 (YAML 时间线)", "fault scenario (YAML timeline)"),
    )
    sim.add_argument(
        "--speed",
        type=float,
        help=say(
            "每真实秒对应的模拟秒数 (默认取场景的)",
            "simulated seconds per real second (default: the scenario's)",
        ),
    )
    sim.add_argument(
        "--start",
        type=_aware_time,
        help=say("模拟开始时间, ISO 8601 带时区", "simulated start time, ISO 8601 with offset"),
    )
    add_control_commands(sim, site)
    check = sub.add_parser(
        "check-config",
        help=say("检查站点文件和设备模型文件", "validate the site file and its profiles"),
        description=say(
            "检查站点文件和它引用的设备模型文件, 逐条列出错误 (文件:行); 不读取环境变量。",
            "validate the site file and its profiles, one error per line (file:line); "
            "reads no settings.",
        ),
        formatter_class=FORMATTER,
    )
    _sites_args(check)
    db = _command(
        sub,
        "db",
        say(
            "数据库维护: upgrade 迁移到最新结构",
            "database maintenance: upgrade migrates the schema",
        ),
    )
    db.add_argument("action", choices=["upgrade"], help=say("迁移数据库结构", "migrate the schema"))
    _site_arg(db, required=False)
    from propwatch.register_kinds import KINDS

    for kind in KINDS.values():
        _register_parser(sub, kind.section, kind.noun_zh, kind.noun_en, kind.file_field)
    return parser


def _register_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    command: str,
    noun_zh: str,
    noun_en: str,
    file_field: str,
) -> None:
    """`propwatch assets|contractors|contracts|plans import|export`: one shape for every
    register beside the site file."""
    p = sub.add_parser(
        command,
        help=say(f"导入、导出{noun_zh} (CSV / XLSX)", f"import or export the {noun_en}"),
        description=say(
            f"import FILE: 按站点检查{noun_zh} (逐条列出 文件:行: 列: 问题), 加 --apply 才写入"
            f"站点文件旁的 {file_field}; export: 全部写成同样的表, 中文表头 (-o 文件名以 .xlsx"
            " 结尾为 Excel); 不读取环境变量。",
            f"import FILE: check a {noun_en} against the site (file:row: column: problem "
            f"each), written beside the site file ({file_field}) only with --apply; export: "
            "all of them as the same table, headed in Chinese (-o NAME.xlsx for Excel); reads "
            "no settings.",
        ),
        formatter_class=FORMATTER,
    )
    p.add_argument(
        "action",
        choices=["import", "export"],
        help=say("import 检查 (并写入), export 导出", "import checks (and writes); export"),
    )
    p.add_argument("file", nargs="?", type=Path, help=say("登记表文件", "the register file"))
    _site_arg(p)
    p.add_argument(
        "--apply", action="store_true", help=say("检查通过后写入", "write when the check passes")
    )
    p.add_argument(
        "-o", "--output", type=Path, help=say("导出到文件 (默认标准输出)", "export to a file")
    )


def _register(args: argparse.Namespace) -> int:
    """`propwatch <register> import|export`: 0 done or clean, 1 problems found."""
    from propwatch.register_import import export_register, import_register, summary
    from propwatch.register_kinds import KINDS

    kind = KINDS[args.command]
    if args.action == "export":
        try:
            body = export_register(kind, load_site(args.site), args.output)
        except ValueError as exc:
            raise StartFailed(str(exc)) from exc
        if args.output is None:
            sys.stdout.write(body.decode("utf-8"))
        else:
            args.output.write_bytes(body)
        return 0
    if args.file is None:
        raise StartFailed(say("import 需要登记表文件", "import needs the register file"))
    outcome = import_register(kind, args.site, args.file, apply=args.apply)
    for problem in outcome.problems:
        print(problem)
    print(summary(outcome, args.apply))
    return 1 if outcome.problems else 0


def _peek(argv: list[str], option: str) -> str | None:
    """An option's value before parsing, for what the parser itself depends on."""
    for i, arg in enumerate(argv):
        if arg == option and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


def _help_site(argv: list[str]) -> Site | None:
    """The site named by --site, for `simulate ... --help`; None when absent or broken (the
    command then says so when it runs)."""
    if "simulate" not in argv:
        return None
    given = _peek(argv, "--site")
    if given is None:
        return None
    try:
        return load_site(Path(given))
    except ConfigError:
        return None


def _settings() -> Settings:
    """The PROPWATCH_* settings; a value pydantic refuses is one line per setting."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "PROPWATCH_" + "_".join(str(p) for p in error["loc"][:1]).upper()
            given = error.get("input")
            problems.append(
                say(
                    f"环境变量 {name}={given!r} 无效: {error['msg']}",
                    f"setting {name}={given!r} is invalid: {error['msg']}",
                )
            )
        raise StartFailed("; ".join(problems)) from exc


def _choose_sites(args: argparse.Namespace, settings: Settings) -> None:
    """`--site`, else `--sites`, else PROPWATCH_SITES_DIR; one of them is needed."""
    if args.site is None and args.sites is None:
        args.sites = settings.sites_dir
    if args.site is None and args.sites is None:
        raise StartFailed(
            say(
                f"propwatch {args.command} 需要 --site FILE 或 --sites DIR"
                " (或设置 PROPWATCH_SITES_DIR)",
                f"propwatch {args.command} needs --site FILE or --sites DIR"
                " (or PROPWATCH_SITES_DIR)",
            )
        )


def _fail(message: str, verbose: bool) -> int:
    if verbose:
        traceback.print_exc()
    print(message, file=sys.stderr)
    return 2


def _loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop where it is installed (uvicorn[standard] brings it; not on Windows)."""
    if settings.event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            logging.getLogger("propwatch").warning(
                "uvloop is not installed: the services run on asyncio's own loop"
            )
        else:
            return uvloop.new_event_loop
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = _peek(argv, "--lang")
    if chosen in ("zh", "en"):
        os.environ["PROPWATCH_LANG"] = chosen  # read by propwatch.messages for every message
    site = _help_site(argv)
    args = build_parser(site).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # alembic lists its plugins at INFO on every start; the revision is enough
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        settings = _settings()
        if args.command in ("maintenance", "api", "check-config"):
            _choose_sites(args, settings)
        if args.command == "check-config":
            from propwatch.check_config import check_config, check_sites_dir, summary

            if args.sites is not None:
                return check_sites_dir(args.sites)
            checked, problems = check_config(args.site)
            if problems or checked is None:
                raise ConfigError(problems)
            print(f"{args.site}: OK — {summary(checked)}")
            return 0
        if args.command in ("assets", "contractors", "contracts", "plans"):
            return _register(args)
        if args.command == "simulate" and args.sim_action:
            site = site or load_site(args.site)
            control = args.control or default_control_path(settings.var_dir, site.id)
            return run_client(args, control, site)
        from propwatch import runtime

        with asyncio.Runner(loop_factory=_loop_factory(settings)) as runner:
            return runner.run(runtime.run(args, settings))
    except ConfigError as exc:
        if args.verbose:
            traceback.print_exc()
        print(say("配置错误:", "configuration error:"), file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except StartFailed as exc:
        return _fail(str(exc), args.verbose)
    except ValueError as exc:
        # pydantic-settings refusing a PROPWATCH_* value, a scenario naming an unknown fault
        return _fail(say(f"无法启动: {exc}", f"cannot start: {exc}"), args.verbose)
    except ControlError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
