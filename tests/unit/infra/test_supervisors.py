"""Several Supervisors on one host: `services.supervisors` in config.json, and the services it makes."""

from __future__ import annotations

from pathlib import Path

import pytest

from squall.config import load_project, services
from squall.errors import ConfigError
from squall.infra import api, storm
from squall.infra.endpoints import Endpoints, SupervisorPorts
from squall.infra.layout import Layout
from squall.infra.registry import dependency_levels
from squall.infra.services import Context

ROOT = Path(__file__).resolve().parents[3]
TWO = [{"thrift": "127.0.0.1:6628", "slots": [6700, 6701]}, {"thrift": 6638, "slots": [6710, 6711]}]


def test_cluster_env_has_two_supervisors_on_dev_ports() -> None:
    project = load_project(ROOT)
    cluster = Endpoints.from_services(services(project, "cluster"), "envs.cluster.services")
    dev = Endpoints.from_services(services(project, "dev"))
    for name in ("zookeeper", "kafka", "cassandra", "nimbus"):
        assert cluster.port(name) == dev.port(name)
    assert (cluster.port("supervisor_thrift"), cluster.slots) == (6628, (6700, 6701))
    assert cluster.extra_supervisors == (SupervisorPorts(thrift=6638, slots=(6710, 6711)),)
    assert dev.extra_supervisors == ()


def test_supervisors_list_sets_the_first_and_adds_the_rest() -> None:
    ep = Endpoints.from_services({"supervisors": TWO})
    assert ep.port("supervisor_thrift") == 6628
    assert ep.slots == (6700, 6701)
    assert ep.extra_supervisors == (SupervisorPorts(6638, (6710, 6711)),)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"supervisors": TWO, "supervisor_slots": [6700]}, "envs.dev.services.supervisor_slots"),
        ({"supervisors": []}, "envs.dev.services.supervisors"),
        ({"supervisors": [{"thrift": 6628}]}, r"envs.dev.services.supervisors\[0\]"),
        ({"supervisors": [TWO[0], {"thrift": 6638, "slots": "6710"}]}, r"supervisors\[1\].slots"),
        ({"supervisors": [TWO[0], {"thrift": "10.0.0.9:6638", "slots": [6710]}]}, r"supervisors\[1\].thrift"),
    ],
)
def test_bad_supervisors_name_the_key(section: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        Endpoints.from_services(section, "envs.dev.services")


def test_supervisors_may_not_share_ports() -> None:
    clash = [TWO[0], {"thrift": 6638, "slots": [6701]}]
    with pytest.raises(ConfigError, match="share a port"):
        Endpoints.from_services({"supervisors": clash})


def _ctx(tmp_path: Path) -> Context:
    ep = Endpoints.from_services({"supervisors": [*TWO, {"thrift": 6648, "slots": [6720]}]})
    return Context(Layout.for_project(tmp_path, tmp_path / "jars"), ep, env="cluster")


def test_extra_supervisors_are_services_with_own_ports_dirs_and_logs(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    found = api.env_services(ctx)
    assert list(found)[-2:] == ["supervisor-2", "supervisor-3"]
    sup2, sup3 = found["supervisor-2"], found["supervisor-3"]
    assert sup2.ports(ctx) == [6638, 6710, 6711]
    assert sup3.ports(ctx) == [6648, 6720]
    assert sup2.show_address is not None and sup2.show_address(ctx) == "127.0.0.1:6710,6711"
    assert sup2.extra_logs(ctx) == [tmp_path / ".state" / "supervisor-2" / "logs" / "supervisor.log"]
    # They start with the first Supervisor, after Nimbus, and stop before it.
    levels = dependency_levels(list(found), found)
    assert levels[-1] == ["supervisor", "ui", "supervisor-2", "supervisor-3"]


def test_extra_supervisor_down_until_its_id_is_logged(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    sup2 = api.env_services(ctx)["supervisor-2"]
    ok, detail = sup2.check(ctx)
    assert not ok and "no supervisor id" in detail


def test_supervisor_id_is_the_last_start_logged(tmp_path: Path) -> None:
    log = tmp_path / "supervisor.log"
    assert storm.supervisor_id(log) is None
    log.write_text(
        "x [INFO] Starting supervisor with id aaa-127.0.0.1 at host 127.0.0.1.\n"
        "y [INFO] Starting supervisor with id bbb-127.0.0.1 at host 127.0.0.1.\n"
    )
    assert storm.supervisor_id(log) == "bbb-127.0.0.1"
