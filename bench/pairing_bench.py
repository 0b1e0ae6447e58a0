"""The technician's morning, measured: how long from a pairing code entered to a running app,
and how many commands a technician types from a blank card to a running device.

* ``pair_to_app_s``: an office as deployed (TLS Mosquitto on the generated files, the HTTPS
  enrolment endpoint, the console: tests/pairing_rig.py) makes a code; ``madoguchi-provision
  pair CODE --start exec`` runs on a fresh device directory (detection from a scan file, the
  fake printer, the dispenser app under Xvfb) and the clock stops when the office's console
  lists the device online. The median of ``runs``; the setup screen does the same work after
  its Pair button.
* ``technician_commands_*``: the shell commands a technician types on the device, counted in
  docs/provisioning.md: the three steps (flash, boot, pair) against the appendix's manual way.

    python -m bench.pairing_bench [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from bench.rig import RESULTS, merge_results
from harness import env
from pairing_rig import start_pairing_office

TM_T20III = {"vendor": "0x04b8", "product": "0x0e15", "manufacturer": "EPSON", "product_name": "TM-T20III"}
PAIR_TARGET_S = 60.0
COMMANDS_TARGET = 3
ONLINE = re.compile(r'<tr class="online">\s*<th scope="row">(dispenser-\d+)</th>')
_COMMAND = re.compile(
    r"^(sudo |apt-get|useradd|git |python3|/opt/|ln |install |udevadm|madoguchi-|systemctl|export |cd |mkdir)"
)


def count_commands(doc: str, start: str, end: str | None) -> int:
    """Shell commands in the fenced blocks between the headings ``start`` and ``end``
    (a line continued with a backslash is one command)."""
    part = doc.split(start, 1)[1]
    if end is not None:
        part = part.split(end, 1)[0]
    count = 0
    for block in re.findall(r"```[a-z]*\n(.*?)```", part, flags=re.DOTALL):
        continued = False
        for line in block.splitlines():
            text = line.strip()
            if not continued and _COMMAND.match(text):
                count += 1
            continued = text.endswith("\\")
    return count


def _xvfb() -> tuple[subprocess.Popen[bytes], str]:
    display = ":93"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "1920x1200x24", "+extension", "GLX", "-nolisten", "tcp"])
    time.sleep(1.0)
    return proc, display


def pair_to_app(runs: int) -> list[float]:
    """Seconds from ``madoguchi-provision pair`` started to the device online, per run."""
    times: list[float] = []
    xvfb, display = _xvfb()
    with tempfile.TemporaryDirectory(prefix="madoguchi-pair-") as tmp:
        root = Path(tmp)
        rig = start_pairing_office(root / "office")
        procs: list[subprocess.Popen[str]] = []
        try:
            admin = rig.console.sign_in("admin")
            scan = root / "scan.json"
            scan.write_text(json.dumps({"usb": [TM_T20III], "serial": []}), encoding="utf-8")
            e = env()
            e["DISPLAY"] = display
            e["MADOGUCHI_PROVISION_SCAN"] = str(scan)
            for run in range(runs):
                code = rig.desk.make("dispenser", "admin", None).code
                device = root / f"device-{run}"
                args = [
                    sys.executable, "-m", "firmware_profiles.cli", "pair", code,
                    "--config", str(device / "etc" / "device.toml"),
                    "--identity-dir", str(device / "identity"),
                    "--data", str(device / "data"),
                    "--fake-printer", str(device / "tickets"),
                    "--start", "exec",
                ]  # fmt: skip
                online_before = set(ONLINE.findall(admin.get("/admin/devices").text))
                started = time.monotonic()
                proc = subprocess.Popen(args, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
                procs.append(proc)
                while True:
                    online = set(ONLINE.findall(admin.get("/admin/devices").text)) - online_before
                    if online:
                        break
                    if proc.poll() is not None or time.monotonic() - started > 180:
                        raise RuntimeError(f"run {run}: the device never came online")
                    time.sleep(0.1)
                times.append(time.monotonic() - started)
                print(f"  pair {run + 1}: {min(online)} online after {times[-1]:.1f} s", flush=True)
        finally:
            for proc in procs:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            rig.close()
            xvfb.terminate()
    return times


def run(runs: int = 3) -> dict[str, float]:
    """The figures."""
    doc = (REPO / "docs" / "provisioning.md").read_text(encoding="utf-8")
    three = count_commands(doc, "## 1. Flash", "### A device without a screen")
    headless = count_commands(doc, "### A device without a screen", "### At the office, once")
    manual = count_commands(doc, "### 1. Install", "### 8. Status")
    times = pair_to_app(runs)
    return {
        "pair_to_app_s": round(statistics.median(times), 1),
        "technician_commands_screen": float(three),
        "technician_commands_headless": float(headless),
        "technician_commands_manual": float(manual),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if shutil.which("Xvfb") is None:
        print("Xvfb is missing: make deps installs it", file=sys.stderr)
        return 2
    os.environ.setdefault("MADOGUCHI_BENCH", "1")
    figures = run(args.runs)
    merge_results(args.results, figures)
    for key, value in figures.items():
        target = {"pair_to_app_s": f"<= {PAIR_TARGET_S:g}", "technician_commands_screen": f"<= {COMMANDS_TARGET}"}
        print(f"  {key:32} {value:8g}  {target.get(key, '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
