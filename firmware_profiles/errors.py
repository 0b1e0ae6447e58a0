"""The one exception root of firmware_profiles, and the error that names a file and a key path."""

from __future__ import annotations

from collections.abc import Sequence


class ProfileError(Exception):
    """Anything wrong with profiles, roles, detection or provisioning: a one-line message for a
    technician, naming the file or key and saying how to fix it."""


class SchemaError(ProfileError):
    """One problem in one profile file: ``<file>: <key path>: <problem>; <fix>``.

    ``line`` is the 1-based line of the key in the file when it is known (None otherwise), so a
    command can point an editor at it."""

    def __init__(self, file: str, path: str, message: str, line: int | None = None) -> None:
        self.file = file
        self.path = path
        self.problem = message
        self.line = line
        where = f"{file}: {path}: " if path else f"{file}: "
        super().__init__(where + message)


class CatalogError(ProfileError):
    """Every problem found while loading a catalog, all at once (fix them in one go)."""

    def __init__(self, errors: Sequence[SchemaError]) -> None:
        self.errors = tuple(errors)
        head = f"{len(self.errors)} problems in the profiles:\n" if len(self.errors) > 1 else ""
        super().__init__(head + "\n".join(str(e) for e in self.errors))


class ResolveError(ProfileError):
    """A role cannot be resolved with the chosen models and overrides: every problem, one per
    line, each naming the slot or configuration key and the fix."""

    def __init__(self, *problems: str) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class DetectError(ProfileError):
    """The USB or serial enumeration itself failed (no libusb, no permission)."""


class ApplyError(ProfileError):
    """The device configuration cannot be read or written (names the file)."""
