"""The stack configuration of meshbridge, the layer before the wiring: configuration in, wiring out.

- `model.py`: the typed model (one pydantic class per `meshbridge:*` section, `MeshConfig`);
- `checks.py`: the checks that need several values at once, one function per section;
- `strict.py` (with `exposure.py` and `trafficpolicy.py`): the fail-closed checks of what would be
  applied (trafficPolicy and distributed Istio objects against the pinned Istio schemas, ownership,
  exposure of distributed objects);
- `routing.py`: the requests that reach each rule of `services[].routing`;
- `load.py`: reading the stack (`yamlsafe.py`, the bounded YAML reader) and running all of the above
  (`load_stack_config`, `parse_config`);
- `problems.py`: how a problem is written (`ConfigError`, one line starting with its key path).

Every key is documented in docs/configuration.md. The modules import each other in that order
(problems <- model <- checks <- load). Of the wiring (`stacks/*.py`) they import only the pure
`stacks/names.py` and, inside the two checks that need them, `stacks/migration.py` (the previous
outputs) and `stacks/checks.py`'s `planned_jobs`; the wiring imports them. This package module
re-exports nothing: import from the module that defines a name (`stacks.config.load.parse_config`,
`stacks.config.model.MeshConfig`), so that no module of the package imports itself through it.
"""
