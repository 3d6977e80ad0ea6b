"""The local run's web server: a taken port is a clear error; before the first snapshot it answers empty."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from squall.errors import ConfigError
from squall.web.server import LocalUI


def test_a_taken_port_names_the_option_and_the_fix() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            ConfigError, match=rf"--ui-port: {port}: cannot listen on 127.0.0.1:{port} .*fix: choose"
        ):
            LocalUI("127.0.0.1", port)


def test_serves_pages_and_json_from_its_thread() -> None:
    with LocalUI("127.0.0.1", 0) as ui:
        with urllib.request.urlopen(ui.url + "api/v1/topology/summary", timeout=10) as resp:
            assert json.loads(resp.read()) == {"topologies": []}
        with urllib.request.urlopen(ui.url + "static/dashboard.css", timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("text/css")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(ui.url + "api/v1/topology/x-local/deactivate", timeout=10)
        assert err.value.code == 405
        request = urllib.request.Request(
            ui.url + "api/v1/topology/x-local/deactivate", data=b"", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert (
            err.value.code == 400
            and "no local topology 'x-local'" in json.loads(err.value.read())["errorMessage"]
        )
