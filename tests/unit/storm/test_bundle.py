"""Self-contained jars: settings, the components' boot command, the staged bundle and the worker's checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from streamparse import Bolt, Spout, Topology

from squall.errors import ConfigError
from squall.storm import bundle, bundle_boot


class _Spout(Spout):
    outputs = ["n"]


class _Bolt(Bolt):
    outputs = ["n"]


class _Topo(Topology):
    src = _Spout.spec(par=1)
    work = _Bolt.spec(inputs=[src], par=1)


def test_settings_off_by_default_and_on_with_use_virtualenv_false() -> None:
    assert bundle.settings_for({"use_virtualenv": True}, "dev") is None
    on = bundle.settings_for({"use_virtualenv": False, "bundle_python": True}, "b")
    assert on == bundle.BundleSettings(interpreter=f"python{sys.version_info[0]}.{sys.version_info[1]}")
    custom = bundle.settings_for(
        {"use_virtualenv": False, "bundle_python": True, "bundle_interpreter": "/usr/bin/python3.11"}, "b"
    )
    assert custom is not None and custom.interpreter == "/usr/bin/python3.11"


@pytest.mark.parametrize(
    ("env", "key", "fix"),
    [
        ({"bundle_python": True}, "envs.b.use_virtualenv", "set use_virtualenv to false"),
        ({"bundle_python": True, "use_virtualenv": True}, "envs.b.use_virtualenv", "use_virtualenv to false"),
        ({"bundle_python": "yes", "use_virtualenv": False}, "envs.b.bundle_python", "true or false"),
        (
            {"bundle_python": True, "use_virtualenv": False, "bundle_interpreter": "python3 -u"},
            "envs.b.bundle_interpreter",
            "worker's Python",
        ),
        ({"bundle_interpreter": "python3.11"}, "envs.b.bundle_interpreter", "set bundle_python to true"),
    ],
)
def test_bad_settings_name_key_and_fix(env: dict, key: str, fix: str) -> None:
    with pytest.raises(ConfigError) as err:
        bundle.settings_for(env, "b")
    assert err.value.key == key
    assert fix in str(err.value)


def test_components_boot_from_the_jar_with_streamparse_arguments_intact() -> None:
    settings = bundle.BundleSettings(interpreter="python3.11")
    for comp in _Topo.thrift_spouts.values():
        comp.spout_object.shell.script = "-s msgpack " + comp.spout_object.shell.script
    _Topo.thrift_bolts["work"].bolt_object.shell.script = "-s msgpack tests.Work"
    assert bundle.point_components_at_bundle(_Topo, settings) == 2
    shell = _Topo.thrift_bolts["work"].bolt_object.shell
    assert shell.execution_command == "python3.11"
    assert shell.script == "-cfrom _squall_bundle.boot import main; main('-s msgpack tests.Work')"
    # A shell component that is not streamparse's (e.g. `node splitsentence.js`) is left alone.
    shell.execution_command, shell.script = "node", "splitsentence.js"
    assert bundle.point_components_at_bundle(_Topo, settings) == 0  # the spout was rewritten already
    assert (shell.execution_command, shell.script) == ("node", "splitsentence.js")


def test_boot_command_runs_as_python_does_it_in_resources(tmp_path: Path) -> None:
    """The two arguments Storm passes really reach boot.main: a stand-in boot module records its argument."""
    pkg = tmp_path / bundle.BUNDLE_DIR
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "boot.py").write_text("import sys\ndef main(script):\n    sys.stderr.write(script)\n")
    command, script = bundle.boot_command(bundle.BundleSettings(sys.executable), "-s json bolts.a.B")
    res = subprocess.run([command, script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert res.stderr == "-s json bolts.a.B"
    assert res.stdout == ""


def test_stage_bundle_copies_wheels_boot_and_manifest(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wh"
    wheelhouse.mkdir()
    names = ["pip-23.2.1-py3-none-any.whl", "six-1.17.0-py2.py3-none-any.whl"]
    for name in names:
        (wheelhouse / name).write_bytes(name.encode())
    (wheelhouse / "requirements.txt").write_text("\n".join(names) + "\n")
    resources = tmp_path / "resources"
    resources.mkdir()
    manifest = bundle.stage_bundle(resources, wheelhouse)
    assert manifest["pip_wheel"] == names[0]
    assert manifest["wheels"] == [names[1]]
    assert manifest["python"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    staged = resources / bundle.BUNDLE_DIR
    assert json.loads((staged / "manifest.json").read_text()) == manifest
    assert (staged / "boot.py").read_text() == Path(bundle_boot.__file__).read_text()
    assert sorted(p.name for p in (staged / "wheelhouse").iterdir()) == names
    # The key follows the wheels' content: another build of six gives another environment on the workers.
    (wheelhouse / names[1]).write_bytes(b"rebuilt")
    assert bundle.stage_bundle(resources, wheelhouse)["key"] != manifest["key"]


def test_stage_bundle_refuses_a_wheelhouse_without_pip(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six-1.17.0-py2.py3-none-any.whl\n")
    with pytest.raises(bundle.InfraError, match="0 pip wheels"):
        bundle.stage_bundle(tmp_path / "res", tmp_path)


def test_topology_requirements_read_streamparse_spec_file(tmp_path: Path) -> None:
    specs = tmp_path / "virtualenvs"
    specs.mkdir()
    (specs / "topo.txt").write_text("# pinned\nstreamparse==5.0.1\n\n-i https://example.invalid\nsix\n")
    assert bundle.topology_requirements(tmp_path, "virtualenvs/", "topo") == ["streamparse==5.0.1", "six"]
    assert bundle.topology_requirements(tmp_path, "virtualenvs/", "other") == []
    assert bundle.topology_requirements(tmp_path, "virtualenvs/", None) == []


def test_framework_requirements_leave_dev_extras_out() -> None:
    names = {bundle.requirement_name(r) for r in bundle.framework_requirements()}
    assert "streamparse" in names and "kafka-python" in names
    assert "pytest" not in names and "ruff" not in names


def test_wheelhouse_key_changes_with_pins() -> None:
    assert bundle.wheelhouse_key(["a"], ["a==1"]) == bundle.wheelhouse_key(["a"], ["a==1"])
    assert bundle.wheelhouse_key(["a"], ["a==1"]) != bundle.wheelhouse_key(["a"], ["a==2"])


def test_boot_refuses_another_python_with_a_clear_message(tmp_path: Path, capsys) -> None:
    resources = tmp_path / "resources"
    (resources / bundle.BUNDLE_DIR).mkdir(parents=True)
    manifest = {"python": "2.7", "key": "k", "pip_wheel": "pip.whl", "wheels": []}
    (resources / bundle.BUNDLE_DIR / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SystemExit):
        bundle_boot.check_python(bundle_boot.read_manifest(resources))
    err = capsys.readouterr().err
    assert "for Python 2.7" in err and "bundle_interpreter" in err


def test_boot_env_dir_sits_next_to_resources(tmp_path: Path) -> None:
    resources = tmp_path / "stormdist" / "topo-1-2" / "resources"
    resources.mkdir(parents=True)
    got = bundle_boot.env_dir(resources, {"key": "abc"})
    assert got == (tmp_path / "stormdist" / "topo-1-2" / "squall-python" / "abc").resolve()
