"""The per-file check: a model's twin whose every key is optional, generated from the model.

A profile file may hold part of a model (the rest is inherited), so it cannot be checked against
the model itself: required keys may be in a parent. It is checked against :func:`partial_model`
of it instead - the same keys, types, limits and words, nested models twinned too, but nothing
required and no defaults - so a bad value is reported in the file that holds it. The merged
result is then checked against the model itself (required keys, defaults, cross-field rules).

An empty value (``usb:``) in a file removes what a parent set; :func:`without_removals` takes
those out before the check, where the key is one the model knows.

Pure: no I/O.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec

_UNIONS = (Union, types.UnionType)


@cache
def partial_model(model: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """``model`` with every field optional (default UNSET, so absent keys stay absent), its
    nested models twinned the same way; limits and field words kept."""
    fields = [(f.name, _UNION[_twin(f.type), msgspec.UnsetType], msgspec.UNSET) for f in msgspec.structs.fields(model)]
    config = model.__struct_config__
    return msgspec.defstruct(
        f"Partial{model.__name__}",
        fields,
        frozen=True,
        kw_only=True,
        forbid_unknown_fields=config.forbid_unknown_fields,
        namespace={"noun": getattr(model, "noun", "mapping"), "__doc__": f"{model.__name__}, every key optional."},
        module=__name__,
    )


# The generic forms, as plain values: the twin's types are built at run time.
_ANNOTATED: Any = Annotated
_UNION: Any = Union
_TUPLE: Any = tuple
_LIST: Any = list
_DICT: Any = dict


def _twin(t: Any) -> Any:
    origin = get_origin(t)
    if origin is Annotated:
        base, *metadata = get_args(t)
        return _ANNOTATED[(_twin(base), *metadata)]
    if isinstance(t, type) and issubclass(t, msgspec.Struct):
        return partial_model(t)
    if origin in _UNIONS:
        return _UNION[tuple(_twin(a) for a in get_args(t))]
    if origin in (tuple, list):
        args = get_args(t)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return _TUPLE[_twin(args[0]), ...]
        if origin is list:
            return _LIST[_twin(args[0])]
        return _TUPLE[tuple(_twin(a) for a in args)]
    if origin is dict:
        key, value = get_args(t)
        return _DICT[key, _twin(value)]
    return t


def without_removals(value: Any, model: type[msgspec.Struct]) -> Any:
    """``value`` (a file's mapping for ``model``) without the empty values of keys the model
    knows: in a file they remove what a parent set, and the loader merges them away. An empty
    value of an unknown key stays, to be reported as unknown."""
    if not isinstance(value, Mapping):
        return value
    fields = {f.encode_name: f.type for f in msgspec.structs.fields(model)}
    out: dict[Any, Any] = {}
    for key, item in value.items():
        if key not in fields:
            out[key] = item
        elif item is not None:
            out[key] = _inside(item, fields[key])
    return out


def _inside(value: Any, t: Any) -> Any:
    """Removals inside the value of a field of type ``t`` (a nested model, or a mapping of them)."""
    t = _bare(t)
    if isinstance(t, type) and issubclass(t, msgspec.Struct):
        return without_removals(value, t)
    if get_origin(t) is dict and isinstance(value, Mapping):
        item_type = _bare(get_args(t)[1])
        if isinstance(item_type, type) and issubclass(item_type, msgspec.Struct):
            return {k: without_removals(v, item_type) for k, v in value.items() if v is not None}
        return {k: v for k, v in value.items() if v is not None}
    return value


def _bare(t: Any) -> Any:
    """``t`` without Annotated and without None / UNSET in a union of one other type."""
    while True:
        origin = get_origin(t)
        if origin is Annotated:
            t = get_args(t)[0]
        elif origin in _UNIONS:
            rest = [a for a in get_args(t) if a not in (type(None), msgspec.UnsetType)]
            if len(rest) != 1:
                return t
            t = rest[0]
        else:
            return t
