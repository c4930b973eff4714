"""Which params keys a stage command reads: the evidence behind dvc.yaml's exact params deps.

DVC re-runs a stage when a params key it declares changes, so a key a stage reads but does not
declare can leave a stale result, and a key it declares but never reads re-runs it for nothing.
With `DLREPRO_RECORD_PARAM_READS=<folder>` set, every read of the validated params (a field, a
mapping entry, a whole block through `model_dump`, a field of a `model_copy`) is appended as a
dotted key of the merged tree (`s1.train.lr`, whatever profile set it) to
`<folder>/<stage>.txt`, the stage named by DVC's `DVC_STAGE`. Forked seed workers append their
own reads to the same file. The smoke pipeline test (`tests/param_deps.py`) maps each key to
where params.yaml holds it and compares with the stage's declared params. Off (the default),
nothing here runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

RECORD_ENV = "DLREPRO_RECORD_PARAM_READS"

_paths: dict[int, str] = {}
"""id() of a followed model or mapping -> its dotted key ("" for the root)."""
_followed: list[Any] = []
"""The followed objects, kept alive so that no other object takes their id()."""
_seen: set[str] = set()
_record_file: Path | None = None
_paused = False


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _read(path: str) -> None:
    if _paused or _record_file is None or path in _seen:
        return
    _seen.add(path)
    with _record_file.open("a") as handle:  # one short line per append: workers may share it
        handle.write(path + "\n")


def _read_value(path: str, value: Any) -> None:
    """A read that reached `value`: followed models and mappings record their own reads."""
    if id(value) not in _paths:
        _read(path)


class _ReadMapping(dict):
    """A params mapping (`s1.variants`) recording which entries are read; walking all of it
    (keys, values, items, len) reads the whole mapping, its set of names included."""

    def __getitem__(self, key: Any) -> Any:
        value = super().__getitem__(key)
        _read_value(_join(_paths[id(self)], key), value)
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if super().__contains__(key) else default

    def __contains__(self, key: object) -> bool:
        found = super().__contains__(key)
        _read(_join(_paths[id(self)], key) if found else _paths[id(self)])
        return found

    def _whole(self) -> None:
        _read(_paths[id(self)])

    def __iter__(self) -> Iterator[Any]:
        self._whole()
        return super().__iter__()

    def __len__(self) -> int:
        self._whole()
        return super().__len__()

    def keys(self):  # type: ignore[override]
        self._whole()
        return super().keys()

    def values(self):  # type: ignore[override]
        self._whole()
        return super().values()

    def items(self):  # type: ignore[override]
        self._whole()
        return super().items()

    def __reduce__(self) -> tuple[Any, ...]:  # a spawned or remote worker gets a plain dict
        return dict, (dict(self),)


def _follow(value: Any, path: str) -> Any:
    """`value` with its models and mappings registered under `path`; mappings inside a model
    are swapped for recording ones."""
    if isinstance(value, BaseModel):
        _paths[id(value)] = path
        _followed.append(value)
        for name in type(value).model_fields:
            field = value.__dict__[name]
            followed = _follow(field, _join(path, name))
            if followed is not field:
                object.__setattr__(value, name, followed)  # the model is frozen
    elif isinstance(value, dict):
        # dict.items: walking a recording mapping to follow it is no read of it
        mapping = _ReadMapping(
            {key: _follow(item, _join(path, key)) for key, item in dict.items(value)}
        )
        _paths[id(mapping)] = path
        _followed.append(mapping)
        return mapping
    return value


def _getattribute(self: BaseModel, name: str) -> Any:
    value = object.__getattribute__(self, name)
    path = _paths.get(id(self))
    if path is not None and name in type(self).model_fields:
        _read_value(_join(path, name), value)
    return value


def _model_dump(self: BaseModel, *args: Any, **kwargs: Any) -> Any:
    path = _paths.get(id(self))
    if path is not None:
        fields = set(type(self).model_fields)
        include, exclude = kwargs.get("include"), kwargs.get("exclude")
        if include is not None:
            fields &= set(include)
        if exclude is not None:
            fields -= set(exclude)
        for name in fields:
            _read(_join(path, name))
    return _plain_model_dump(self, *args, **kwargs)


def _model_copy(self: BaseModel, *args: Any, **kwargs: Any) -> Any:
    """A copy (`update=` a few fields for a dry run) is read as the params it copies."""
    copy = _plain_model_copy(self, *args, **kwargs)
    path = _paths.get(id(self))
    return copy if path is None else _follow(copy, path)


_plain_model_dump, _plain_model_copy = BaseModel.model_dump, BaseModel.model_copy


def start(params: BaseModel) -> BaseModel:
    """Record the reads of `params` when `DLREPRO_RECORD_PARAM_READS` names a folder; else
    `params` as it is."""
    global _record_file
    folder = os.environ.get(RECORD_ENV)
    if not folder:
        return params
    stage = os.environ.get("DVC_STAGE") or "command"
    _record_file = Path(folder) / f"{stage.replace('/', '_')}.txt"
    _record_file.parent.mkdir(parents=True, exist_ok=True)
    BaseModel.__getattribute__ = _getattribute  # type: ignore[method-assign]
    BaseModel.model_dump = _model_dump  # type: ignore[method-assign]
    BaseModel.model_copy = _model_copy  # type: ignore[method-assign]
    return follow(params)


def follow(params: BaseModel) -> BaseModel:
    """A params tree built from a recorded one (`config.override`): record its reads too."""
    return _follow(params, "") if _record_file is not None else params


@contextlib.contextmanager
def unrecorded() -> Iterator[None]:
    """Reads that only copy the params (into an overridden tree, which is followed itself)."""
    global _paused
    _paused = True
    try:
        yield
    finally:
        _paused = False
