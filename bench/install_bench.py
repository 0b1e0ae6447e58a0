"""How long the madoguchi package takes to install into a clean system (docs/packaging.md).

deploy/image/build.sh makes a clean Debian bookworm root filesystem with mmdebstrap from
Debian's mirror and installs the .deb in it with apt, as the image does; its hook times the apt
step. Figures:

* ``install_s``: ``apt-get install ./madoguchi_….deb`` in the fresh root filesystem: downloading
  and unpacking the package's dependencies (Python, Mesa, the CJK fonts, open-jtalk...) and the
  package itself, its postinst included. No apt cache: every dependency comes from the mirror.
* ``install_rootfs_s``: the whole root filesystem build around it (mmdebstrap from nothing).
* ``deb_build_s`` (``--build`` only): ``make -B deb``, the package built from scratch.
* ``deb_mb``, ``deb_installed_mb``: the .deb's size and its Installed-Size.

Needs root (chroot) and the network. ``python -m bench.install_bench`` (about a minute here;
``--build`` adds two); :func:`run` returns the figures for ``bench.run``. Without ``--recommends``
the package's Recommends (pcscd, cups...) are left out, as in the package tests.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.rig import RESULTS, merge_results

__all__ = ["InstallBench", "run"]

REPO = Path(__file__).resolve().parents[1]
Row = tuple[str, str, str, str]


@dataclass
class InstallBench:
    """What :func:`run` hands back: JSON figures, table rows and notes."""

    figures: dict[str, float] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _version() -> str:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(REPO / "setup.cfg", encoding="utf-8")
    return cfg["metadata"]["version"]


def _arch() -> str:
    done = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _check(cmd: list[str], timeout: float) -> None:
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def run(deb: Path | None = None, *, build: bool = False, recommends: bool = False) -> InstallBench:
    """Install ``deb`` (default: dist/'s, made by ``make deb`` when missing or stale) into a
    clean root filesystem and time it; ``build`` times a full ``make -B deb`` first."""
    if os.geteuid() != 0:
        raise RuntimeError("the install bench needs root (mmdebstrap's chroot)")
    out = InstallBench()
    if deb is None:
        deb = REPO / "dist" / f"madoguchi_{_version()}_{_arch()}.deb"
        started = time.perf_counter()
        _check(["make", "--no-print-directory", *(["-B"] if build else []), "deb"], timeout=1800)
        if build:
            out.figures["deb_build_s"] = round(time.perf_counter() - started, 1)
            out.rows.append(
                ("make -B deb (dpkg-buildpackage, dh-virtualenv)", f"{out.figures['deb_build_s']:.1f} s", "", "")
            )
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Installed-Size"], capture_output=True, text=True, check=True
    ).stdout
    out.figures["deb_mb"] = round(deb.stat().st_size / 1e6, 1)
    out.figures["deb_installed_mb"] = round(int(fields.strip()) / 1024, 1)
    (REPO / "build").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="install-bench-", dir=REPO / "build"))
    try:
        cmd = [str(REPO / "deploy" / "image" / "build.sh"), "--arch", _arch(), "--deb", str(deb), "--out", str(work)]
        if not recommends:
            cmd.append("--no-recommends")
        _check(cmd, timeout=1800)
        timings = dict(line.split("=", 1) for line in (work / "timings").read_text(encoding="utf-8").split())
        out.figures["install_s"] = float(timings["install_s"])
        out.figures["install_rootfs_s"] = float(timings["rootfs_s"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out.rows += [
        (f"apt install {deb.name} into a clean rootfs", f"{out.figures['install_s']:.1f} s", "", ""),
        ("  (the whole root filesystem, mmdebstrap)", f"{out.figures['install_rootfs_s']:.1f} s", "", ""),
        (
            "  (package / installed)",
            f"{out.figures['deb_mb']:.0f} MB / {out.figures['deb_installed_mb']:.0f} MB",
            "",
            "",
        ),
    ]
    out.notes.append(
        f"install bench: {'with' if recommends else 'without'} Recommends, dependencies from Debian's mirror (no cache)"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.install_bench``: the figures as JSON, merged into bench/results.json."""
    parser = argparse.ArgumentParser(prog="python -m bench.install_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--deb", type=Path, help="the package to install (default: dist/'s, made by make deb)")
    parser.add_argument("--build", action="store_true", help="time a full make -B deb first")
    parser.add_argument("--recommends", action="store_true", help="install the package's Recommends too")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to merge figures into")
    args = parser.parse_args(argv)
    result = run(args.deb, build=args.build, recommends=args.recommends)
    merge_results(args.results, result.figures)
    print(json.dumps(result.figures, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
