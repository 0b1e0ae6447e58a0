"""Load the catalog: one YAML file per hardware model, one per role, checked and merged.

Layout of a catalog directory (the built-in one is this package's directory)::

    models/<kind>/<key>.yaml     kind: printers, displays, cash, card_readers, keypads,
                                 led_panels, document_printers
    roles/<key>.yaml             dispenser, board, kiosk

Each file holds one top-level key equal to its file name (as escpos-printer-db does), and under
it ``schema_version: 1``, optionally ``inherits: <key of the same kind>`` and ``abstract: true``
(a base that is never chosen), then the facts. A child's mapping values merge into its
parent's; any other value replaces the parent's; an empty value (``usb:``) removes it.

Two passes, both through :mod:`common.validation` and the models of profile_models.py: each file is
checked against its model's all-optional twin (partial.py: types, limits, unknown keys; no
required keys, no defaults), key by key, so a bad value is reported in the file that holds it;
the merged result of a model and everything it inherits is then converted into the model
itself (required keys, defaults), checked across fields and against its serial driver's
declaration (ports.py). A missing key is reported in the model that lacks it, with the files it
may go in; a bad value in the file that holds it; YAML line numbers come along.

:func:`build_catalog` is pure (file texts in, :class:`Catalog` out, every problem of every
file in one :class:`CatalogError`); :func:`load_catalog` only reads the files.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

import msgspec
import yaml

from common.validation import Invalid, PathPart, convert, describe, did_you_mean, format_path
from firmware_profiles.catalog import Catalog, Profile, Role, Slot, freeze, plain
from firmware_profiles.errors import CatalogError, ProfileError, SchemaError
from firmware_profiles.partial import partial_model, without_removals
from firmware_profiles.ports import port_problems
from firmware_profiles.profile_models import KINDS, META_KEYS, SCHEMA_VERSION, RoleTemplate, check_role

__all__ = [
    "BUILTIN_ROOT",
    "ROLES",
    "Catalog",
    "Profile",
    "Role",
    "Slot",
    "build_catalog",
    "catalog_files",
    "load_catalog",
]

BUILTIN_ROOT = Path(__file__).resolve().parent
"""The catalog shipped with madoguchi."""

ROLES = "roles"
KeyPath = tuple[PathPart, ...]
# libyaml parses several times faster than PyYAML's Python parser (an app may read the catalog
# at start); the constructor, which refuses duplicate keys, is Python either way.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --------------------------------------------------------------------------------------------
# reading YAML
# --------------------------------------------------------------------------------------------


class _Loader(_BaseLoader):  # type: ignore[misc]
    """SafeLoader that refuses a key written twice (PyYAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # unhashable: SafeLoader reports it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the key {key!r} is written twice (first on line {first}); keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        mapping: dict[Any, Any] = super().construct_mapping(node, deep)
        return mapping


def _line_index(node: yaml.Node | None, path: KeyPath = ()) -> dict[KeyPath, int]:
    if node is None:
        return {}
    out = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = (*path, key_node.value)
                out.update(_line_index(value_node, child))
                out[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.update(_line_index(item, (*path, i)))
    return out


def _parse_yaml(rel: str, text: str) -> tuple[Any, dict[KeyPath, int]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}: " if mark else ""
        raise SchemaError(
            rel, "", f"{where}not valid YAML: {err.problem or err.context}", mark.line + 1 if mark else None
        ) from err
    except yaml.YAMLError as err:
        raise SchemaError(rel, "", f"not valid YAML: {err}") from err
    finally:
        loader.dispose()
    return data, _line_index(node)


# --------------------------------------------------------------------------------------------
# one file
# --------------------------------------------------------------------------------------------


_ABSENT: Any = object()


@dataclass
class _Raw:
    rel: str
    kind: str
    key: str
    body: dict[str, Any]
    inherits: str | None
    abstract: bool
    lines: dict[KeyPath, int]

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path`` in this file, or of the nearest enclosing key that is there."""
        full: KeyPath = (self.key, *path)
        while full:
            if full in self.lines:
                return self.lines[full]
            full = full[:-1]
        return None

    def has(self, path: KeyPath) -> bool:
        node: Any = self.body
        for part in path:
            if isinstance(node, Mapping):
                # A mapping's key may be data (a ccTalk channel, 5) that a path writes as "5".
                key = next((k for k in node if k == part or str(k) == part), _ABSENT)
                if key is _ABSENT:
                    return False
                node = node[key]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                return False
        return True

    def error(self, path: KeyPath, message: str) -> SchemaError:
        return SchemaError(self.rel, format_path(path), message, self.line(path))


def _kind_of(rel: str) -> str | None:
    parts = PurePosixPath(rel).parts
    if len(parts) == 2 and parts[0] == ROLES:
        return ROLES
    if len(parts) == 3 and parts[0] == "models" and parts[1] in KINDS:
        return parts[1]
    return None


def _read_one(rel: str, text: str, errors: list[SchemaError]) -> _Raw | None:
    kind = _kind_of(rel)
    stem = PurePosixPath(rel).stem
    if kind is None:
        parts = PurePosixPath(rel).parts
        if len(parts) == 3 and parts[0] == "models":
            hint = did_you_mean(parts[1], list(KINDS))
            errors.append(
                SchemaError(rel, "", f"unknown kind {parts[1]!r}{hint}; model directories: {', '.join(KINDS)}")
            )
        else:
            errors.append(
                SchemaError(rel, "", "not a profile location; put models in models/<kind>/ and roles in roles/")
            )
        return None
    try:
        doc, lines = _parse_yaml(rel, text)
    except SchemaError as err:
        errors.append(err)
        return None
    if not isinstance(doc, Mapping) or not doc:
        errors.append(
            SchemaError(rel, "", f"expected one top-level key, {stem}:, with the profile under it; got {_got(doc)}")
        )
        return None
    if len(doc) != 1:
        keys = ", ".join(map(str, doc))
        errors.append(
            SchemaError(
                rel, "", f"expected one top-level key, {stem}:, got {len(doc)} ({keys}); put everything under {stem}:"
            )
        )
        return None
    ((key, body),) = doc.items()
    if key != stem:
        errors.append(
            SchemaError(
                rel,
                str(key),
                f'the top-level key must match the file name: write "{stem}:" (or rename the file to {key}.yaml)',
                lines.get((key,)),
            )
        )
        return None
    raw = _Raw(rel, kind, stem, {}, None, False, lines)
    if not isinstance(body, Mapping):
        errors.append(raw.error((), f"expected the profile (a mapping) under {stem}:, got {_got(body)}"))
        return None
    before = len(errors)
    version = body.get("schema_version")
    if version is None:
        errors.append(
            raw.error(
                ("schema_version",),
                f"required: add schema_version: {SCHEMA_VERSION} (the profile format this file is written in)",
            )
        )
    elif isinstance(version, bool) or version != SCHEMA_VERSION:
        errors.append(
            raw.error(
                ("schema_version",),
                f"expected {SCHEMA_VERSION}, got {_got(version)}; this madoguchi reads profile format {SCHEMA_VERSION}: "
                "rewrite the file in it or upgrade madoguchi",
            )
        )
    inherits = body.get("inherits")
    if inherits is not None and (not isinstance(inherits, str) or not inherits):
        errors.append(
            raw.error(
                ("inherits",), f"expected the key of one {kind} profile, e.g. inherits: epson-tm; got {_got(inherits)}"
            )
        )
    elif inherits == stem:
        errors.append(
            raw.error(("inherits",), "a profile cannot inherit from itself; remove inherits or name its parent")
        )
    abstract = body.get("abstract", False)
    if not isinstance(abstract, bool):
        errors.append(raw.error(("abstract",), f"expected true or false, got {_got(abstract)}"))
    facts = {k: v for k, v in body.items() if k not in META_KEYS}
    model = RoleTemplate if kind == ROLES else KINDS[kind].model
    errors.extend(raw.error(p.parts, p.message) for p in _file_problems(facts, model))
    if len(errors) > before:
        return None
    raw.body, raw.inherits, raw.abstract = facts, inherits, abstract
    return raw


def _file_problems(facts: Mapping[Any, Any], model: type[msgspec.Struct]) -> Iterator[Invalid]:
    """One file's facts against the model's all-optional twin, key by key (so every top-level
    key with a problem is reported, each with its first problem)."""
    twin = partial_model(model)
    names = [f.encode_name for f in msgspec.structs.fields(model)]
    for key, value in without_removals(facts, model).items():
        if not isinstance(key, str):
            yield Invalid((str(key),), f"unknown key {describe(key)}; the keys here are names: {', '.join(names)}")
        elif key not in names:
            # The file's own keys (inherits, …) are known too: "inherit" gets its fix.
            yield Invalid(
                (key,), f"unknown key{did_you_mean(key, [*names, *META_KEYS])}; allowed here: {', '.join(names)}"
            )
        else:
            try:
                convert({key: value}, twin)
            except Invalid as err:
                yield err


def _got(value: object) -> str:
    return "nothing" if value is None else describe(value)


# --------------------------------------------------------------------------------------------
# inheritance
# --------------------------------------------------------------------------------------------


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = _strip_none(value)
    return out


def _strip_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    return copy.deepcopy(value)


def _chains(raws: Mapping[str, _Raw], kind: str, errors: list[SchemaError], broken: set[str]) -> dict[str, list[_Raw]]:
    """For every file whose ancestry is sound: the file, its parent, … up to the root. A file
    whose ancestor is broken is left out silently (the ancestor's error says it all) and joins
    ``broken``."""
    chains: dict[str, list[_Raw]] = {}
    reported: set[frozenset[str]] = set()
    for key in sorted(raws):
        chain = [raws[key]]
        seen = [key]
        broken_chain = False
        while chain[-1].inherits is not None:
            parent = chain[-1].inherits
            if parent in seen:
                cycle = seen[seen.index(parent) :] + [parent]
                members = frozenset(cycle)
                if key in members and members not in reported:
                    reported.add(members)
                    errors.append(
                        chain[-1].error(
                            ("inherits",), f"inheritance cycle {' -> '.join(cycle)}; remove one of these inherits"
                        )
                    )
                broken_chain = True
                break
            if parent in broken:
                broken.add(key)
                broken_chain = True
                break
            if parent not in raws:
                if len(chain) == 1:
                    where = "roles/" if kind == ROLES else f"models/{kind}/"
                    errors.append(
                        chain[-1].error(
                            ("inherits",),
                            f"unknown {kind} profile {parent!r}{did_you_mean(parent, sorted(raws))}; "
                            f"a parent is the name of another file in {where}",
                        )
                    )
                broken_chain = True
                break
            chain.append(raws[parent])
            seen.append(parent)
        if broken_chain:
            broken.add(key)
        else:
            chains[key] = chain
    return chains


def _merged(chain: Sequence[_Raw]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for raw in reversed(chain):
        merged = _merge(merged, raw.body)
    return merged


def _full_check(kind: str, chain: Sequence[_Raw]) -> tuple[Any, list[SchemaError]]:
    """The merged chain as its kind's model, and every problem located in its file."""
    spec = KINDS[kind]
    try:
        facts = convert(_merged(chain), spec.model)
    except Invalid as err:
        return None, [_located(chain, err)]
    problems = [*spec.check(facts), *port_problems(kind, facts)]
    return facts, [_located(chain, p) for p in problems]


def _located(chain: Sequence[_Raw], problem: Invalid) -> SchemaError:
    """The error, in the file that holds the bad value (a parent's value is reported once, at
    the parent, not in every model inheriting it); a missing key in the model that lacks it."""
    leaf = chain[0]
    if problem.missing:
        message = problem.message
        if len(chain) > 1:
            message += f"; add it here or to a file it inherits from ({', '.join(r.rel for r in chain[1:])})"
        return leaf.error(problem.parts, message)
    source = next((r for r in chain if r.has(problem.parts)), leaf)
    return source.error(problem.parts, problem.message)


# --------------------------------------------------------------------------------------------
# roles
# --------------------------------------------------------------------------------------------


def _role_check(chain: Sequence[_Raw]) -> tuple[RoleTemplate | None, list[SchemaError]]:
    try:
        template = convert(_merged(chain), RoleTemplate)
    except Invalid as err:
        return None, [_located(chain, err)]
    return template, [_located(chain, p) for p in check_role(template)]


def _role(raw: _Raw, template: RoleTemplate) -> Role:
    slots = []
    for name, slot in template.slots.items():
        default = slot.default
        section = slot.section or name
        slots.append(
            Slot(
                name=name,
                kind=slot.kind,
                required=slot.required,
                multiple=slot.multiple,
                default=default if isinstance(default, tuple) else ((default,) if default else ()),
                needs=slot.needs,
                filter=freeze(slot.filter),
                section=section,
                port_key=slot.port_key or f"{section}.port",
                help=slot.help,
            )
        )
    return Role(
        key=raw.key,
        file=raw.rel,
        name=template.name,
        app=template.app,
        slots=tuple(slots),
        settings=freeze(template.settings),
        sections=MappingProxyType(dict(template.sections)),
        data=freeze(plain(template)),
    )


def _check_role_defaults(
    role: Role, raw: _Raw, catalog: Catalog, broken: Mapping[str, set[str]], errors: list[SchemaError]
) -> None:
    for slot in role.slots:
        for i, key in enumerate(slot.default):
            if key in broken[slot.kind]:
                continue  # the model's own error says what is wrong
            path: KeyPath = ("slots", slot.name, "default", i) if slot.multiple else ("slots", slot.name, "default")
            try:
                profile = catalog.model(slot.kind, key)
            except ProfileError as err:
                errors.append(raw.error(path, str(err)))
                continue
            if profile.key != key:
                errors.append(raw.error(path, f"write the model's key, {profile.key}"))
                continue
            refusal = slot.refusal(profile)
            if refusal:
                errors.append(raw.error(path, f"{refusal}; choose another default"))


# --------------------------------------------------------------------------------------------
# the catalog
# --------------------------------------------------------------------------------------------


def build_catalog(files: Mapping[str, str], root: str = "<memory>") -> Catalog:
    """The catalog from file texts keyed by their path inside the catalog
    (``"models/printers/tm-t88v.yaml"``). CatalogError lists every problem of every file."""
    errors: list[SchemaError] = []
    raws: dict[str, dict[str, _Raw]] = {kind: {} for kind in (*KINDS, ROLES)}
    broken: dict[str, set[str]] = {kind: set() for kind in (*KINDS, ROLES)}
    for rel in sorted(files):
        raw = _read_one(rel, files[rel], errors)
        if raw is not None:
            raws[raw.kind][raw.key] = raw
        elif (kind := _kind_of(rel)) is not None:
            broken[kind].add(PurePosixPath(rel).stem)
    profiles: dict[str, dict[str, Profile]] = {kind: {} for kind in KINDS}
    abstract: dict[str, frozenset[str]] = {}
    for kind in KINDS:
        abstract[kind] = frozenset(key for key, raw in raws[kind].items() if raw.abstract)
        for key, chain in _chains(raws[kind], kind, errors, broken[kind]).items():
            if chain[0].abstract:
                continue
            facts, problems = _full_check(kind, chain)
            # A parent's bad value is reported once, at the parent, not once per child.
            errors.extend(p for p in problems if str(p) not in {str(e) for e in errors})
            if problems:
                broken[kind].add(key)
            else:
                profiles[kind][key] = Profile.of(kind, key, chain[0].rel, tuple(r.key for r in chain), facts)
    roles: dict[str, Role] = {}
    role_raws: dict[str, _Raw] = {}
    for key, chain in _chains(raws[ROLES], ROLES, errors, broken[ROLES]).items():
        if chain[0].abstract:
            continue
        template, problems = _role_check(chain)
        errors.extend(problems)
        if template is not None and not problems:
            roles[key] = _role(chain[0], template)
            role_raws[key] = chain[0]
    catalog = Catalog(
        root=root,
        profiles=MappingProxyType({k: MappingProxyType(v) for k, v in profiles.items()}),
        abstract=MappingProxyType(abstract),
        roles=MappingProxyType(roles),
    )
    for key, role in roles.items():
        _check_role_defaults(role, role_raws[key], catalog, broken, errors)
    if errors:
        raise CatalogError(errors)
    return catalog


def catalog_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Every file under a catalog directory that looks like a profile, as (relative path, path)."""
    for folder in (root / "models", root / ROLES):
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and path.suffix in (".yaml", ".yml"):
                    yield path.relative_to(root).as_posix(), path


def load_catalog(root: str | Path | None = None) -> Catalog:
    """Read and validate the catalog under ``root`` (the built-in one when None)."""
    base = Path(root) if root is not None else BUILTIN_ROOT
    if not base.is_dir():
        raise ProfileError(f"{base}: no such profile directory")
    files: dict[str, str] = {}
    errors: list[SchemaError] = []
    for rel, path in catalog_files(base):
        if path.suffix == ".yml":
            errors.append(SchemaError(rel, "", f"profile files end in .yaml: rename it to {path.stem}.yaml"))
            continue
        try:
            files[rel] = path.read_text(encoding="utf-8")
        except OSError as err:
            errors.append(SchemaError(rel, "", f"cannot read it ({err.strerror})"))
        except UnicodeDecodeError as err:
            errors.append(SchemaError(rel, "", f"not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8"))
    if not files and not errors:
        raise ProfileError(f"{base}: no profiles (expected models/<kind>/*.yaml and roles/*.yaml)")
    try:
        catalog = build_catalog(files, root=str(base))
    except CatalogError as err:
        raise CatalogError([*errors, *err.errors]) from None
    if errors:
        raise CatalogError(errors)
    return catalog
