"""Each stage's declared params against the keys its command read (`dlrepro.param_reads`).

A read key is one of the merged tree (profile applied); params.yaml holds it in the base, in the
profile's overlay, or in both when each sets part of a block. Those homes are what a stage must
declare. A key that neither holds (a field left at its default) is held by its nearest ancestor
that is written: declaring that block is what re-runs the stage when someone writes the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dlrepro.config import PER_PROFILE


def value_at(tree: Any, parts: list[str]) -> tuple[bool, Any]:
    """(whether `tree` has the key `parts` spell, its value); YAML's non-string keys match too."""
    for part in parts:
        if not isinstance(tree, dict):
            return False, None
        match = [key for key in tree if str(key) == part]
        if not match:
            return False, None
        tree = tree[match[0]]
    return True, tree


def homes(raw: dict[str, Any], key: str) -> set[str]:
    """The keys of params.yaml that hold merged key `key` ("" is the whole tree)."""
    profile = raw["profile"]
    base = {name: value for name, value in raw.items() if name != "profiles"}
    if not key:  # the resolved params: the base and the selected profile, not the others
        return {*base, f"profiles.{profile}"}
    parts = key.split(".")
    found = set()
    for prefix, tree in (("", base), (f"profiles.{profile}", raw["profiles"][profile])):
        exists, value = value_at(tree, parts)
        if exists and value != PER_PROFILE:
            found.add(".".join(filter(None, [prefix, key])))
    if not found:
        return homes(raw, ".".join(parts[:-1]))
    return found


def declared_params(repo: Path) -> dict[str, list[str] | None]:
    """Stage -> its declared keys of params.yaml (None: the whole file)."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    declared: dict[str, list[str] | None] = {}
    with Repo(str(repo)) as dvc:
        for stage in dvc.index.stages:
            for dep in stage.deps:
                if isinstance(dep, ParamsDependency) and Path(dep.def_path).name == "params.yaml":
                    declared[stage.name] = list(dep.params) or None
    return declared


def _under(key: str, block: str) -> bool:
    return key == block or key.startswith(block + ".")


def mismatches(repo: Path, reads: Path, unread: bool = True) -> list[str]:
    """One line per stage whose declared params differ from what it read: keys it read without
    declaring them; and (`unread`) per `foreach`, entries of its params list that no stage it
    makes reads (entry by entry: `s2.archs.${item.arch}` is read if one of its stages reads its
    own arch). A stage that declares the whole file (check_params validates all of it) is not
    compared. A profile whose switches leave some reads out (the paper profile's ImageNet bases
    pretrain nothing) is checked for undeclared reads only."""
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    declared = declared_params(repo)
    problems = []
    entries_read: dict[str, list[bool]] = {}
    examples: dict[str, list[str]] = {}
    for stage, keys in sorted(declared.items()):
        if keys is None:
            continue
        record = reads / f"{stage}.txt"
        if not record.exists():
            problems.append(f"{stage}: recorded no read of params (did its command run?)")
            continue
        read = set().union(*(homes(raw, key) for key in record.read_text().split("\n") if key))
        undeclared = sorted(k for k in read if not any(_under(k, d) for d in keys))
        if undeclared:
            problems.append(f"{stage}: reads undeclared {', '.join(undeclared)}")
        used = [any(_under(k, d) or _under(d, k) for k in read) for d in keys]
        template = stage.split("@")[0]
        before = entries_read.setdefault(template, [False] * len(keys))
        entries_read[template] = [a or b for a, b in zip(before, used, strict=True)]
        examples.setdefault(template, keys)
    for template, used in sorted(entries_read.items()) if unread else []:
        never = [key for key, read in zip(examples[template], used, strict=True) if not read]
        if never:
            problems.append(f"{template}: declares {', '.join(never)}, which none of it reads")
    return problems
