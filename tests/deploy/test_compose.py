"""Both compose files parse and name settings, commands, ports and files that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from propwatch.cli import build_parser
from propwatch.mqtt import BrokerAddress
from propwatch.settings import Settings
from propwatch.site import load_site
from tests.deploy.files import DEPLOY, ROOT, compose, dockerfile
from tests.support.servers import require_binary

SITE = DEPLOY / "site"
CENTRAL = DEPLOY / "central"
COMPOSE_FILES = [SITE / "compose.yaml", CENTRAL / "compose.yaml"]
REQUIRED_VAR = re.compile(r"\$\{(\w+):\?[^}]*\}")
ANY_VAR = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")
DEFAULTED_VAR = re.compile(r"\$\{\w+:-([^}]*)\}")
ids = [p.parent.name for p in COMPOSE_FILES]


def _services(path: Path) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose(path)["services"]
    return services


def _propwatch_services(path: Path) -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in _services(path).items()
        if str(s.get("image", "")).startswith("propwatch:")
    }


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping, please"
    return {k: str(v) for k, v in env.items()}


def _defaulted(value: str) -> str:
    """`${X:-default}` with its default, as compose would expand it without X."""
    return DEFAULTED_VAR.sub(lambda m: m.group(1), value)


def _project_version() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return str(project["project"]["version"])


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=ids)
def test_every_service_image_is_pinned(path: Path) -> None:
    for name, service in _services(path).items():
        image = _defaulted(service["image"])
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: image {image!r} is not pinned"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=ids)
def test_propwatch_image_is_this_version_built_from_the_dockerfile(path: Path) -> None:
    for name, service in _propwatch_services(path).items():
        assert _defaulted(service["image"]) == f"propwatch:{_project_version()}", name
        context = (path.parent / service["build"]["context"]).resolve()
        assert (context / "Dockerfile").samefile(ROOT / "Dockerfile"), name


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=ids)
def test_influxdb_is_2_7_and_provisioned_on_first_start(path: Path) -> None:
    influx = _services(path)["influxdb"]
    assert influx["image"] == "influxdb:2.7"
    env = _env(influx)
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for key in ("ORG", "BUCKET", "RETENTION", "ADMIN_TOKEN", "USERNAME", "PASSWORD"):
        assert env[f"DOCKER_INFLUXDB_INIT_{key}"], key


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=ids)
def test_propwatch_environment_names_are_settings(path: Path) -> None:
    fields = Settings.model_fields
    for name, service in _propwatch_services(path).items():
        for key in _env(service):
            assert key.startswith("PROPWATCH_"), f"{name}: {key} is no propwatch setting"
            assert key.removeprefix("PROPWATCH_").lower() in fields, f"{name}: {key}"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=ids)
def test_propwatch_commands_are_real_cli_invocations_of_the_mounted_site(path: Path) -> None:
    for name, service in _propwatch_services(path).items():
        args = build_parser().parse_args(service["command"])
        mounts = {
            target: source
            for source, target, *_ in (_defaulted(v).split(":") for v in service["volumes"])
        }
        if path.parent.name == "central":  # every site of the mounted folder, by setting
            folder = _env(service).get("PROPWATCH_SITES_DIR")
            assert folder, f"{name}: no PROPWATCH_SITES_DIR"
            assert getattr(args, "sites", None) in (None, Path(folder)), name
            assert (path.parent / mounts[folder]).is_dir(), f"{name}: {folder} not mounted"
            continue
        assert args.site is not None, f"{name}: no --site"
        source = mounts[str(args.site.parent)]
        site_file = (path.parent / source / args.site.name).resolve()
        assert load_site(site_file).id, f"{name}: {site_file} does not load"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=ids)
def test_gateway_writes_to_the_provisioned_influxdb(path: Path) -> None:
    services = _services(path)
    influx = _env(services["influxdb"])
    writers = {n: _env(s) for n, s in services.items() if "PROPWATCH_INFLUX_URL" in _env(s)}
    for name, env in writers.items():
        assert urlsplit(env["PROPWATCH_INFLUX_URL"]).netloc == "influxdb:8086", name
        assert env["PROPWATCH_INFLUX_TOKEN"] == influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
        assert env["PROPWATCH_INFLUX_BUCKET"] == influx["DOCKER_INFLUXDB_INIT_BUCKET"]
        assert env["PROPWATCH_INFLUX_ORG"] == influx["DOCKER_INFLUXDB_INIT_ORG"]


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=ids)
def test_mqtt_urls_point_at_a_broker_port_of_the_stack(path: Path) -> None:
    services = _services(path)
    for name, service in _propwatch_services(path).items():
        url = _env(service).get("PROPWATCH_MQTT_URL")
        if url is None:
            continue
        address = BrokerAddress.parse(ANY_VAR.sub("x", url))
        assert address.host in services, f"{name}: no service {address.host}"
        assert address.port in _listener_ports(path, address.host, tls=address.tls), name


def _listener_ports(path: Path, broker: str, tls: bool) -> set[int]:
    if broker == "mosquitto":
        conf = (path.parent / "mosquitto" / "mosquitto.conf").read_text()
        blocks = re.split(r"^listener ", conf, flags=re.M)[1:]
        return {int(b.split()[0]) for b in blocks if ("certfile" in b) == tls}
    env = _env(_services(path)[broker])
    name = "SSL" if tls else "TCP"
    return {int(env[f"EMQX_LISTENERS__{name}__DEFAULT__BIND"].rsplit(":", 1)[1])}


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=ids)
def test_tls_clients_get_the_ca_file(path: Path) -> None:
    for name, service in _propwatch_services(path).items():
        env = _env(service)
        if env.get("PROPWATCH_MQTT_URL", "").startswith("mqtts://"):
            ca = env["PROPWATCH_MQTT_CA_FILE"]
            targets = [_defaulted(v).split(":")[1] for v in service["volumes"]]
            assert ca in targets, f"{name}: {ca} is not mounted"


def test_api_port_matches_the_settings_the_dockerfile_and_the_published_port() -> None:
    api = _services(SITE / "compose.yaml")["api"]
    port = _env(api)["PROPWATCH_API_PORT"]
    assert f"{port}:{port}" in api["ports"]
    exposed = [i.args for i in dockerfile() if i.keyword == "EXPOSE"]
    assert exposed == [port]
    nginx = (CENTRAL / "nginx" / "nginx.conf").read_text()
    for name in ("api-1", "api-2"):
        central_api = _services(CENTRAL / "compose.yaml")[name]
        assert f"server {name}:{_env(central_api)['PROPWATCH_API_PORT']} " in nginx


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=ids)
def test_dependencies_name_existing_services(path: Path) -> None:
    services = _services(path)
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name


def test_central_runs_two_api_replicas_for_all_sites_behind_nginx() -> None:
    services = _propwatch_services(CENTRAL / "compose.yaml")
    apis = {n: s for n, s in services.items() if s["command"][0] == "api"}
    assert len(apis) >= 2
    assert len({_env(s)["PROPWATCH_INSTANCE_ID"] for s in apis.values()}) == len(apis)
    nginx = (CENTRAL / "nginx" / "nginx.conf").read_text()
    upstream = re.search(r"upstream propwatch_api \{(.*?)\}", nginx, re.S)
    assert upstream is not None
    servers = set(re.findall(r"server (\S+):8000", upstream.group(1)))
    assert servers == set(apis)
    # no server block, upstream or service per site: one set for every site file in sites/
    assert "hexie" not in nginx and not any(
        "hexie" in n for n in _services(CENTRAL / "compose.yaml")
    )


def test_central_runs_maintenance_replicas_in_one_shared_group() -> None:
    replicas = {
        n: _env(s)
        for n, s in _propwatch_services(CENTRAL / "compose.yaml").items()
        if s["command"][0] == "maintenance"
    }
    assert len(replicas) >= 2
    groups = {e["PROPWATCH_MQTT_SHARED_GROUP"] for e in replicas.values()}
    instances = {e["PROPWATCH_INSTANCE_ID"] for e in replicas.values()}
    assert len(groups) == 1 and len(instances) == len(replicas)
    assert all(
        e["PROPWATCH_DATABASE_URL"].startswith("postgresql+psycopg://") for e in replicas.values()
    )
    emqx = _env(_services(CENTRAL / "compose.yaml")["emqx"])
    assert emqx["EMQX_MQTT__SHARED_SUBSCRIPTION_STRATEGY"] == "hash_topic"
    assert int(emqx["EMQX_MQTT__MAX_MQUEUE_LEN"]) > 1000


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=ids)
def test_init_secrets_provides_every_required_variable_and_file(path: Path, tmp_path: Path) -> None:
    require_binary("openssl")
    if path.parent.name == "site":
        require_binary("mosquitto_passwd")
    box = tmp_path / path.parent.name
    shutil.copytree(path.parent, box)
    subprocess.run([str(box / "init-secrets.sh")], check=True, capture_output=True)
    text = path.read_text()
    written = {
        line.split("=", 1)[0] for line in (box / ".env").read_text().splitlines() if "=" in line
    }
    assert set(REQUIRED_VAR.findall(text)) <= written
    for service in _services(path).values():
        for volume in service.get("volumes", []):
            source = _defaulted(volume).split(":")[0]
            if source.startswith("."):
                assert (box / source).resolve().exists() or (path.parent / source).exists(), source


def _acl_rules() -> list[str]:
    text = (CENTRAL / "emqx" / "acl.conf").read_text(encoding="utf-8")
    body = "\n".join(line.split("%", 1)[0] for line in text.splitlines())
    return [r.strip() for r in body.split("}.") if r.strip()]


def test_emqx_acl_rules_are_well_formed_and_end_in_deny() -> None:
    rules = _acl_rules()
    for rule in rules:
        assert rule.startswith(("{allow,", "{deny,")), rule
        assert rule.count("{") == rule.count("}") + 1, rule  # the split ate the closing brace
        assert rule.count("[") == rule.count("]"), rule
    assert rules[-1].replace(" ", "") == "{deny,all"


def test_emqx_users_cover_the_acl_and_the_compose_clients(tmp_path: Path) -> None:
    require_binary("openssl")
    box = tmp_path / "central"
    shutil.copytree(CENTRAL, box)
    subprocess.run([str(box / "init-secrets.sh")], check=True, capture_output=True)
    lines = (box / "secrets" / "emqx-users.csv").read_text().splitlines()
    assert lines[0] == "user_id,password,is_superuser"
    users = {line.split(",")[0] for line in lines[1:]}
    in_acl = set(re.findall(r'\{username, "([^"]+)"\}', " ".join(_acl_rules())))
    clients = {
        _env(s)["PROPWATCH_MQTT_USERNAME"]
        for s in _propwatch_services(CENTRAL / "compose.yaml").values()
        if "PROPWATCH_MQTT_USERNAME" in _env(s)
    }
    assert in_acl and clients
    assert in_acl <= users and clients <= users


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=ids)
def test_grafana_mounts_what_its_provisioning_and_home_dashboard_name(path: Path) -> None:
    grafana = _services(path)["grafana"]
    mounts = {
        target: (path.parent / source).resolve()
        for source, target, *_ in (v.split(":") for v in grafana["volumes"])
        if source.startswith(".")
    }
    provisioning = mounts["/etc/grafana/provisioning"]
    provider = yaml.safe_load((provisioning / "dashboards" / "propwatch.yaml").read_text())
    dashboards = mounts[provider["providers"][0]["options"]["path"]]
    home = Path(_env(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert (dashboards / home.name).is_file() and str(home.parent) in mounts
    datasource = yaml.safe_load((provisioning / "datasources" / "influxdb.yaml").read_text())
    env_refs = set(ANY_VAR.findall(yaml.safe_dump(datasource)))
    assert env_refs and env_refs <= set(_env(grafana)), "the datasource needs variables"


def test_adding_a_site_gateway_is_one_command_that_adds_its_user_and_acl_once(
    tmp_path: Path,
) -> None:
    require_binary("openssl")
    box = tmp_path / "central"
    shutil.copytree(CENTRAL, box)
    subprocess.run([str(box / "init-secrets.sh")], check=True, capture_output=True)
    for _ in range(2):
        subprocess.run(
            [str(box / "init-secrets.sh"), "add-gateway", "lvyuan-7"],
            check=True,
            capture_output=True,
        )
    users = (box / "secrets" / "emqx-users.csv").read_text().splitlines()
    assert [u.split(",")[0] for u in users].count("gateway-lvyuan-7") == 1
    acl = (box / "emqx" / "acl.conf").read_text()
    assert (
        acl.count('{allow, {username, "gateway-lvyuan-7"}, publish, ["propwatch/lvyuan-7/#"]}.')
        == 1
    )
    assert acl.rstrip().endswith("{deny, all}.")
    assert (box / "compose.yaml").read_text() == (CENTRAL / "compose.yaml").read_text()
