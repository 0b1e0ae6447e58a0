"""Load the catalog: one YAML file per hardware model, one per role, checked and merged.

Layout of a catalog directory (the built-in one is this package's directory)::

    models/<kind>/<key>.yaml     kind: printers, displays, cash, card_readers, keypads,
                                 led_panels, document_printers
    roles/<key>.yaml             dispenser, board, kiosk

Each file holds one top-level key equal to its file name (as escpos-printer-db does), and under
it ``schema_version: 1``, optionally ``inherits: <key of the same kind>`` and ``abstract: true``
(a base that is never chosen), then the facts. A child's mapping values merge into its
parent's; any other value replaces the parent's; an empty value (``usb:``) removes it.

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

import yaml

from firmware_profiles.errors import CatalogError, ProfileError, SchemaError
from firmware_profiles.schema import (
    KINDS,
    META_KEYS,
    ROLE,
    SCHEMA_VERSION,
    Checker,
    KeyPath,
    Problem,
    describe,
    did_you_mean,
    format_path,
)

BUILTIN_ROOT = Path(__file__).resolve().parent
"""The catalog shipped with madoguchi."""

ROLES = "roles"


# --------------------------------------------------------------------------------------------
# frozen data
# --------------------------------------------------------------------------------------------


def freeze(value: Any) -> Any:
    """A read-only deep copy: mappings become MappingProxyType, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A plain, mutable deep copy of frozen data (dicts and lists), for JSON and TOML."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True, eq=False)
class Profile:
    """One hardware model, merged with everything it inherits and completed with defaults.

    ``key`` is the file name (``tm-t20iii``), ``name`` the maker's (``TM-T20III``), ``chain``
    the keys from this model up through its parents. Ask it questions, never its name:
    ``profile.supports("qr_code")``, ``profile.get("media.width.pixels")``."""

    kind: str
    key: str
    file: str
    chain: tuple[str, ...]
    data: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The maker's model name."""
        return str(self.data["name"])

    def supports(self, capability: str) -> bool:
        """Whether the model has ``capability`` (a feature flag or a fact-derived capability).

        An unknown name raises ProfileError rather than answering False, so a typo in code
        cannot quietly switch a feature off."""
        spec = KINDS[self.kind]
        if capability in spec.derived:
            return spec.derived[capability](self.data)
        if capability in spec.features:
            return bool(self.data.get("features", {}).get(capability, False))
        raise ProfileError(
            f"{self.kind}: unknown capability {capability!r}{did_you_mean(capability, spec.capabilities)}; "
            f"known: {', '.join(spec.capabilities) or 'none'}"
        )

    def get(self, dotted: str, default: Any = None) -> Any:
        """The fact at ``dotted`` (``"media.width.pixels"``), or ``default`` when absent."""
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node

    def to_dict(self) -> dict[str, Any]:
        """The merged facts as plain data."""
        return dict(thaw(self.data))


@dataclass(frozen=True, eq=False)
class Slot:
    """A hardware slot of a role: which kind of model fills it, whether it must, and where its
    settings go in the device configuration (``section``; a serial port at ``port_key``)."""

    name: str
    kind: str
    required: bool
    multiple: bool
    default: tuple[str, ...]
    needs: tuple[str, ...]
    filter: Mapping[str, Any]
    section: str
    port_key: str
    help: str

    def refusal(self, profile: Profile) -> str | None:
        """Why this slot cannot take ``profile``, or None when it can."""
        if profile.kind != self.kind:
            return f"{profile.key} is one of the {profile.kind}, the {self.name} slot takes {self.kind}"
        for key, want in self.filter.items():
            if profile.get(key) != want:
                return f"{profile.key} has {key}: {profile.get(key)}, the {self.name} slot takes {key}: {want}"
        lacking = [cap for cap in self.needs if not profile.supports(cap)]
        if lacking:
            return f"{profile.key} lacks {', '.join(lacking)} (the {self.name} slot needs {', '.join(self.needs)})"
        return None


@dataclass(frozen=True, eq=False)
class Role:
    """A role template: the app a device runs, its hardware slots, the app settings it starts
    from, and the configuration sections (with their keys) the app reads."""

    key: str
    file: str
    name: str
    app: str
    slots: tuple[Slot, ...]
    settings: Mapping[str, Any]
    sections: Mapping[str, tuple[str, ...]]
    data: Mapping[str, Any]

    def slot(self, name: str) -> Slot:
        """The slot called ``name``; ProfileError with a "did you mean" otherwise."""
        for slot in self.slots:
            if slot.name == name:
                return slot
        names = [s.name for s in self.slots]
        raise ProfileError(
            f"the {self.key} role has no slot {name!r}{did_you_mean(name, names)}; its slots: {', '.join(names)}"
        )


@dataclass(frozen=True, eq=False)
class Catalog:
    """Every model (by kind, then key) and every role, all validated."""

    root: str
    profiles: Mapping[str, Mapping[str, Profile]]
    abstract: Mapping[str, frozenset[str]]
    roles: Mapping[str, Role]

    def kind(self, kind: str) -> str:
        """``kind`` checked (a singular like "printer" gets the fix)."""
        if kind in KINDS:
            return kind
        raise ProfileError(
            f"unknown kind of model {kind!r}{did_you_mean(kind, list(KINDS))}; kinds: {', '.join(KINDS)}"
        )

    def models(self, kind: str) -> tuple[Profile, ...]:
        """The selectable models of ``kind`` (abstract bases left out), by key."""
        found = self.profiles.get(self.kind(kind), {})
        return tuple(found[key] for key in sorted(found))

    def model(self, kind: str, name: str) -> Profile:
        """The model of ``kind`` called ``name``: its key (``tm-t88v``), or, forgivingly, the
        key in other case or the maker's name (``TM-T88V``). ProfileError says what exists."""
        found = self.profiles.get(self.kind(kind), {})
        if name in found:
            return found[name]
        folded = name.casefold()
        for profile in found.values():
            if profile.key.casefold() == folded or profile.name.casefold() == folded:
                return profile
        if name in self.abstract.get(kind, frozenset()):
            raise ProfileError(
                f"{kind}: {name} is a base for other models (abstract), not a model; choose one of {', '.join(sorted(found))}"
            )
        raise ProfileError(
            f"{kind}: no model {name!r}{did_you_mean(name, sorted(found))}; known: {', '.join(sorted(found)) or 'none'}"
        )

    def role(self, name: str) -> Role:
        """The role called ``name``; ProfileError with a "did you mean" otherwise."""
        if name in self.roles:
            return self.roles[name]
        raise ProfileError(
            f"no role {name!r}{did_you_mean(name, sorted(self.roles))}; roles: {', '.join(sorted(self.roles))}"
        )


def printer_model_fields(profile: Profile) -> dict[str, Any]:
    """A printer profile as the keyword arguments of ``drivers.printer_models.PrinterModel``
    (the renderer's and status reader's view of the model)."""
    if profile.kind != "printers":
        raise ProfileError(f"{profile.file}: not a printer profile")
    usb = profile.get("usb")
    return {
        "name": profile.name,
        "width_px": profile.get("media.width.pixels"),
        "dpi": profile.get("media.dpi"),
        "escpos_profile": profile.get("escpos_profile"),
        "usb_vendor": usb["vendor"] if usb else None,
        "usb_product": usb["product"] if usb else None,
        "kanji": profile.supports("kanji"),
        "status_queries": tuple(profile.get("status.dle_eot")),
        "fragment_height": profile.get("raster.fragment_height"),
        "needs_escpos_emulation": profile.get("needs_escpos_emulation"),
        "notes": profile.get("notes").strip(),
    }


# --------------------------------------------------------------------------------------------
# reading YAML
# --------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
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
        return super().construct_mapping(node, deep)


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
            in_map = isinstance(node, Mapping) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
            if not (in_map or in_list):
                return False
            node = node[part]
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
    schema = ROLE if kind == ROLES else KINDS[kind].schema
    checker = Checker(partial=True)
    schema.check(facts, (), checker)
    errors.extend(raw.error(p.path, p.message) for p in checker.problems)
    if len(errors) > before:
        return None
    raw.body, raw.inherits, raw.abstract = facts, inherits, abstract
    return raw


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


def _full_check(chain: Sequence[_Raw], schema_check: Any, cross: Any) -> tuple[dict[str, Any], list[SchemaError]]:
    merged: dict[str, Any] = {}
    for raw in reversed(chain):
        merged = _merge(merged, raw.body)
    checker = Checker(partial=False)
    data = schema_check(merged, (), checker)
    if not checker.problems:
        cross(data, checker)
    return data, [_located(chain, p) for p in checker.problems]


def _located(chain: Sequence[_Raw], problem: Problem) -> SchemaError:
    """The error, in the file that holds the bad value (a parent's value is reported once, at
    the parent, not in every model inheriting it); a missing key in the model that lacks it."""
    leaf = chain[0]
    if problem.missing:
        message = problem.message
        if len(chain) > 1:
            message += f"; add it here or to a file it inherits from ({', '.join(r.rel for r in chain[1:])})"
        return leaf.error(problem.path, message)
    source = next((r for r in chain if r.has(problem.path)), leaf)
    return source.error(problem.path, problem.message)


# --------------------------------------------------------------------------------------------
# roles
# --------------------------------------------------------------------------------------------


def _check_role(data: Mapping[str, Any], c: Checker) -> None:
    sections: Mapping[str, Sequence[str]] = data.get("sections", {})
    for name, slot in data.get("slots", {}).items():
        kind = slot["kind"]
        spec = KINDS[kind]
        section = slot.get("section", name)
        head, _, rest = section.partition(".")
        if head not in sections:
            c.add(("slots", name, "section"), f"{head} is not among sections ({', '.join(sections)}); add it there")
        elif rest and rest.split(".")[0] not in sections[head]:
            c.add(("slots", name, "section"), f"{rest.split('.')[0]} is not a key of sections.{head}; add it there")
        port_key = slot.get("port_key")
        if port_key:
            port_head, _, port_rest = port_key.partition(".")
            if port_head not in sections or port_rest.split(".")[0] not in sections[port_head]:
                c.add(("slots", name, "port_key"), f"{port_key} is not a key the app reads (see sections)")
        default = slot.get("default")
        if default is not None and slot["multiple"] != isinstance(default, list):
            want = "a list of model keys" if slot["multiple"] else "one model key"
            c.add(
                ("slots", name, "default"),
                f"expected {want} (multiple: {str(slot['multiple']).lower()}), got {_got(default)}",
            )
        for i, need in enumerate(slot["needs"]):
            if need not in spec.capabilities:
                c.add(
                    ("slots", name, "needs", i),
                    f"unknown capability {need!r} for {kind}{did_you_mean(need, spec.capabilities)}; "
                    f"known: {', '.join(spec.capabilities)}",
                )
        for key in slot["filter"]:
            if key not in spec.schema.fields:
                c.add(
                    ("slots", name, "filter", key),
                    f"{kind} have no fact {key!r}{did_you_mean(key, list(spec.schema.fields))}",
                )
    for section, values in data.get("settings", {}).items():
        if section not in sections:
            c.add(("settings", section), f"not among sections ({', '.join(sections)}); add it there or remove it")
            continue
        for key in values:
            if key not in sections[section]:
                c.add(
                    ("settings", section, key),
                    f"the app does not read {section}.{key}{did_you_mean(key, sections[section])}; "
                    f"sections.{section} lists {', '.join(sections[section])}",
                )


def _role(raw: _Raw, data: Mapping[str, Any]) -> Role:
    slots = []
    for name, slot in data["slots"].items():
        default = slot.get("default")
        section = slot.get("section", name)
        slots.append(
            Slot(
                name=name,
                kind=slot["kind"],
                required=slot["required"],
                multiple=slot["multiple"],
                default=tuple(default) if isinstance(default, list) else ((default,) if default else ()),
                needs=tuple(slot["needs"]),
                filter=freeze(slot["filter"]),
                section=section,
                port_key=slot.get("port_key", f"{section}.port"),
                help=slot["help"],
            )
        )
    return Role(
        key=raw.key,
        file=raw.rel,
        name=data["name"],
        app=data["app"],
        slots=tuple(slots),
        settings=freeze(data["settings"]),
        sections=MappingProxyType({k: tuple(v) for k, v in data["sections"].items()}),
        data=freeze(data),
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
    for kind, spec in KINDS.items():
        abstract[kind] = frozenset(key for key, raw in raws[kind].items() if raw.abstract)
        for key, chain in _chains(raws[kind], kind, errors, broken[kind]).items():
            if chain[0].abstract:
                continue
            data, problems = _full_check(chain, spec.schema.check, spec.check)
            errors.extend(p for p in problems if str(p) not in {str(e) for e in errors})
            if problems:
                broken[kind].add(key)
            else:
                profiles[kind][key] = Profile(kind, key, chain[0].rel, tuple(r.key for r in chain), freeze(data))
    roles: dict[str, Role] = {}
    role_raws: dict[str, _Raw] = {}
    for key, chain in _chains(raws[ROLES], ROLES, errors, broken[ROLES]).items():
        if chain[0].abstract:
            continue
        data, problems = _full_check(chain, ROLE.check, _check_role)
        errors.extend(problems)
        if not problems:
            roles[key] = _role(chain[0], data)
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
