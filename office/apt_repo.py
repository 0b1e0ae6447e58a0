"""The office's signed apt repository: madoguchi updates for the lobby devices, and the versions
before them for rollback (docs/packaging.md, "The office's apt repository").

It wraps Debian's own tools: reprepro builds the repository (``dists/``, ``pool/``, signed
``InRelease`` and ``Release.gpg``), gpg makes and holds its signing key, dpkg-deb reads a
package's fields. Layout of the repository directory (under the office's data directory,
e.g. /var/lib/madoguchi/apt)::

    gnupg/      the signing key: a private GNUPGHOME (0700), ed25519, no passphrase
    conf/       reprepro's configuration (distributions, options)
    db/         reprepro's database
    debs/       every published .deb as it was added (the history the components are made from)
    public/     what devices fetch: serve it at http://OFFICE:PORT/apt/ (dists/, pool/)

Rollback: reprepro keeps one version of a package per distribution, component and
architecture. The repository has ``keep + 1`` components: ``main`` holds the newest version of
each package, ``previous1`` the one before it, ``previous2`` the one before that, and so on.
A device lists all of them in its sources (:func:`sources_text`), so apt sees every kept
version: ``apt-get install madoguchi`` takes the newest, ``apt-get install madoguchi=0.1.0
--allow-downgrades`` goes back to an older one. Each :func:`add` re-deals the versions over the
components; versions older than the window are dropped from the repository and ``debs/``.

``madoguchi-office apt init|add|list|key`` (:func:`add_cli`, :func:`run_cli`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.cli import OneLineParser, fail

PROG = "madoguchi-office apt"
DEFAULT_REPO = Path("/var/lib/madoguchi/apt")
CODENAME = "madoguchi"
DEFAULT_ARCHITECTURES: tuple[str, ...] = ("amd64", "arm64")
DEFAULT_KEEP = 2
# Where a device keeps the office's key and its sources (apt's own conventions, deb822).
DEVICE_KEYRING = "/etc/apt/keyrings/madoguchi-office.asc"
DEVICE_SOURCES = "/etc/apt/sources.list.d/madoguchi-office.sources"
KEY_UID = "madoguchi office apt repository <apt@madoguchi.invalid>"
_TIMEOUT_S = 300.0
_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_ARCH = re.compile(r"[a-z0-9-]+")


class AptRepoError(Exception):
    """The repository or a package cannot be used; the message says which and why."""


@dataclass(frozen=True, order=True)
class Entry:
    """One package version published in the repository (a line of ``reprepro list``)."""

    component: str
    architecture: str
    package: str
    version: str


@dataclass(frozen=True)
class DebFields:
    """What :func:`add` needs to know about a .deb."""

    package: str
    version: str
    architecture: str


# --------------------------------------------------------------------------------------------
# pure functions
# --------------------------------------------------------------------------------------------


def components(keep: int) -> tuple[str, ...]:
    """``main`` for the newest versions, then one component per older version kept."""
    if keep < 0:
        raise AptRepoError(f"keep must be 0 or more, not {keep}")
    return ("main", *(f"previous{n}" for n in range(1, keep + 1)))


def distributions_text(fingerprint: str, architectures: Sequence[str], keep: int) -> str:
    """reprepro's conf/distributions for the repository."""
    for arch in architectures:
        if not _ARCH.fullmatch(arch):
            raise AptRepoError(f"not an architecture name: {arch!r}")
    if not re.fullmatch(r"[0-9A-F]{40}", fingerprint):
        raise AptRepoError(f"not a key fingerprint: {fingerprint!r}")
    return (
        "Origin: madoguchi office\n"
        "Label: madoguchi\n"
        f"Codename: {CODENAME}\n"
        f"Architectures: {' '.join(architectures)}\n"
        f"Components: {' '.join(components(keep))}\n"
        "Description: madoguchi for the lobby devices, with the previous versions for rollback\n"
        f"SignWith: {fingerprint}\n"
    )


def parse_distributions(text: str) -> dict[str, str]:
    """The fields of the (single) stanza of conf/distributions."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or line[0].isspace():
            raise AptRepoError(f"conf/distributions: cannot read {line!r}")
        fields[key.strip()] = value.strip()
    for key in ("Codename", "Architectures", "Components", "SignWith"):
        if key not in fields:
            raise AptRepoError(f"conf/distributions has no {key}: not a repository made by {PROG} init")
    return fields


def sources_text(url: str, comps: Sequence[str], keyring: str = DEVICE_KEYRING) -> str:
    """The device's deb822 sources file for the office's repository at ``url``
    (``http://office.local:8080/apt/``), trusting only the key at ``keyring``."""
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
        raise AptRepoError(f"not an http(s) URL: {url!r}")
    if not url.endswith("/"):
        url += "/"
    return (
        "# The office's apt repository: madoguchi updates, and the versions before them for rollback\n"
        f"# (madoguchi-office apt key --sources {url}).\n"
        "Types: deb\n"
        f"URIs: {url}\n"
        f"Suites: {CODENAME}\n"
        f"Components: {' '.join(comps)}\n"
        f"Signed-By: {keyring}\n"
    )


def parse_list(text: str) -> list[Entry]:
    """``reprepro list`` output (``madoguchi|main|amd64: madoguchi 0.1.0``) as entries."""
    entries: list[Entry] = []
    for line in text.splitlines():
        m = re.fullmatch(r"([^|\s]+)\|([^|\s]+)\|([^:\s]+): (\S+) (\S+)", line.strip())
        if m is None:
            if line.strip():
                raise AptRepoError(f"unexpected reprepro output: {line!r}")
            continue
        entries.append(Entry(component=m.group(2), architecture=m.group(3), package=m.group(4), version=m.group(5)))
    return sorted(entries)


def parse_deb_fields(text: str) -> DebFields:
    """``dpkg-deb -f FILE Package Version Architecture`` output as fields."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields[key] = value.strip()
    try:
        deb = DebFields(fields["Package"], fields["Version"], fields["Architecture"])
    except KeyError as err:
        raise AptRepoError(f"not a Debian package: it has no {err.args[0]} field") from None
    if not _NAME.fullmatch(deb.package) or not _ARCH.fullmatch(deb.architecture):
        raise AptRepoError(f"odd package name or architecture: {deb.package!r}, {deb.architecture!r}")
    if not re.fullmatch(r"(\d+:)?[0-9][A-Za-z0-9.+~:-]*", deb.version):
        raise AptRepoError(f"not a Debian version: {deb.version!r}")
    return deb


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isascii() and c.isalpha():
        return ord(c)
    return ord(c) + 256


def _compare_fragment(a: str, b: str) -> int:
    """dpkg's verrevcmp: non-digits by their order (``~`` before everything, even the end;
    letters before other characters), digit runs as numbers."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        start_i, start_j = i, j
        while i < len(a) and a[i].isdigit():
            i += 1
        while j < len(b) and b[j].isdigit():
            j += 1
        na, nb = int(a[start_i:i] or "0"), int(b[start_j:j] or "0")
        if na != nb:
            return -1 if na < nb else 1
    return 0


def _split_version(version: str) -> tuple[int, str, str]:
    epoch, sep, rest = version.partition(":")
    if not sep:
        epoch, rest = "0", version
    upstream, sep, revision = rest.rpartition("-")
    if not sep:
        upstream, revision = rest, ""
    return int(epoch or "0"), upstream, revision


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as Debian version ``a`` sorts before, with or after ``b`` (dpkg --compare-versions)."""
    ea, ua, ra = _split_version(a)
    eb, ub, rb = _split_version(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_fragment(ua, ub) or _compare_fragment(ra, rb)


def newest_first(versions: Iterable[str]) -> list[str]:
    """``versions`` without repeats, newest first."""
    out: list[str] = []
    for version in versions:
        if not any(compare_versions(version, seen) == 0 for seen in out):
            out.append(version)
    for n in range(1, len(out)):  # insertion sort: a handful of versions
        k = n
        while k > 0 and compare_versions(out[k - 1], out[k]) < 0:
            out[k - 1], out[k] = out[k], out[k - 1]
            k -= 1
    return out


def plan(
    published: Sequence[Entry], history: Sequence[str], comps: Sequence[str], arch: str, package: str
) -> list[tuple[str, str | None, str | None]]:
    """For each component, ``(component, version now, version wanted)`` for ``package`` on
    ``arch``: the newest version of ``history`` in the first component, the next in the second..."""
    ordered = newest_first(history)
    now = {e.component: e.version for e in published if e.architecture == arch and e.package == package}
    return [
        (component, now.get(component), ordered[k] if k < len(ordered) else None) for k, component in enumerate(comps)
    ]


def deb_filename(deb: DebFields) -> str:
    """Debian's file name for the package (the epoch is not part of it)."""
    version = deb.version.partition(":")[2] or deb.version
    return f"{deb.package}_{version}_{deb.architecture}.deb"


# --------------------------------------------------------------------------------------------
# the tools
# --------------------------------------------------------------------------------------------


def _run(command: Sequence[str], *, env: Mapping[str, str] | None = None, what: str) -> str:
    tool = command[0]
    if shutil.which(tool) is None:
        raise AptRepoError(f"{tool} is not installed (apt-get install {_PACKAGE_OF.get(tool, tool)})")
    try:
        done = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            check=False,
            env=None if env is None else {**os.environ, **env},
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise AptRepoError(f"{what}: {tool} failed: {err}") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise AptRepoError(f"{what}: {tool} failed: {' / '.join(detail[-3:]) or f'exit {done.returncode}'}")
    return done.stdout


_PACKAGE_OF = {"gpg": "gnupg", "gpgconf": "gnupg", "reprepro": "reprepro", "dpkg-deb": "dpkg"}


def _gnupg(root: Path) -> Path:
    return root / "gnupg"


def _stop_agent(root: Path) -> None:
    """gpg and reprepro's gpgme start a gpg-agent for the key: stop it after each use."""
    if shutil.which("gpgconf") is not None and _gnupg(root).is_dir():
        subprocess.run(
            ["gpgconf", "--homedir", str(_gnupg(root)), "--kill", "all"],
            capture_output=True,
            timeout=30,
            check=False,
        )


def _gpg(root: Path, *args: str, what: str) -> str:
    try:
        return _run(["gpg", "--batch", "--homedir", str(_gnupg(root)), *args], what=what)
    finally:
        _stop_agent(root)


def _reprepro(root: Path, *args: str, what: str) -> str:
    try:
        return _run(
            ["reprepro", "--basedir", str(root), "--silent", *args], env={"GNUPGHOME": str(_gnupg(root))}, what=what
        )
    finally:
        _stop_agent(root)


def read_deb(deb: Path) -> DebFields:
    """The package, version and architecture of the .deb at ``deb``."""
    if not deb.is_file():
        raise AptRepoError(f"{deb}: no such file")
    return parse_deb_fields(_run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Architecture"], what=str(deb)))


def settings(root: Path) -> dict[str, str]:
    """The repository's conf/distributions fields (AptRepoError when ``root`` is not a repository)."""
    path = root / "conf" / "distributions"
    if not path.is_file():
        raise AptRepoError(f"{root}: not an apt repository ({PROG} init makes one)")
    return parse_distributions(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# the repository
# --------------------------------------------------------------------------------------------


def init(root: Path, *, architectures: Sequence[str] = DEFAULT_ARCHITECTURES, keep: int = DEFAULT_KEEP) -> str:
    """Make the repository in ``root`` (empty, signed) with a new signing key; returns the key's
    fingerprint. A repository already there is left as it is (its fingerprint is returned)."""
    if (root / "conf" / "distributions").exists():
        return settings(root)["SignWith"]
    comps = components(keep)
    for sub in ("conf", "db", "debs", "public"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    gnupg = _gnupg(root)
    gnupg.mkdir(mode=0o700, exist_ok=True)
    gnupg.chmod(0o700)
    _gpg(
        root,
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--quick-generate-key",
        KEY_UID,
        "ed25519",
        "sign",
        "never",
        what="making the signing key",
    )
    fingerprint = _fingerprint(root)
    (root / "conf" / "options").write_text("outdir +b/public\ndbdir +b/db\n", encoding="utf-8")
    (root / "conf" / "distributions").write_text(
        distributions_text(fingerprint, architectures, len(comps) - 1), encoding="utf-8"
    )
    _reprepro(root, "export", CODENAME, what="exporting the empty repository")
    return fingerprint


def _fingerprint(root: Path) -> str:
    listing = _gpg(root, "--with-colons", "--list-secret-keys", what="reading the signing key")
    found = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")]
    if not found:
        raise AptRepoError(f"{_gnupg(root)}: no signing key")
    return found[0]


def entries(root: Path) -> list[Entry]:
    """Every package version the repository publishes."""
    settings(root)
    return parse_list(_reprepro(root, "list", CODENAME, what="listing the repository"))


def _history(root: Path, package: str, architecture: str) -> dict[str, Path]:
    """The kept .debs of ``package`` for ``architecture``: version -> file."""
    found: dict[str, Path] = {}
    for path in sorted((root / "debs").glob(f"{package}_*_{architecture}.deb")):
        deb = read_deb(path)
        if deb.package == package and deb.architecture == architecture:
            found[deb.version] = path
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def add(root: Path, deb: Path) -> list[Entry]:
    """Publish ``deb``: the newest version of its package goes to ``main``, the ones before it
    to ``previous1``, ``previous2``... (the repository's window); returns what the repository
    now publishes of that package. Adding the same file again changes nothing; a different
    file with the same package, version and architecture is refused (bump the version)."""
    conf = settings(root)
    fields = read_deb(deb)
    architectures = conf["Architectures"].split()
    if fields.architecture not in architectures and fields.architecture != "all":
        raise AptRepoError(f"{deb}: built for {fields.architecture}; the repository takes {', '.join(architectures)}")
    comps = conf["Components"].split()
    kept = root / "debs" / deb_filename(fields)
    if kept.exists():
        if _sha256(kept) != _sha256(deb):
            raise AptRepoError(
                f"{deb}: {fields.package} {fields.version} ({fields.architecture}) is already published from "
                "another build; give this build a new version"
            )
    else:
        partial = kept.with_name(kept.name + ".part")
        shutil.copyfile(deb, partial)
        partial.replace(kept)
    history = _history(root, fields.package, fields.architecture)
    published = entries(root)
    arch_args = ["-A", fields.architecture] if fields.architecture != "all" else []
    for component, now, wanted in plan(published, list(history), comps, fields.architecture, fields.package):
        if now is not None and wanted is not None and compare_versions(now, wanted) == 0:
            continue
        if now is not None and (wanted is None or compare_versions(wanted, now) < 0):
            # reprepro never replaces a version with an older one: take the newer one out first.
            # (A newer one replaces the old in place: the component is never empty meanwhile.)
            _reprepro(root, "-C", component, *arch_args, "remove", CODENAME, fields.package, what=component)
        if wanted is not None:
            _reprepro(root, "-C", component, "includedeb", CODENAME, str(history[wanted]), what=component)
    # Versions older than the window leave the history too.
    window = set(newest_first(history)[: len(comps)])
    for version, path in history.items():
        if version not in window:
            path.unlink()
    return [e for e in entries(root) if e.package == fields.package]


def public_key(root: Path) -> str:
    """The repository's public signing key, ASCII-armoured (for the device's /etc/apt/keyrings)."""
    fingerprint = settings(root)["SignWith"]
    key = _gpg(root, "--armor", "--export", fingerprint, what="exporting the public key")
    if "BEGIN PGP PUBLIC KEY BLOCK" not in key:
        raise AptRepoError(f"{_gnupg(root)}: the key {fingerprint} is missing")
    return key


def repo_components(root: Path) -> list[str]:
    """The repository's components, newest versions first (for :func:`sources_text`)."""
    return settings(root)["Components"].split()


# --------------------------------------------------------------------------------------------
# madoguchi-office apt ...
# --------------------------------------------------------------------------------------------


def add_cli(sub: Any) -> argparse.ArgumentParser:
    """Add the ``apt`` command (init, add, list, key) to madoguchi-office's sub-parsers."""
    apt: argparse.ArgumentParser = sub.add_parser(
        "apt", help="the signed apt repository the lobby devices update from (docs/packaging.md)"
    )
    actions = apt.add_subparsers(dest="apt_action", required=True, parser_class=OneLineParser)

    def repo(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--repo",
            type=Path,
            default=Path(os.environ.get("MADOGUCHI_APT_REPO", str(DEFAULT_REPO))),
            help="the repository's directory (default: $MADOGUCHI_APT_REPO or %(default)s)",
        )

    init_p = actions.add_parser("init", help="make the repository and its signing key (once)")
    init_p.add_argument(
        "--arch",
        action="append",
        dest="architectures",
        metavar="ARCH",
        help=f"an architecture it takes, repeatable (default: {' '.join(DEFAULT_ARCHITECTURES)})",
    )
    init_p.add_argument(
        "--keep", type=int, default=DEFAULT_KEEP, help="older versions kept for rollback (default: %(default)s)"
    )
    repo(init_p)
    add_p = actions.add_parser("add", help="publish .deb files (the newest in main, older ones for rollback)")
    add_p.add_argument("debs", type=Path, nargs="+", metavar="FILE.deb")
    repo(add_p)
    list_p = actions.add_parser("list", help="every published package version, by component")
    repo(list_p)
    key_p = actions.add_parser("key", help="print the public key (for the device's /etc/apt/keyrings)")
    key_p.add_argument(
        "--sources",
        metavar="URL",
        help="print the device's deb822 sources file for the repository served at URL instead "
        "(http://office.local:8080/apt/)",
    )
    repo(key_p)
    return apt


def run_cli(args: argparse.Namespace) -> int:
    """Carry out one ``apt`` action; a mistake is one line on stderr, exit 2."""
    root: Path = args.repo
    try:
        if args.apt_action == "init":
            fingerprint = init(root, architectures=args.architectures or DEFAULT_ARCHITECTURES, keep=args.keep)
            print(f"apt repository in {root}, signed by {fingerprint}; serve {root / 'public'} at /apt/")
            return 0
        if args.apt_action == "add":
            for deb in args.debs:
                for entry in add(root, deb):
                    print(f"{entry.component}\t{entry.architecture}\t{entry.package}\t{entry.version}")
            return 0
        if args.apt_action == "list":
            for entry in entries(root):
                print(f"{entry.component}\t{entry.architecture}\t{entry.package}\t{entry.version}")
            return 0
        if args.sources:
            print(sources_text(args.sources, repo_components(root)), end="")
        else:
            print(public_key(root), end="")
        return 0
    except AptRepoError as err:
        fail(PROG, str(err))
