"""`squall infra install` says what it does: apt's and Maven's output condensed to one progress line per
package or file, sudo when not root (a clear error without it), and the plan printed before anything runs."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from squall.cli.main import cli
from squall.errors import InfraError
from squall.infra import apt
from squall.infra.progress import apt_line, maven_line, run_reporting


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (
            "Get:3 http://deb.debian.org/debian bookworm/main amd64 maven all 3.8.7-1 [17.9 kB]",
            "apt: downloaded maven 3.8.7-1 [17.9 kB]",
        ),
        ("Fetched 98.2 MB in 12s (8,140 kB/s)", "apt: Fetched 98.2 MB in 12s (8,140 kB/s)"),
        ("Need to get 98.2 MB of archives.", "apt: Need to get 98.2 MB of archives."),
        ("Setting up graphviz (2.42.2-7+b3) ...", "apt: set up graphviz 2.42.2-7+b3"),
        ("Unpacking graphviz (2.42.2-7+b3) ...", None),
        ("Reading package lists...", None),
    ],
)
def test_apt_progress_lines(line: str, shown: str | None) -> None:
    assert apt_line(line) == shown


def test_maven_progress_lines() -> None:
    line = (
        "[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/msgpack/msgpack-core/0.9.8/"
        "msgpack-core-0.9.8.jar (229 kB at 1.2 MB/s)"
    )
    assert maven_line(line) == "maven: msgpack-core-0.9.8.jar (229 kB at 1.2 MB/s)"
    assert maven_line("[INFO] Downloading from central: https://x/y.pom") is None


def test_root_runs_apt_get_itself_others_through_sudo() -> None:
    assert apt.privilege_prefix(euid=0, which=lambda _: None) == []
    assert apt.privilege_prefix(euid=1000, which=lambda n: f"/usr/bin/{n}") == ["/usr/bin/sudo", "env"]
    update, install = apt.commands(["maven"], ["/usr/bin/sudo", "env"])
    assert update == ["/usr/bin/sudo", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "update"]
    assert install[-5:] == ["apt-get", "install", "-y", "--no-install-recommends", "maven"]
    assert apt.commands(["maven"], [])[0] == ["apt-get", "update"]


def test_no_root_and_no_sudo_is_a_clear_error() -> None:
    with pytest.raises(InfraError) as err:
        apt.privilege_prefix(euid=1000, which=lambda _: None)
    text = str(err.value)
    assert "needs root, this is not root and sudo is not installed" in text
    assert "squall infra install --no-apt" in text


def test_run_reporting_reports_condensed_lines_and_keeps_the_tail() -> None:
    seen: list[str] = []
    script = "for i in 1 2 3 4; do echo line $i; done; echo oops >&2; exit 3"
    code, tail = run_reporting(
        ["sh", "-c", script],
        lambda text: text.strip().upper() if "2" in text else None,
        seen.append,
        timeout=60,
        keep=2,
    )
    assert code == 3 and seen == ["LINE 2"] and tail == "line 4\noops"


def test_run_reporting_kills_what_outlives_its_timeout() -> None:
    code, _ = run_reporting(["sleep", "30"], lambda _: None, lambda _: None, timeout=0.5)
    assert code == -9


def test_install_says_what_it_will_do_first() -> None:
    r = CliRunner().invoke(cli, ["infra", "install", "--no-apt"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith(("will download from Maven Central into ", "service jars: all "))
    assert lines[1] == "then: compile squall's Storm plugins when their sources changed"
    assert lines[-1].startswith("install done in ")
