"""Storm 2.8 support for streamparse 5.0.1: the compatibility layer behind the project's `sparse` command.

streamparse 5.0.1 targets Storm 1.x and a `src/` project layout. Users keep typing `sparse submit|run|list|kill`;
the `sparse` console script of this project (squall.storm.sparse:main) installs the patches below into
streamparse, then hands over to streamparse's own `main`. Nothing else is changed, and nothing is patched unless
that script (or `python -m squall.storm`) runs.

- resources (`patches._prepare_topology`): the jar's `resources/` is staged by squall.resources (src/, spouts/,
  bolts/) plus the `squall` framework package, instead of a copy of `src/` only.
- imports (`_get_topology_from_file`): the project root and `src/` go on sys.path before the topology file loads.
- envs (`_get_env_config`): `-e` may be omitted when config.json has one env (as streamparse; several is a
  ConfigError listing them, as for `squall run`); a relative `virtualenv_root` is resolved against the project
  root, so workers on the loopback cluster run the project's own `.venv`.
- options and parallelism (`options.py`): squall.config's precedence and validation (topology < env < CLI),
  `squall.pipeline` settings in the topology conf, msgpack selects squall's Java serializer. Bad values raise
  ConfigError before any jar is built or anything is submitted.
- jar (`jar.py`): always an uber-jar of the project's own classes (msgpack-core, the msgpack serializer) with
  Storm itself `provided`; Maven Central only.
- `sparse run` (`local.py`): Storm 2 local mode (`org.apache.storm.LocalCluster` running a submitting main),
  since Storm 2 rejects `storm jar ... --local` and ships no Flux `--local`.

Every replaced function keeps streamparse's parameters and kind of result, so other callers (and streamparse's
own test suite, run by tests/compat) see streamparse's contracts: `resolve_options` applies squall's rules only
to an env config the layer's `get_env_config` loaded, and config.json is checked in `submit_topology` (before
Nimbus or lein) rather than in the CLI's `main`.
"""
