"""The catalog's values: a validated hardware model (:class:`Profile`), a role with its slots
(:class:`Role`, :class:`Slot`) and every one of them (:class:`Catalog`).

loader.py builds them from the YAML files; resolve.py, detect.py and the provisioning commands
ask them questions. Pure: no I/O (and nothing that reaches the drivers' serial code).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

import msgspec

from common.validation import did_you_mean
from firmware_profiles.errors import ProfileError
from firmware_profiles.profile_models import KINDS, KindModel

M = TypeVar("M", bound=msgspec.Struct)


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


def plain(model: msgspec.Struct) -> dict[str, Any]:
    """A model as plain data, absent optional values left out (what a file would say)."""
    return _without_none(msgspec.to_builtins(model))  # type: ignore[no-any-return]


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


@dataclass(frozen=True, eq=False)
class Profile:
    """One hardware model, merged with everything it inherits and completed with defaults.

    ``key`` is the file name (``tm-t20iii``), ``name`` the maker's (``TM-T20III``), ``chain``
    the keys from this model up through its parents, ``facts`` the typed model of its kind
    (:class:`~firmware_profiles.profile_models.PrinterProfile`, …) and ``data`` the same as read-only
    plain data. Ask it questions, never its name: ``profile.supports("qr_code")``,
    ``profile.facts_as(PrinterProfile).media.dpi``."""

    kind: str
    key: str
    file: str
    chain: tuple[str, ...]
    facts: KindModel
    data: Mapping[str, Any]

    @classmethod
    def of(cls, kind: str, key: str, file: str, chain: tuple[str, ...], facts: KindModel) -> Profile:
        """A profile from its validated model (``data`` derived from it)."""
        return cls(kind, key, file, chain, facts, freeze(plain(facts)))

    @property
    def name(self) -> str:
        """The maker's model name."""
        return self.facts.name

    def facts_as(self, model: type[M]) -> M:
        """The typed facts, checked to be of ``model`` (ProfileError for another kind)."""
        if not isinstance(self.facts, model):
            raise ProfileError(f"{self.file}: a {self.kind} profile, not a {model.__name__}")
        return self.facts

    def supports(self, capability: str) -> bool:
        """Whether the model has ``capability`` (a feature flag or a fact-derived capability).

        An unknown name raises ProfileError rather than answering False, so a typo in code
        cannot quietly switch a feature off."""
        spec = KINDS[self.kind]
        if capability in spec.derived:
            return spec.derived[capability](self.facts)
        if capability in spec.features:
            return bool(getattr(self.facts.features, capability))
        raise ProfileError(
            f"{self.kind}: unknown capability {capability!r}{did_you_mean(capability, spec.capabilities)}; "
            f"known: {', '.join(spec.capabilities) or 'none'}"
        )

    def get(self, dotted: str, default: Any = None) -> Any:
        """The fact at ``dotted`` (``"media.width.pixels"``), or ``default`` when absent; for
        code that walks facts by name (a role's slot filter). Typed code reads :attr:`facts`."""
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
