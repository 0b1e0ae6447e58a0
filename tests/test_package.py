"""The Debian package, the image recipe and the office's apt repository, for real
(docs/packaging.md).

The tests marked ``package`` build the package (``make deb``, unless dist/ has a current one),
make a clean Debian bookworm root filesystem with it installed through deploy/image/build.sh
(mmdebstrap from deb.debian.org, the same hooks as the Pi image), and look inside it with chroot:
the user, the units, the udev rule, the commands, the speech, the libraries the venv loads; then
purge; then the office's signed repository serving version N and N+1 over HTTP, upgrade and
rollback with a device's identity and outbox in place; then the SD card layout. They need root
and the network (Debian's mirror), and take a few minutes: ``make test-package`` runs them
(``pytest -m package``); the main suite deselects them. One root filesystem serves the module.

The unmarked tests here are quick checks of files and pure functions; they run in the main suite.
"""

from __future__ import annotations

import argparse
import configparser
import functools
import hashlib
import http.server
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from office import apt_repo

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
BUILD = REPO / "build" / "test-package"
UNITS = sorted([*(DEPLOY / "systemd").glob("*.service"), *(DEPLOY / "systemd").glob("*.timer")])
SETUP_UNIT = "madoguchi-setup.service"
APP_GROUPS = ("lp", "dialout", "video", "render", "input", "audio")

try:
    package = pytest.mark.package
except pytest.fail.Exception:  # --strict-markers, and setup.cfg does not register `package` yet
    package = pytest.mark.skip(reason="the `package` marker is not registered in setup.cfg: run make test-package")


def setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(REPO / "setup.cfg", encoding="utf-8")
    return cfg


VERSION = setup_cfg()["metadata"]["version"]


def console_scripts() -> list[str]:
    lines = setup_cfg()["options.entry_points"]["console_scripts"].strip().splitlines()
    return [line.split("=", 1)[0].strip() for line in lines if line.strip()]


def arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


# --------------------------------------------------------------------------------------------
# quick checks (main suite)
# --------------------------------------------------------------------------------------------


def test_debian_changelog_version_is_the_setup_cfg_version() -> None:
    first = (REPO / "debian" / "changelog").read_text(encoding="utf-8").splitlines()[0]
    m = re.fullmatch(r"madoguchi \(([^)]+)\) \w+; urgency=\w+", first)
    assert m, first
    assert m.group(1) == VERSION, (
        f"debian/changelog's newest entry is {m.group(1)}, setup.cfg says {VERSION}: add a changelog entry"
    )


def test_compare_versions_orders_like_dpkg() -> None:
    versions = [
        "0.1.0",
        "0.1.0+test1",
        "0.1.0~rc1",
        "0.1.0-1",
        "0.1.0-1+b1",
        "0.1.1",
        "0.10.0",
        "0.9.9",
        "1:0.0.1",
        "0.1.0a",
        "0.1.0.1",
        "2.0~beta2",
        "2.0~beta10",
        "2.0",
        "2.0-0",
    ]
    for a in versions:
        for b in versions:
            ours = apt_repo.compare_versions(a, b)
            dpkg = [
                subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0
                for op in ("lt", "eq", "gt")
            ]
            assert [ours < 0, ours == 0, ours > 0] == dpkg, (a, b, ours)
    assert apt_repo.newest_first(["0.1.0", "0.1.0+test1", "0.1.0~rc1", "0.1.0"]) == [
        "0.1.0+test1",
        "0.1.0",
        "0.1.0~rc1",
    ]


def test_repository_texts_name_the_key_the_components_and_the_office() -> None:
    fpr = "22FA6B6DA8DBE69CE29152E935E012C56D0B4E09"
    conf = apt_repo.parse_distributions(apt_repo.distributions_text(fpr, ["amd64", "arm64"], 2))
    assert conf["Components"] == "main previous1 previous2" and conf["SignWith"] == fpr
    assert conf["Architectures"] == "amd64 arm64" and conf["Codename"] == apt_repo.CODENAME
    sources = apt_repo.sources_text("http://office.local:8080/apt", ["main", "previous1"])
    fields = dict(line.split(": ", 1) for line in sources.splitlines() if line and not line.startswith("#"))
    assert fields == {
        "Types": "deb",
        "URIs": "http://office.local:8080/apt/",
        "Suites": apt_repo.CODENAME,
        "Components": "main previous1",
        "Signed-By": apt_repo.DEVICE_KEYRING,
    }
    with pytest.raises(apt_repo.AptRepoError):
        apt_repo.sources_text("office.local/apt", ["main"])
    with pytest.raises(apt_repo.AptRepoError):
        apt_repo.distributions_text("not-a-fingerprint", ["amd64"], 1)
    listing = "madoguchi|main|amd64: madoguchi 0.1.0+test1\nmadoguchi|previous1|amd64: madoguchi 0.1.0\n"
    assert apt_repo.parse_list(listing) == [
        apt_repo.Entry("main", "amd64", "madoguchi", "0.1.0+test1"),
        apt_repo.Entry("previous1", "amd64", "madoguchi", "0.1.0"),
    ]
    plan = apt_repo.plan(
        apt_repo.parse_list(listing), ["0.1.0", "0.2.0", "0.1.0+test1"], ["main", "previous1"], "amd64", "madoguchi"
    )
    assert plan == [("main", "0.1.0+test1", "0.2.0"), ("previous1", "0.1.0", "0.1.0+test1")]


def test_the_package_installs_every_unit_and_the_udev_rule() -> None:
    install = (REPO / "debian" / "madoguchi.install").read_text(encoding="utf-8")
    lines = [line.split() for line in install.splitlines() if line.strip() and not line.startswith("#")]
    installed = {REPO / path for pattern, _dest in lines for path in (p.relative_to(REPO) for p in REPO.glob(pattern))}
    assert set(UNITS) <= installed
    assert DEPLOY / "udev" / "60-madoguchi-printers.rules" in installed
    assert DEPLOY / "kivy" / "config.ini" in installed


# --------------------------------------------------------------------------------------------
# the package in a root filesystem (-m package)
# --------------------------------------------------------------------------------------------


def run(
    cmd: list[str],
    *,
    timeout: float = 600,
    check: bool = True,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


class Rootfs:
    """A root filesystem made by deploy/image/build.sh, and commands in it (chroot)."""

    def __init__(self, path: Path, timings: dict[str, float]) -> None:
        self.path = path
        self.timings = timings

    def __truediv__(self, rel: str) -> Path:
        return self.path / rel.lstrip("/")

    def sh(
        self, script: str, *, user: str | None = None, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """``sh -c script`` in the root filesystem, as root or as ``user``, with a clean environment."""
        cmd = ["chroot", *([f"--userspec={user}:{user}"] if user else []), str(self.path)]
        env = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive"]
        if user:
            env += [f"HOME=/var/lib/{user}", "KIVY_HOME=/tmp/kivy-test"]
        return run([*cmd, *env, "sh", "-c", script], check=check, timeout=timeout)


@pytest.fixture(scope="module")
def deb() -> Path:
    """dist/madoguchi_<version>_<arch>.deb, built now unless it is current (make's rule)."""
    if os.geteuid() != 0:
        pytest.fail("the package tests need root (chroot, apt in the root filesystem): sudo make test-package")
    run(["make", "--no-print-directory", "deb"], timeout=1200, cwd=REPO)
    path = REPO / "dist" / f"madoguchi_{VERSION}_{arch()}.deb"
    assert path.is_file(), f"make deb did not make {path}"
    return path


@pytest.fixture(scope="module")
def rootfs(deb: Path) -> Iterator[Rootfs]:
    shutil.rmtree(BUILD, ignore_errors=True)
    BUILD.mkdir(parents=True)
    run(
        [
            str(DEPLOY / "image" / "build.sh"),
            "--arch",
            arch(),
            "--deb",
            str(deb),
            "--out",
            str(BUILD),
            "--no-recommends",
        ],
        timeout=1500,
    )
    timings = {
        key: float(value) for key, value in (line.split("=", 1) for line in (BUILD / "timings").read_text().split())
    }
    print(f"root filesystem: {timings}")
    yield Rootfs(BUILD / "rootfs", timings)
    if not os.environ.get("MADOGUCHI_KEEP_ROOTFS"):
        shutil.rmtree(BUILD, ignore_errors=True)


@package
@pytest.mark.timeout(1800)
def test_the_package_installs_the_user_units_udev_rule_and_commands(rootfs: Rootfs) -> None:
    # The user, its groups (all of them exist in a system with udev and systemd) and directories.
    ident = rootfs.sh("id madoguchi").stdout
    groups = set(re.findall(r"\d+\(([\w-]+)\)", ident.split("groups=", 1)[1]))
    assert set(APP_GROUPS) | {"madoguchi"} == groups, ident
    passwd = next(line for line in (rootfs / "etc/passwd").read_text().splitlines() if line.startswith("madoguchi:"))
    assert passwd.split(":")[5:] == ["/var/lib/madoguchi", "/usr/sbin/nologin"]
    assert rootfs.sh("stat -c '%U:%G %a' /var/lib/madoguchi /etc/madoguchi").stdout.split("\n")[:2] == [
        "madoguchi:madoguchi 750",
        "root:madoguchi 750",
    ]
    # Kivy's settings where the apps' KIVY_HOME is, the app user's.
    kivy = rootfs / "var/lib/madoguchi/data/kivy/config.ini"
    assert kivy.read_bytes() == (DEPLOY / "kivy" / "config.ini").read_bytes()
    assert rootfs.sh("stat -c %U /var/lib/madoguchi/data/kivy/config.ini").stdout.strip() == "madoguchi"

    # Every unit as in deploy/systemd, none enabled but the setup screen (the image's hook).
    for unit in UNITS:
        assert (rootfs / f"lib/systemd/system/{unit.name}").read_bytes() == unit.read_bytes(), unit.name
        state = rootfs.sh(f"systemctl is-enabled {unit.name}", check=False).stdout.strip()
        if unit.name == SETUP_UNIT:
            assert state == "enabled"
        elif re.search(r"^\[Install\]", unit.read_text(encoding="utf-8"), re.MULTILINE):
            assert state == "disabled", f"{unit.name} is {state}: the package must not enable it"
        else:
            assert state == "static", unit.name
    rule = DEPLOY / "udev" / "60-madoguchi-printers.rules"
    assert (rootfs / f"lib/udev/rules.d/{rule.name}").read_bytes() == rule.read_bytes()

    # Every console script is on PATH, linked to the venv; the apps answer --help as their user.
    for script in console_scripts():
        link = rootfs / f"usr/bin/{script}"
        assert link.is_symlink() and os.readlink(link) == f"/opt/venvs/madoguchi/bin/{script}", script
    for script in ("madoguchi-provision", "madoguchi-dispenser", "madoguchi-office"):
        out = rootfs.sh(f"{script} --help", user="madoguchi").stdout
        assert out.startswith(f"usage: {script}"), out[:200]

    # The image's hook: the town's zone.
    assert os.readlink(rootfs / "etc/localtime").endswith("Asia/Tokyo")


@package
@pytest.mark.timeout(1800)
def test_sd_card_image_has_the_boot_fat_and_the_root_filesystem(rootfs: Rootfs) -> None:
    # The Pi's boot files as the raspberrypi hook writes them (an amd64 system has none), then the card.
    run(
        [str(DEPLOY / "image" / "hooks" / "customize30-raspberrypi.sh"), str(rootfs.path)],
        env={**os.environ, "MADOGUCHI_TARGET": "raspberrypi"},
    )
    img = BUILD / "card.img"
    run([str(DEPLOY / "image" / "make-img.sh"), str(rootfs.path), str(img), "--disk-id", "5a0c31d2"])
    table = run(["sfdisk", "-d", str(img)]).stdout
    parts = re.findall(r"start=\s*(\d+), size=\s*(\d+), type=(\w+)", table)
    assert "label-id: 0x5a0c31d2" in table and [p[2] for p in parts] == ["c", "83"], table
    boot_at, root_at = int(parts[0][0]) * 512, int(parts[1][0]) * 512
    cmdline = run(["mtype", "-i", f"{img}@@{boot_at}", "::/cmdline.txt"]).stdout
    assert "root=PARTUUID=5a0c31d2-02" in cmdline, cmdline
    assert "config.txt" in run(["mdir", "-b", "-i", f"{img}@@{boot_at}", "::/"]).stdout
    ext4 = f"{img}?offset={root_at}"
    wants = run(["debugfs", "-R", "ls /etc/systemd/system/multi-user.target.wants", ext4]).stdout
    assert SETUP_UNIT in wants, wants
    fstab = run(["debugfs", "-R", "cat /etc/fstab", ext4]).stdout
    assert "PARTUUID=5a0c31d2-01  /boot/firmware  vfat" in fstab, fstab
    # The root file system's /boot/firmware is the empty mount point; the files are on the FAT.
    assert "cmdline.txt" not in run(["debugfs", "-R", "ls /boot/firmware", ext4]).stdout
    img.unlink()


@package
@pytest.mark.timeout(1800)
def test_every_unit_and_console_script_runs_a_program_the_package_installs(rootfs: Rootfs) -> None:
    missing = []
    for unit in UNITS:
        for program in re.findall(r"^ExecStart=(\S+)", unit.read_text(encoding="utf-8"), re.MULTILINE):
            if rootfs.sh(f"test -x {program}", check=False).returncode != 0:
                missing.append(f"{unit.name}: {program}")
    assert not missing, f"not in the package: {missing} (console scripts in setup.cfg: {console_scripts()})"
    # `systemctl help UNIT` opens what Documentation= names: the package ships it.
    for unit in UNITS:
        for doc in re.findall(r"^Documentation=file://(\S+)", unit.read_text(encoding="utf-8"), re.MULTILINE):
            assert (rootfs / doc.lstrip("/")).is_file(), f"{unit.name}: Documentation= {doc} is not in the package"
    # Each console script's module is in the venv (a package setup.cfg's packages.find leaves out
    # is not in the wheel, and its command fails on the device).
    entry_points = {
        name.strip(): target.strip().split(":")[0]
        for name, target in (
            line.split("=", 1) for line in setup_cfg()["options.entry_points"]["console_scripts"].strip().splitlines()
        )
    }
    broken = {}
    for script, module in entry_points.items():
        done = rootfs.sh(f"/opt/venvs/madoguchi/bin/python -c 'import {module}'", user="madoguchi", check=False)
        if done.returncode != 0:
            broken[script] = (done.stderr.strip().splitlines() or ["?"])[-1]
    assert not broken, f"console scripts whose module the package lacks: {broken}"


@package
@pytest.mark.timeout(1800)
def test_the_venv_loads_its_libraries_and_speaks_japanese_through_debians_open_jtalk(rootfs: Rootfs) -> None:
    venv = rootfs / "opt/venvs/madoguchi"
    # No C++ pyopenjtalk: Japanese speech is Debian's open_jtalk (debian/control).
    assert not list(venv.glob("lib/python3*/site-packages/pyopenjtalk*"))
    assert rootfs.sh("command -v open_jtalk").stdout.strip() == "/usr/bin/open_jtalk"
    # Every compiled module finds the libraries it links (the wheels' own copies sit in *.libs/,
    # found through the module's RPATH): the package's Depends are complete.
    unresolved = rootfs.sh(
        "find /opt/venvs/madoguchi -name '*.so' -type f -not -path '*.libs/*' -exec ldd {} + | grep 'not found' | sort -u",
        check=False,
    ).stdout
    assert not unresolved.strip(), unresolved
    script = (
        "import ctypes, importlib.util\n"
        # What the apps open at run time: touch, USB printers, the card reader, the screen, sound.
        "for lib in ('libmtdev.so.1', 'libusb-1.0.so.0', 'libpcsclite.so.1', 'libEGL.so.1', 'libGLESv2.so.2',"
        " 'libgbm.so.1', 'libdrm.so.2', 'libasound.so.2', 'libGL.so.1'):\n"
        "    ctypes.CDLL(lib)\n"
        "import kivy, smartcard.scard, usb.core, escpos.printer\n"
        "assert importlib.util.find_spec('pyopenjtalk') is None\n"
        "from drivers.speech import OpenJTalkCliSynthesizer\n"
        "wav = OpenJTalkCliSynthesizer().synthesize('ヒャクゴバン ノ カタ')\n"
        "print(len(wav), wav[:4], wav[8:12])\n"
    )
    (rootfs / "tmp/check.py").write_text(script, encoding="utf-8")
    out = rootfs.sh("/opt/venvs/madoguchi/bin/python /tmp/check.py", user="madoguchi").stdout.strip().splitlines()[-1]
    size, riff, wave = out.split()
    assert riff == "b'RIFF'" and wave == "b'WAVE'" and int(size) > 20_000, out


@package
@pytest.mark.timeout(1800)
def test_purge_leaves_nothing_of_madoguchi(rootfs: Rootfs) -> None:
    # Something the apps would have written, too.
    rootfs.sh(
        "mkdir -p /var/lib/madoguchi/data/outbox && touch /var/lib/madoguchi/data/outbox/1.seg /etc/madoguchi/device.toml"
    )
    rootfs.sh("apt-get purge -y -q madoguchi")
    ignored = ("var/log/", "var/cache/apt/", "var/lib/apt/lists/")
    left = [
        str(path.relative_to(rootfs.path))
        for path in rootfs.path.rglob("*")
        if "madoguchi" in path.name and not str(path.relative_to(rootfs.path)).startswith(ignored)
    ]
    assert not left, left
    for account_file in ("etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"):
        assert "madoguchi" not in (rootfs / account_file).read_text(), account_file
    assert "madoguchi" not in rootfs.sh("dpkg-query -W -f '${Package}\\n'").stdout


def repack(deb: Path, version: str, out: Path) -> Path:
    """The same package as another version: dpkg-deb -R, a new Version, dpkg-deb -b. The files
    are N's; apt and dpkg see N+1 (what an upgrade and a rollback need, at no second build)."""
    tree = out / f"tree-{version}"
    shutil.rmtree(tree, ignore_errors=True)
    run(["dpkg-deb", "-R", str(deb), str(tree)])
    control = tree / "DEBIAN" / "control"
    control.write_text(re.sub(r"(?m)^Version: .*$", f"Version: {version}", control.read_text()))
    target = out / f"madoguchi_{version}_{arch()}.deb"
    run(["dpkg-deb", "-Zzstd", "-z1", "--root-owner-group", "-b", str(tree), str(target)])
    shutil.rmtree(tree)
    return target


class _AptHandler(http.server.SimpleHTTPRequestHandler):
    """The repository's public/ at /apt/, as the office will serve it; remembers what was fetched."""

    fetched: list[str]

    def translate_path(self, path: str) -> str:
        if not path.startswith("/apt/"):
            return "/nonexistent"
        return super().translate_path(path[len("/apt") :])

    def log_message(self, format: str, *args: Any) -> None:
        self.fetched.append(self.path)


@pytest.fixture()
def office_http() -> Iterator[tuple[Path, str, list[str]]]:
    repo = BUILD / "apt"
    shutil.rmtree(repo, ignore_errors=True)
    fetched: list[str] = []
    (repo / "public").mkdir(parents=True)
    handler = functools.partial(type("H", (_AptHandler,), {"fetched": fetched}), directory=str(repo / "public"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield repo, f"http://127.0.0.1:{server.server_address[1]}/apt/", fetched
    finally:
        server.shutdown()
        server.server_close()


def _fingerprints(rootfs: Rootfs, paths: list[str]) -> dict[str, tuple[str, str]]:
    """sha256 and owner:group:mode of each file (the target of a symlink for a link)."""
    out: dict[str, tuple[str, str]] = {}
    for rel in paths:
        path = rootfs / rel
        if path.is_symlink():
            out[rel] = (f"-> {os.readlink(path)}", "")
            continue
        meta = rootfs.sh(f"stat -c '%U:%G:%a' {rel}").stdout.strip()
        out[rel] = (hashlib.sha256(path.read_bytes()).hexdigest(), meta)
    return out


@package
@pytest.mark.timeout(1800)
def test_office_repository_upgrades_and_rolls_back_keeping_the_devices_identity_and_outbox(
    rootfs: Rootfs, deb: Path, office_http: tuple[Path, str, list[str]]
) -> None:
    repo, url, fetched = office_http
    older, newer = VERSION, f"{VERSION}+test1"
    newer_deb = repack(deb, newer, BUILD)
    public = repo / "public"
    # public/ exists for the HTTP server; init makes the rest of the repository around it.
    apt_repo.init(repo, architectures=[arch()])
    apt_repo.add(repo, deb)
    assert apt_repo.add(repo, newer_deb) == [
        apt_repo.Entry("main", arch(), "madoguchi", newer),
        apt_repo.Entry("previous1", arch(), "madoguchi", older),
    ]
    assert (public / "dists" / apt_repo.CODENAME / "InRelease").is_file()

    # A device that trusts another key refuses the repository.
    other = BUILD / "apt-other"
    shutil.rmtree(other, ignore_errors=True)
    apt_repo.init(other, architectures=[arch()])
    keyring = apt_repo.DEVICE_KEYRING.lstrip("/")
    (rootfs / keyring).parent.mkdir(parents=True, exist_ok=True)
    (rootfs / keyring).write_text(apt_repo.public_key(other))
    (rootfs / apt_repo.DEVICE_SOURCES.lstrip("/")).write_text(
        apt_repo.sources_text(url, apt_repo.repo_components(repo))
    )
    # Only the office's sources (/etc/apt/sources.list.d): a lobby device may have no way to
    # Debian's mirrors, and the package's dependencies are installed already.
    update = "apt-get update -q -o Dir::Etc::SourceList=/dev/null"
    refused = rootfs.sh(update, check=False)
    assert "NO_PUBKEY" in refused.stdout + refused.stderr or "not signed" in refused.stdout + refused.stderr, refused
    assert rootfs.sh("apt-cache policy madoguchi").stdout.count(url) == 0

    # The office's own key: the device sees both versions.
    (rootfs / keyring).write_text(apt_repo.public_key(repo))
    rootfs.sh(update)
    policy = rootfs.sh("apt-cache policy madoguchi").stdout
    assert newer in policy and older in policy and url.rstrip("/") in policy, policy

    # Version N on the device, paired: an identity, an outbox, its configuration.
    rootfs.sh(f"apt-get install -y -q --allow-downgrades madoguchi={older}")
    device = {
        "var/lib/madoguchi/identity/gen-5A0C/device.key": os.urandom(121),
        "var/lib/madoguchi/identity/gen-5A0C/device.pem": b"-----BEGIN CERTIFICATE-----\nfake\n",
        "var/lib/madoguchi/identity/gen-5A0C/identity.json": b'{"device_id": "disp-1"}\n',
        "var/lib/madoguchi/data/outbox/000001.seg": os.urandom(4096),
        "etc/madoguchi/device.toml": b'[device]\nrole = "dispenser"\nid = "disp-1"\n',
        "etc/madoguchi/device.env": b"MADOGUCHI_SITE=demo-town\n",
    }
    for rel, data in device.items():
        (rootfs / rel).parent.mkdir(parents=True, exist_ok=True)
        (rootfs / rel).write_bytes(data)
    (rootfs / "var/lib/madoguchi/identity/current").symlink_to("gen-5A0C")
    rootfs.sh("chown -R madoguchi:madoguchi /var/lib/madoguchi/identity /var/lib/madoguchi/data/outbox")
    rootfs.sh("chmod 0600 /var/lib/madoguchi/identity/gen-5A0C/device.key")
    watched = [*device, "var/lib/madoguchi/identity/current"]
    before = _fingerprints(rootfs, watched)

    def installed() -> str:
        return rootfs.sh("dpkg-query -W -f '${Version}' madoguchi").stdout.strip()

    fetched.clear()
    rootfs.sh("apt-get install -y -q madoguchi")
    assert installed() == newer
    assert any(unquote(path).endswith(f"/madoguchi_{newer}_{arch()}.deb") for path in fetched), fetched
    assert _fingerprints(rootfs, watched) == before

    rootfs.sh(f"apt-get install -y -q --allow-downgrades madoguchi={older}")
    assert installed() == older
    assert _fingerprints(rootfs, watched) == before
    # The paired device never shows the setup screen again.
    assert (rootfs / "var/lib/madoguchi/identity/current").exists()


@package
@pytest.mark.timeout(600)
def test_repository_keeps_a_window_of_versions_and_refuses_a_rebuild_under_the_same_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def dummy(version: str, architecture: str = "amd64", payload: str = "") -> Path:
        tree = tmp_path / f"tree-{version}-{architecture}-{len(payload)}"
        (tree / "DEBIAN").mkdir(parents=True)
        (tree / "DEBIAN" / "control").write_text(
            f"Package: lobby-dummy\nVersion: {version}\nArchitecture: {architecture}\nSection: misc\nPriority: optional\n"
            "Maintainer: t <t@example.invalid>\nDescription: test\n"
        )
        (tree / "usr" / "share" / "lobby-dummy").mkdir(parents=True)
        (tree / "usr" / "share" / "lobby-dummy" / "v").write_text(version + payload)
        out = tmp_path / f"lobby-dummy_{version}_{architecture}{len(payload)}.deb"
        run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(out)])
        return out

    repo = tmp_path / "repo"
    apt_repo.init(repo, architectures=["amd64", "arm64"], keep=2)
    for version in ("1.0", "3.0", "2.0", "4.0", "0.5"):
        apt_repo.add(repo, dummy(version))
    assert [(e.component, e.version) for e in apt_repo.entries(repo)] == [
        ("main", "4.0"),
        ("previous1", "3.0"),
        ("previous2", "2.0"),
    ]
    assert sorted(p.name for p in (repo / "debs").iterdir()) == [
        "lobby-dummy_2.0_amd64.deb",
        "lobby-dummy_3.0_amd64.deb",
        "lobby-dummy_4.0_amd64.deb",
    ]
    # The same file again: nothing changes. Another build as 4.0: refused.
    apt_repo.add(repo, repo / "debs" / "lobby-dummy_4.0_amd64.deb")
    with pytest.raises(apt_repo.AptRepoError, match="new version"):
        apt_repo.add(repo, dummy("4.0", payload="rebuilt"))
    with pytest.raises(apt_repo.AptRepoError, match="i386"):
        apt_repo.add(repo, dummy("5.0", "i386"))
    # Each architecture has its own window.
    apt_repo.add(repo, dummy("1.0", "arm64"))
    assert apt_repo.Entry("main", "arm64", "lobby-dummy", "1.0") in apt_repo.entries(repo)
    assert apt_repo.Entry("main", "amd64", "lobby-dummy", "4.0") in apt_repo.entries(repo)
    # InRelease is signed by the repository's key (gpgv with only that key).
    key = tmp_path / "key.asc"
    key.write_text(apt_repo.public_key(repo))
    run(["gpg", "--batch", "--yes", "--dearmor", "-o", str(tmp_path / "key.gpg"), str(key)])
    run(["gpgv", "--keyring", str(tmp_path / "key.gpg"), str(repo / "public/dists/madoguchi/InRelease")])
    # The commands madoguchi-office will have (apt list, apt key --sources).
    parser = argparse.ArgumentParser()
    apt_repo.add_cli(parser.add_subparsers(dest="command"))
    assert apt_repo.run_cli(parser.parse_args(["apt", "list", "--repo", str(repo)])) == 0
    assert "main\tamd64\tlobby-dummy\t4.0" in capsys.readouterr().out.splitlines()
    args = parser.parse_args(["apt", "key", "--repo", str(repo), "--sources", "http://office.local:8080/apt/"])
    assert apt_repo.run_cli(args) == 0
    assert "Components: main previous1 previous2" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        apt_repo.run_cli(parser.parse_args(["apt", "list", "--repo", str(tmp_path / "nothing")]))
    assert "not an apt repository" in capsys.readouterr().err
