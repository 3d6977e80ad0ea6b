"""squall as a streamparse user installs it: the built wheel in a fresh virtualenv of each of Python 3.11, 3.12
and 3.13 (pinned dependencies from requirements.lock), then `sparse quickstart wordcount` run by `squall run` in
both hostings for a few seconds: words are counted. One venv also has streamparse reinstalled over squall, which
every `squall` command must notice and `squall doctor --fix` must repair.

The wheel is built once; pip's own cache makes the installs after the first quick (about a minute in all).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHONS = ("3.11", "3.12", "3.13")
PYENV = Path.home() / ".pyenv" / "versions"

pytestmark = [pytest.mark.install, pytest.mark.timeout(900)]


def interpreter(version: str) -> str | None:
    """The newest pyenv build of `version`, else a working python<version> on PATH (pyenv's shims may not be)."""
    builds = sorted(PYENV.glob(f"{version}.*/bin/python{version}"))
    if builds:
        return str(builds[-1])
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "-c", "pass"], capture_output=True, timeout=60).returncode == 0:
        return found
    return None


def sh(cmd: list[str], cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """squall's wheel, built from a copy of what goes in it (the checkout stays free of build/ folders)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "squall", src / "squall", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    sh([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)])
    (built,) = out.glob("squall-*.whl")
    return built


@pytest.fixture(scope="module")
def venvs(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """version -> the bin/ folder of a fresh venv with the wheel installed (all three made at once)."""
    base = tmp_path_factory.mktemp("venvs")

    def make(version: str) -> Path | None:
        python = interpreter(version)
        if python is None:
            return None
        venv = base / f"py{version}"
        sh([python, "-m", "venv", str(venv)])
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        sh([*pip, "-r", str(ROOT / "requirements.lock"), str(wheel)], timeout=900)
        return venv / "bin"

    with ThreadPoolExecutor(len(PYTHONS)) as pool:
        made = dict(zip(PYTHONS, pool.map(make, PYTHONS), strict=True))
    return {v: b for v, b in made.items() if b is not None}


@pytest.fixture(scope="module")
def quickstart(venvs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("project")
    bin_dir = venvs[max(venvs)]  # the newest Python's `sparse` (3.12 and later ship no setuptools)
    sh([str(bin_dir / "sparse"), "quickstart", "wordcount"], cwd=where)
    return where / "wordcount"


@pytest.mark.parametrize("version", PYTHONS)
@pytest.mark.parametrize("hosting", [[], ["--inline"]], ids=["process", "inline"])
def test_quickstart_wordcount_counts_words(
    venvs: dict[str, Path], quickstart: Path, version: str, hosting: list[str]
) -> None:
    if version not in venvs:
        pytest.skip(f"no Python {version} on this machine (python{version} or ~/.pyenv/versions/{version}.*)")
    bin_dir = venvs[version]
    out = sh([str(bin_dir / "python"), "-c", "import sys; print(sys.version_info[:2])"]).stdout
    assert out.strip() == str(tuple(int(x) for x in version.split(".")))
    ran = sh(
        [str(bin_dir / "squall"), "run", "-n", "wordcount", "-t", "4", "--json", *hosting], cwd=quickstart
    )
    summary = json.loads(ran.stdout)
    assert summary["hosting"] == ("inline" if hosting else "process")
    comps = {c["name"]: c for c in summary["components"]}
    assert comps["word_spout"]["emitted"] > 0
    assert comps["count_bolt"]["executed"] > 0 and comps["count_bolt"]["emitted"] > 0
    assert not summary["errors"] and not summary["gave_up"]
    assert "Warning" not in ran.stderr, ran.stderr


def test_reinstalled_streamparse_is_noticed_and_repaired(venvs: dict[str, Path], quickstart: Path) -> None:
    version, bin_dir = next(reversed(venvs.items()))
    sparse = bin_dir / "sparse"
    assert "squall.storm.sparse" in sparse.read_text()
    sh(
        [
            str(bin_dir / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--force-reinstall",
            "--no-deps",
            "streamparse==5.0.1",
        ]
    )
    assert "squall.storm.sparse" not in sparse.read_text(), "pip kept squall's sparse: nothing to test"
    ran = subprocess.run(
        [str(bin_dir / "squall"), "run", "-n", "wordcount", "-t", "1", "--json"],
        cwd=quickstart,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0
    assert f"warning: {sparse} is streamparse's own `sparse` (streamparse was reinstalled)" in ran.stderr
    doctor = subprocess.run(
        [str(bin_dir / "squall"), "doctor"], cwd=quickstart, capture_output=True, text=True, timeout=300
    )
    assert doctor.returncode == 1, doctor.stdout
    assert f"FAIL sparse command: {sparse} is streamparse's own (the layer is gone)" in doctor.stdout
    fixed = subprocess.run(
        [str(bin_dir / "squall"), "doctor", "--fix"],
        cwd=quickstart,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert f"fixed: {sparse} runs squall's Storm 2.8 compatibility layer again" in fixed.stdout
    assert "OK   sparse command:" in fixed.stdout and "OK   compatibility layer:" in fixed.stdout
    assert "FAIL" not in fixed.stdout, fixed.stdout
    version_line = sh([str(sparse), "--version"]).stdout
    assert "Storm 2.8 compatibility layer" in version_line, version
    listed = sh([str(sparse), "submit", "--help"], cwd=quickstart)  # streamparse imports on this Python
    assert "usage: sparse submit" in listed.stdout and listed.stderr == "", listed.stderr
