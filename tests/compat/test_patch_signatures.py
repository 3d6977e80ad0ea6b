"""Every function the compatibility layer replaces takes the same parameters as streamparse's own."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import inspect, json
    import streamparse.cli.common as common, streamparse.cli.jar as jar, streamparse.cli.run as run
    import streamparse.cli.submit as submit, streamparse.util as util
    from squall.storm import patches

    where = {
        "get_env_config": util, "get_topology_from_file": util, "prepare_topology": util,
        "get_nimbus_host_port": util, "resolve_options": common, "jar_for_deploy": jar,
        "run_local_topology": run, "submit_topology": submit,
    }
    before = {name: getattr(mod, name) for name, mod in where.items()}
    patches.install()
    def params(fn):  # name, kind and default of each parameter; annotations are squall's additions
        return [[p.name, p.kind.name, repr(p.default)] for p in inspect.signature(fn).parameters.values()]

    out = {}
    for name, mod in where.items():
        after = getattr(mod, name)
        out[name] = [after is not before[name], params(before[name]), params(after)]
    print(json.dumps(out))
    """
)


def test_patched_functions_keep_streamparse_signatures() -> None:
    res = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 0, res.stderr
    found = json.loads(res.stdout)
    assert len(found) == 8
    for name, (replaced, original, patched) in found.items():
        assert replaced, f"{name} was not replaced"
        assert patched == original, (name, original, patched)
