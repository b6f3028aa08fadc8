"""Broken site and profile files, each with the exact message and line an engineer reads.

One small site (BASE) is broken one way per row; the row holds the files as written and every
problem `check_config` must report, in zh-CN (the default), with English rows under
LANG=en_US.UTF-8, and a few rows through the real `propwatch check-config` command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from propwatch import config_file
from propwatch.check_config import check_config
from propwatch.config_file import (
    MAX_ALIAS_NODES,
    MAX_DOCUMENT_BYTES,
    ConfigError,
    read_yaml,
    validate_file,
)
from propwatch.site import SiteFile, load_site
from tests.conftest import EXAMPLE_SITE
from tests.support.sites import copy_example_site

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
site:
  id: hexie
  name: 和谐花园
  timezone: Asia/Shanghai
  latitude: 30.27
  longitude: 120.15
people:
  - {id: wang, name: 王师傅, role: technician}
zones:
  - id: zone-a
    name: A区
    technicians: [wang]
assets:
  - id: pump-1
    name: 1号生活水泵
    kind: water_pump
    zone: zone-a
    device: pump-1
devices:
  - id: pump-1
    protocol: modbus_tcp
    profile: water_pump
    port: 15020
    poll_interval: 1s
rules:
  - id: pump-pressure-low
    asset: pump-1
    metric: outlet_pressure
    below: 0.15
    alarm_type: low_outlet_pressure
    severity: major
"""

PROFILE = """\
model: odd_pump
kind: water_pump
points:
  - name: running
    function: discrete_input
    address: 0
    type: bool
  - name: outlet_pressure
    function: input
    address: 0
    type: float32
    unit: MPa
"""

PUMP_ASSET = (
    "assets:\n  - id: pump-1\n    name: 1号生活水泵\n    kind: water_pump\n    zone: zone-a\n"
)

BOMB = "".join(
    f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join([f'*{chr(96 + i)}'] * 9 if i else ['lol'] * 9)}]\n"
    for i in range(9)
)


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


@dataclass
class Case:
    """One broken (or deliberately unusual) set of files and every problem it must give."""

    name: str
    site: str | bytes
    expected: list[str]  # `site.yaml:LINE: path: message`, relative to the folder
    profiles: dict[str, str] = field(default_factory=dict)

    def write(self, folder: Path) -> Path:
        path = folder / "site.yaml"
        if isinstance(self.site, bytes):
            path.write_bytes(self.site)
        else:
            path.write_text(self.site, encoding="utf-8")
        if self.profiles:
            (folder / "profiles").mkdir()
            for name, text in self.profiles.items():
                (folder / "profiles" / name).write_text(text, encoding="utf-8")
        return path


ZH = [
    Case(
        "misspelt key",
        edit("    severity: major", "    sevrity: major"),
        ["site.yaml:31: rules[0].sevrity: 未知字段 sevrity，是否想写 severity？"],
    ),
    Case(
        "misspelt required key is one problem, not also a missing one",
        edit("    name: 1号生活水泵", "    nmae: 1号生活水泵"),
        ["site.yaml:15: assets[0].nmae: 未知字段 nmae，是否想写 name？"],
    ),
    Case(
        "unknown key with nothing close lists the fields",
        edit("  timezone: Asia/Shanghai\n", "  timezone: Asia/Shanghai\n  colour: red\n"),
        [
            "site.yaml:5: site.colour: 未知字段 colour；可写的字段："
            "id、name、timezone、latitude、longitude、address、region"
        ],
    ),
    Case(
        "misspelt section",
        edit("rules:", "rule:"),
        ["site.yaml:25: rule: 未知字段 rule，是否想写 rules？"],
    ),
    Case(
        "unknown severity",
        edit("severity: major", "severity: majr"),
        [
            "site.yaml:31: rules[0].severity: majr 不是可选的值；"
            "可选：critical、major、minor、warning，是否想写 major？"
        ],
    ),
    Case(
        "unknown protocol",
        edit("protocol: modbus_tcp", "protocol: modbus"),
        [
            "site.yaml:21: devices[0].protocol: modbus 不是可选的值；"
            "可选：modbus_tcp、modbus_rtu、mqtt，是否想写 modbus_tcp？"
        ],
    ),
    Case(
        "wrong type",
        edit("port: 15020", "port: abc"),
        ["site.yaml:23: devices[0].port: 应为整数，这里是 abc"],
    ),
    Case(
        "number out of range",
        edit("port: 15020", "port: 99999"),
        ["site.yaml:23: devices[0].port: 不能大于 65535，这里是 99999"],
    ),
    Case(
        "latitude out of range",
        edit("latitude: 30.27", "latitude: 300"),
        ["site.yaml:5: site.latitude: 不能大于 90，这里是 300"],
    ),
    Case(
        "text where a number is expected",
        edit("below: 0.15", "below: low"),
        ["site.yaml:29: rules[0].below: 应为数字，这里是 low"],
    ),
    Case(
        "negative interval",
        edit("poll_interval: 1s", "poll_interval: -1s"),
        ["site.yaml:24: devices[0].poll_interval: 时长不能为负数，这里是 -1s"],
    ),
    Case(
        "zero interval",
        edit("poll_interval: 1s", "poll_interval: 0s"),
        ["site.yaml:24: devices[0].poll_interval: 应大于 0，这里是 0"],
    ),
    Case(
        "not a duration",
        edit("poll_interval: 1s", "poll_interval: soon"),
        ["site.yaml:24: devices[0].poll_interval: 应为时长，如 30s、15m、4h，这里是 soon"],
    ),
    Case(
        "bad time zone",
        edit("timezone: Asia/Shanghai", "timezone: Asia/Shangai"),
        [
            "site.yaml:4: site.timezone: 未知时区 Asia/Shangai（应为 IANA 名称，如 "
            "Asia/Shanghai），是否想写 Asia/Shanghai？"
        ],
    ),
    Case(
        "not a date",
        edit("    device: pump-1\n", "    device: pump-1\n    install_date: 2024-13-01\n"),
        ["site.yaml:19: assets[0].install_date: 应为日期，如 2025-03-01，这里是 2024-13-01"],
    ),
    Case(
        "id with a space",
        edit("  - id: pump-pressure-low", "  - id: pump pressure low"),
        [
            "site.yaml:26: rules[0].id: 'pump pressure low' 格式不对：只能用字母、数字和 _ . -，"
            "并以字母或数字开头"
        ],
    ),
    Case(
        "missing required field",
        edit("    name: 1号生活水泵\n", ""),
        ["site.yaml:14: assets[0]: 缺少必填字段 name"],
    ),
    Case(
        "missing section",
        edit("zones:\n  - id: zone-a\n    name: A区\n    technicians: [wang]\n", ""),
        ["site.yaml:1: 缺少必填字段 zones"],
    ),
    Case(
        "empty list where one item is needed",
        edit(
            "zones:\n  - id: zone-a\n    name: A区\n    technicians: [wang]\n",
            "zones: []\n\n\n\n",
        ),
        [
            "site.yaml:9: zones: 至少需要 1 项",
        ],
    ),
    Case(
        "a list where a mapping is expected",
        BASE + "duty: [wang]\n",
        ["site.yaml:32: duty: 应为映射（键: 值），这里是列表"],
    ),
    Case(
        "a mapping where a list is expected",
        edit("  - {id: wang, name: 王师傅, role: technician}", "  {id: wang, name: 王师傅}"),
        ["site.yaml:7: people: 应为列表（以 - 开头的若干项），这里是映射"],
    ),
    Case(
        "unknown asset in a rule",
        edit("    asset: pump-1", "    asset: pump-2"),
        ["site.yaml:27: rules[0].asset: 未知的资产 pump-2，是否想写 pump-1？"],
    ),
    Case(
        "unknown zone",
        edit("    zone: zone-a", "    zone: zone-b"),
        ["site.yaml:17: assets[0].zone: 未知的片区 zone-b，是否想写 zone-a？"],
    ),
    Case(
        "unknown person",
        edit("technicians: [wang]", "technicians: [wong]"),
        ["site.yaml:12: zones[0].technicians[0]: 未知的人员 wong，是否想写 wang？"],
    ),
    Case(
        "unknown device of an asset",
        edit("    device: pump-1", "    device: pump-l"),
        ["site.yaml:18: assets[0].device: 未知的设备 pump-l，是否想写 pump-1？"],
    ),
    Case(
        "point the profile lacks",
        edit("metric: outlet_pressure", "metric: outlet_presure"),
        [
            "site.yaml:28: rules[0].metric: 资产 pump-1（型号 water_pump）没有测点 "
            "outlet_presure，是否想写 outlet_pressure？"
        ],
    ),
    Case(
        "duplicate asset ids",
        edit(
            "devices:", "  - {id: pump-1, name: 2号水泵, kind: water_pump, zone: zone-a}\ndevices:"
        ),
        ["site.yaml:19: assets[1].id: id pump-1 重复（assets[0] 已使用）"],
    ),
    Case(
        "unknown rule kind",
        edit("    asset: pump-1\n", "    kind: threshhold\n    asset: pump-1\n"),
        [
            "site.yaml:27: rules[0].kind: threshhold 不是可选的值；可选：threshold、"
            "rate_of_change、stuck、fault_code、fault_flags、communication_loss、anomaly，"
            "是否想写 threshold？"
        ],
    ),
    Case(
        "misspelt key in a rule of another kind",
        edit(
            "    below: 0.15\n    alarm_type: low_outlet_pressure\n    severity: major\n",
            "    kind: stuck\n    duration: 1h\n    tolerence: 0.01\n",
        ),
        ["site.yaml:31: rules[0].tolerence: 未知字段 tolerence，是否想写 tolerance？"],
    ),
    Case(
        "our own validator",
        edit("    below: 0.15\n", "    below: 0.15\n    above: 0.9\n"),
        ["site.yaml:26: rules[0]: 阈值规则须且只能写 above 或 below 之一"],
    ),
    Case(
        "second rules section",
        BASE + "rules: []\n",
        ["site.yaml:32: 重复的键 rules (第 25 行已有)"],
    ),
    Case(
        "duplicate key inside a device",
        edit("    port: 15020\n", "    port: 15020\n    port: 15021\n"),
        ["site.yaml:24: devices[0]: 重复的键 port (第 23 行已有)"],
    ),
    Case(
        "merge keys used correctly load",
        edit(
            PUMP_ASSET,
            "x-pump: &pump {kind: water_pump, zone: zone-b, name: 水泵}\n"
            "assets:\n  - <<: *pump\n    id: pump-1\n    name: 1号生活水泵\n    zone: zone-a\n",
        ),
        [],
    ),
    Case(
        "a merged key is reported where it was written",
        edit(
            PUMP_ASSET,
            "x-pump: &pump {kind: water_pump, zone: zone-b, name: 水泵}\n"
            "assets:\n  - <<: *pump\n    id: pump-1\n    name: 1号生活水泵\n",
        ),
        ["site.yaml:13: assets[0].zone: 未知的片区 zone-b，是否想写 zone-a？"],
    ),
    Case(
        "a merge of a list of mappings, the first winning",
        edit(
            "devices:\n  - id: pump-1\n    protocol: modbus_tcp\n    profile: water_pump\n"
            "    port: 15020\n",
            "x-modbus: &modbus {protocol: modbus_tcp, port: 502}\n"
            "x-pump: &pump {profile: water_pump, port: 70000}\n"
            "devices:\n  - <<: [*pump, *modbus]\n    id: pump-1\n",
        ),
        ["site.yaml:20: devices[0].port: 不能大于 65535，这里是 70000"],
    ),
    Case(
        "a merge of something else",
        edit("  - id: pump-1\n    protocol", "  - <<: 5\n    id: pump-1\n    protocol"),
        ["site.yaml:20: devices[0]: 合并键 << 的值必须是映射（如 *默认值）或映射的列表"],
    ),
    Case(
        "tab indentation",
        edit("  name: 和谐花园", "\tname: 和谐花园"),
        ["site.yaml:3:1: YAML 语法错误：不能用 Tab 缩进，请改用空格"],
    ),
    Case(
        "unclosed quote",
        edit("  name: 和谐花园", "  name: '和谐花园"),
        ["site.yaml:3:9: YAML 语法错误：引号未闭合（字符串从这里开始）"],
    ),
    Case(
        "a value with an unquoted colon",
        edit("alarm_type: low_outlet_pressure", "alarm_type: low: pressure"),
        [
            "site.yaml:30:20: YAML 语法错误：此处不能出现“键: 值”"
            "（缩进不对，或值里的冒号需要加引号）"
        ],
    ),
    Case(
        "a control character",
        edit("  name: 和谐花园", "  name: 和谐\x07花园"),
        ["site.yaml:3:11: 不允许的控制字符 U+0007（文件里混入了看不见的字符，请删去）"],
    ),
    Case(
        "a Python tag",
        edit("  name: 和谐花园", "  name: !!python/name:os.system"),
        [
            "site.yaml:3:9: YAML 语法错误：不支持的标签 !!python/name:os.system"
            "（站点文件只用普通的 YAML 值）"
        ],
    ),
    Case("empty file", "# 还没写\n", ["site.yaml:1: 文件是空的（没有任何内容）"]),
    Case(
        "not UTF-8",
        BASE.encode("gbk"),
        [
            "site.yaml:3: 不是 UTF-8 编码（第 9 列的字节 0xba）；请用 UTF-8 另存此文件"
            "（GBK 等编码的中文会这样）"
        ],
    ),
    Case(
        "alias bomb",
        BOMB,
        [
            f"site.yaml:5: 别名 *d 展开后超过 {MAX_ALIAS_NODES:,} 个节点，已拒绝"
            "（别名层层引用会让文件膨胀）"
        ],
    ),
    Case("alias to itself", "site: &s [*s]\n", ["site.yaml:1: 别名 *s 引用了包含它自己的节点"]),
    Case(
        "a choice of a union (a category or *) and an unknown priority",
        BASE + "sla:\n  - {category: elevatr, priority: urgent}\n",
        [
            "site.yaml:33: sla[0].category: elevatr 不是可选的值；可选：elevator、water_supply、"
            "lighting、access_control、fire、general、complaint、*，是否想写 elevator？",
            "site.yaml:33: sla[0].priority: urgent 不是可选的值；"
            "可选：emergency、important、general",
        ],
    ),
    Case(
        "a notification channel without kind",
        BASE + "notifications:\n  channels:\n    - {id: duty, url: https://tickets.example}\n",
        [
            "site.yaml:34: notifications.channels[0]: 缺少必填字段 kind；"
            "可选：wecom、dingtalk、email、webhook"
        ],
    ),
    Case(
        "a custom field of type choice without choices",
        BASE
        + "work_orders:\n  custom_fields:\n    - {id: channel, name: 报修渠道, type: choice}\n",
        ["site.yaml:34: work_orders.custom_fields[0]: choice 字段需要 choices（可选值）"],
    ),
    Case(
        "a photo rule naming a category that does not exist",
        BASE + "work_orders:\n  photo_required: {categories: [fires]}\n",
        [
            "site.yaml:33: work_orders.photo_required.categories: 类别 'fires' 不存在，可选："
            "elevator、water_supply、lighting、access_control、fire、general、complaint"
        ],
    ),
    Case(
        "a phone number not quoted",
        edit("role: technician}", "role: technician, phone: 13800000000}"),
        [
            "site.yaml:8: people[0].phone: 应为文本，这里是数字 13800000000；编号、电话等请加引号："
            "'13800000000'"
        ],
    ),
    Case(
        "not true or false",
        BASE + "night_lighting:\n  enabled: maybe\n",
        ["site.yaml:33: night_lighting.enabled: 应为 true 或 false，这里是 maybe"],
    ),
    Case(
        "profile: misspelt key and unknown data type",
        edit("profile: water_pump", "profile: odd_pump"),
        [
            "profiles/odd_pump.yaml:5: points[0].functon: 未知字段 functon，是否想写 function？",
            "profiles/odd_pump.yaml:11: points[1].type: real 不是可选的值；可选：bool、int16、"
            "uint16、int32、uint32、int64、float32、float64、string",
        ],
        {
            "odd_pump.yaml": edit(
                "function: discrete_input", "functon: discrete_input", PROFILE
            ).replace("type: float32", "type: real")
        },
    ),
    Case(
        "profile: misspelt protocol",
        edit("profile: water_pump", "profile: odd_pump"),
        [
            "profiles/odd_pump.yaml:3: protocol: mqt 不是可选的值；可选：modbus、mqtt，"
            "是否想写 mqtt？"
        ],
        {"odd_pump.yaml": edit("kind: water_pump\n", "kind: water_pump\nprotocol: mqt\n", PROFILE)},
    ),
    Case(
        "profile: overlapping registers",
        edit("profile: water_pump", "profile: odd_pump"),
        [
            "profiles/odd_pump.yaml:15: points[2].address: 测点 flow 与 outlet_pressure "
            "在 input 地址 1 重叠"
        ],
        {
            "odd_pump.yaml": PROFILE
            + "  - name: flow\n    function: input\n    address: 1\n    type: float32\n"
        },
    ),
    Case(
        "profile: a bit point that is not bool",
        edit("profile: water_pump", "profile: odd_pump"),
        ["profiles/odd_pump.yaml:4: points[0]: discrete_input 测点只有一位：type 须为 bool"],
        {"odd_pump.yaml": edit("    type: bool", "    type: uint16", PROFILE)},
    ),
]


def _problems(tmp_path: Path, case: Case) -> list[str]:
    path = case.write(tmp_path)
    _, problems = check_config(path)
    return [p.replace(f"{tmp_path}/", "") for p in problems]


@pytest.mark.parametrize("case", ZH, ids=[c.name for c in ZH])
def test_each_broken_file_gives_its_message_and_line_in_chinese(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    monkeypatch.delenv("PROPWATCH_LANG", raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert _problems(tmp_path, case) == case.expected


def test_the_table_covers_at_least_thirty_broken_files() -> None:
    assert len([c for c in ZH if c.expected]) >= 30


EN = [
    Case(
        "misspelt key",
        edit("    severity: major", "    sevrity: major"),
        ["site.yaml:31: rules[0].sevrity: unknown field sevrity; did you mean severity?"],
    ),
    Case(
        "unknown severity",
        edit("severity: major", "severity: majr"),
        [
            "site.yaml:31: rules[0].severity: majr is not allowed; use one of critical, major, "
            "minor, warning; did you mean major?"
        ],
    ),
    Case(
        "unknown asset in a rule",
        edit("    asset: pump-1", "    asset: pump-2"),
        ["site.yaml:27: rules[0].asset: unknown asset pump-2; did you mean pump-1?"],
    ),
    Case(
        "second rules section",
        BASE + "rules: []\n",
        ["site.yaml:32: duplicate key rules (line 25)"],
    ),
    Case(
        "not UTF-8",
        BASE.encode("gbk"),
        [
            "site.yaml:3: not UTF-8 (byte 0xba at column 9); save the file as UTF-8 "
            "(Chinese text in GBK looks like this)"
        ],
    ),
    Case(
        "negative interval",
        edit("poll_interval: 1s", "poll_interval: -1s"),
        ["site.yaml:24: devices[0].poll_interval: a duration cannot be negative, got -1s"],
    ),
]


@pytest.mark.parametrize("case", EN, ids=[c.name for c in EN])
def test_each_broken_file_gives_its_message_in_english_under_an_english_locale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    monkeypatch.delenv("PROPWATCH_LANG", raising=False)
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert _problems(tmp_path, case) == case.expected


def _command(site: Path, lang: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROPWATCH_", "LC_"))}
    env |= {"LANG": lang, "PROPWATCH_VAR_DIR": str(site.parent / "var")}
    return subprocess.run(
        [sys.executable, "-m", "propwatch.cli", "check-config", "--site", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


BY_COMMAND = {
    c.name: c
    for c in ZH
    if c.name
    in ("misspelt key", "second rules section", "not UTF-8", "alias bomb", "tab indentation")
}


@pytest.mark.parametrize("name", list(BY_COMMAND))
def test_check_config_command_prints_the_same_lines_and_exits_2(tmp_path: Path, name: str) -> None:
    case = BY_COMMAND[name]
    path = case.write(tmp_path)
    done = _command(path, "zh_CN.UTF-8")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "配置错误:",
        *(f"  {tmp_path}/{p}" for p in case.expected),
    ]


def test_check_config_command_speaks_english_under_an_english_locale(tmp_path: Path) -> None:
    path = EN[0].write(tmp_path)
    done = _command(path, "en_US.UTF-8")
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["configuration error:", f"  {tmp_path}/{EN[0].expected[0]}"]


def test_check_config_command_accepts_merge_keys(tmp_path: Path) -> None:
    case = next(c for c in ZH if c.name == "merge keys used correctly load")
    done = _command(case.write(tmp_path), "zh_CN.UTF-8")
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout


def test_merge_keys_apply_with_explicit_keys_winning(tmp_path: Path) -> None:
    case = next(c for c in ZH if c.name == "merge keys used correctly load")
    site = load_site(case.write(tmp_path))
    (asset,) = site.spec.assets
    assert (asset.kind, asset.zone, asset.name) == ("water_pump", "zone-a", "1号生活水泵")


def test_a_list_of_merges_takes_each_key_from_the_first_mapping_that_has_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(
        "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n", encoding="utf-8"
    )
    data, lines = read_yaml(path)
    assert data["c"] == {"x": 1, "y": 1, "z": 3}
    assert (lines[("c", "x")], lines[("c", "y")], lines[("c", "z")]) == (1, 1, 5)


def test_x_keys_hold_anchors_and_are_not_part_of_the_site(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("x-defaults: &d {a: 1}\nsite: {<<: *d}\n", encoding="utf-8")
    data, _ = read_yaml(path)
    assert data == {"site": {"a": 1}}


def test_a_file_past_the_size_bound_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROPWATCH_LANG", "zh")
    path = tmp_path / "site.yaml"
    path.write_text(BASE + "#" * MAX_DOCUMENT_BYTES + "\n", encoding="utf-8")
    size = path.stat().st_size
    with pytest.raises(ConfigError) as err:
        read_yaml(path)
    assert err.value.problems == [f"{path}: 文件过大（{size:,} 字节，上限 2 MiB）"]


def test_the_alias_bound_grows_with_the_file_so_large_sites_may_merge_defaults(
    tmp_path: Path,
) -> None:
    path = tmp_path / "site.yaml"
    defaults = "x-d: &d {kind: lighting_circuit, zone: zone-a, building: '1', location: 地库}\n"
    items = "".join(f"  - {{<<: *d, id: c{i}}}\n" for i in range(3000))  # 12,000 merged
    path.write_text(f"{defaults}assets:\n{items}", "utf-8")
    data, _ = read_yaml(path)
    assert len(data["assets"]) == 3000 and data["assets"][-1]["location"] == "地库"


LOADER_ROWS = [
    c
    for c in ZH
    if "YAML" in "".join(c.expected)
    or c.name.startswith(
        ("second rules", "duplicate key", "merge", "a merge", "alias", "a control")
    )
]


@pytest.mark.parametrize("case", LOADER_ROWS, ids=[c.name for c in LOADER_ROWS])
def test_the_pure_python_parser_gives_the_same_messages_as_libyaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    """libyaml does the parsing where PyYAML has it; without it the words must not change."""
    monkeypatch.setenv("PROPWATCH_LANG", "zh")
    monkeypatch.setattr(config_file, "_MarkedLoader", config_file._PyLoader)
    assert _problems(tmp_path, case) == case.expected


@pytest.mark.parametrize("case", ZH, ids=[c.name for c in ZH])
def test_our_composer_gives_the_same_messages_as_libyaml_composing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    """A file without anchors is composed by libyaml; with our composer (the one files with
    aliases take) every message and line is the same."""
    monkeypatch.setenv("PROPWATCH_LANG", "zh")
    monkeypatch.setattr(config_file, "_Composed", None)
    assert _problems(tmp_path, case) == case.expected


def test_a_site_file_reads_the_same_composed_either_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = copy_example_site(tmp_path, "jia", "甲园", region="east")
    fast = [read_yaml(p) for p in (EXAMPLE_SITE, copy)]
    monkeypatch.setattr(config_file, "_Composed", None)
    assert [read_yaml(p) for p in (EXAMPLE_SITE, copy)] == fast
    assert fast[0][0]["site"]["id"] == "hexie" and fast[0][1][("site", "id")] > 1


PYDANTIC_WORDS = ("Input should", "Extra inputs", "Field required", "Value error", "valid ")


def _leaves(data: object, loc: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(data, dict):
        return [leaf for k, v in data.items() for leaf in _leaves(v, (*loc, k))]
    if isinstance(data, list):
        return [leaf for i, v in enumerate(data) for leaf in _leaves(v, (*loc, i))]
    return [loc]


def _replaced(data: object, loc: tuple[str | int, ...], value: object) -> object:
    if not loc:
        return value
    if isinstance(data, dict):
        return {k: _replaced(v, loc[1:], value) if k == loc[0] else v for k, v in data.items()}
    assert isinstance(data, list)
    return [_replaced(v, loc[1:], value) if i == loc[0] else v for i, v in enumerate(data)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_value_of_the_example_site_broken_any_way_gives_pydantic_words(
    monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    """Every value of the example site, in turn, replaced by a list, a mapping, a word and -1:
    each problem names the file, a line and the place as written, in our own words."""
    monkeypatch.setenv("PROPWATCH_LANG", lang)
    data, lines = read_yaml(EXAMPLE_SITE)
    checked = 0
    for n, loc in enumerate(_leaves(data)):
        wrong = [["x"], {"x": 1}, "zz-zz", -1][n % 4]
        try:
            validate_file(EXAMPLE_SITE, SiteFile, _replaced(data, loc, wrong), lines)
        except ConfigError as exc:
            for problem in exc.problems:
                checked += 1
                assert problem.startswith(f"{EXAMPLE_SITE}:"), problem
                assert not any(w in problem for w in PYDANTIC_WORDS), problem
                assert ".str-enum[" not in problem and "function-" not in problem, problem
    assert checked > 100
