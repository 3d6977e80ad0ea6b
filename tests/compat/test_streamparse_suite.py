"""streamparse's own test suite, for the pinned streamparse, passes with squall's compatibility patches installed.

The source distribution is downloaded from PyPI at test time (`pip download --no-binary :all:`) into
.state/compat/ (git ignores .state/), once per version. Only its `test/` folder is copied out and run, so the
streamparse under test is the installed one, patched by `squall.storm.patches.install()` from a conftest.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".state" / "compat"
# streamparse 5.0.1's suite: 57 tests, all of which pass unpatched on this project's pins.
EXPECTED_TESTS = {"5.0.1": 57}

CONFTEST = textwrap.dedent(
    """
    import streamparse.cli.common
    import streamparse.cli.submit
    import streamparse.util

    from squall.storm import patches
    from squall.storm.patching import is_installed

    patches.install()
    # The suite must see the patched functions, not streamparse's own.
    assert is_installed()
    for fn in (
        streamparse.cli.common.resolve_options,
        streamparse.util.get_env_config,
        streamparse.cli.submit.submit_topology,
    ):
        assert fn.__code__.co_filename == patches.__file__, fn
    """
)


def pinned_version(package: str) -> str:
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, _, version = line.strip().partition("==")
        if name.lower() == package:
            return version
    raise AssertionError(f"requirements.lock pins no {package}")


def sdist(version: str) -> Path:
    """streamparse-<version>.tar.gz from PyPI, cached under .state/compat/."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"streamparse-{version}.tar.gz"
    if not path.is_file():
        res = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-binary", ":all:",
             "--no-deps", f"streamparse=={version}", "-d", str(CACHE)],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert res.returncode == 0 and path.is_file(), f"pip download failed:\n{res.stdout}\n{res.stderr}"
    return path


def test_streamparse_own_suite_passes_with_the_patches_installed(tmp_path: Path) -> None:
    version = pinned_version("streamparse")
    if version not in EXPECTED_TESTS:
        pytest.fail(
            f"streamparse=={version}: add its test count to EXPECTED_TESTS after checking it unpatched"
        )
    with tarfile.open(sdist(version)) as tar:
        tar.extractall(tmp_path, filter="data")
    suite = tmp_path / "suite"
    shutil.copytree(tmp_path / f"streamparse-{version}" / "test", suite / "test")
    (suite / "conftest.py").write_text(CONFTEST)
    (suite / "pytest.ini").write_text("[pytest]\n")
    report = tmp_path / "report.xml"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "test", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=suite, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = res.stdout[-6000:] + res.stderr[-2000:]
    assert report.is_file(), output
    totals = ET.parse(report).getroot().find("testsuite")
    assert totals is not None, output
    counts = {key: int(totals.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
    assert counts == {"tests": EXPECTED_TESTS[version], "failures": 0, "errors": 0, "skipped": 0}, output
    assert res.returncode == 0, output
    assert re.search(rf"\b{EXPECTED_TESTS[version]} passed\b", res.stdout), output
