from __future__ import annotations

import pytest

from squall.errors import ConfigError
from squall.infra.registry import SERVICES, dependency_levels, resolve_names


def test_all_services_in_start_order() -> None:
    assert resolve_names(None, with_requirements=False) == [
        "zookeeper",
        "kafka",
        "cassandra",
        "nimbus",
        "supervisor",
        "ui",
    ]


def test_requirements_are_pulled_in() -> None:
    assert resolve_names(["supervisor"], with_requirements=True) == ["zookeeper", "nimbus", "supervisor"]
    assert resolve_names(["kafka"], with_requirements=True) == ["kafka"]


def test_levels_start_dependencies_first() -> None:
    levels = dependency_levels(list(SERVICES))
    assert levels == [["zookeeper", "kafka", "cassandra"], ["nimbus"], ["supervisor", "ui"]]


def test_unknown_service_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="'kafak' is not a service.*zookeeper, kafka"):
        resolve_names(["kafak"], with_requirements=True)
