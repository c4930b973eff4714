"""Puts stand-in checksums where the published ones are, in the subprocesses of the paper
profile's end-to-end test (tests/test_paper_profile.py puts this folder on their PYTHONPATH).

Python imports `sitecustomize` at start-up. This one imports nothing heavy (the numeric contract
must still come before numpy and torch): it patches each listed module right after the module
itself is imported. $DLREPRO_STANDIN_CHECKSUMS names a JSON list of {"module", "path", "value"}:
`path` walks attribute names and dict keys from the module to the published checksum.
"""

import importlib.machinery
import json
import os
import sys


def target(root: object, path: list) -> tuple[object, object]:
    """The object holding the last step of `path`, and that step."""
    for step in path[:-1]:
        root = root[step] if isinstance(root, dict) else getattr(root, step)
    return root, path[-1]


def _patch(module: object, path: list, value: object) -> None:
    holder, last = target(module, path)
    if isinstance(holder, dict):
        holder[last] = value
    else:
        setattr(holder, last, value)


class _AfterImport:
    def __init__(self, patches: dict[str, list[dict]]) -> None:
        self.patches = patches

    def find_spec(self, name, path=None, target=None):
        if name not in self.patches:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            return None
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            for patch in self.patches[name]:
                _patch(module, patch["path"], patch["value"])

        spec.loader.exec_module = exec_module
        return spec


if os.environ.get("DLREPRO_STANDIN_CHECKSUMS"):
    with open(os.environ["DLREPRO_STANDIN_CHECKSUMS"]) as handle:
        by_module: dict[str, list[dict]] = {}
        for entry in json.load(handle):
            by_module.setdefault(entry["module"], []).append(entry)
    sys.meta_path.insert(0, _AfterImport(by_module))
