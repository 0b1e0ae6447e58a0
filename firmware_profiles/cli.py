"""madoguchi-provision: turn a blank device into an enrolled, tested lobby device.

    madoguchi-provision detect --role dispenser
    madoguchi-provision apply --role dispenser --site demo-town --device-id disp-1 [--choose printer=tm-t88v]
                              [--set keypad.port=/dev/serial/by-id/…] [--broker URL] [--dry-run] [--yes]
    madoguchi-provision enroll --office https://office.local:8443 --token mdg1-…
    madoguchi-provision pair 7K3M-Q2XP-9DTA-4FRE-0B5N-H8WC     (detect, pair, self-test, start: one step)
    madoguchi-provision self-test [--fake-printer DIR]
    madoguchi-provision status

Every command takes ``--config PATH`` (default ``$MADOGUCHI_DEVICE_CONFIG`` or
/etc/madoguchi/device.toml). ``apply`` also writes ``<config>.env`` beside it (``device.env``:
site, device id, broker URL and the configuration's path as environment variables) for the
systemd units in deploy/; ``enroll`` rewrites both with the device's ``mqtts://`` URL.

Interactive: ``--interactive``, or a terminal on stdin while the role, site or device id is
missing, asks for what is missing and for the model or port of every slot detection could not
settle. Scripted installs give everything as options and ``--yes``.

Enumerations for tests and remote support: ``--scan-file FILE`` (or ``$MADOGUCHI_PROVISION_SCAN``)
reads the USB devices and serial ports from a JSON file instead of the machine, in the format
``detect --save-scan FILE`` writes (docs/provisioning.md):

    {"usb": [{"vendor": "0x04b8", "product": "0x0e15", "product_name": "TM-T20III"}],
     "serial": [{"device": "/dev/ttyACM0", "by_id": "/dev/serial/by-id/usb-…-if00", "vid": "0x2e8a"}]}

Mistakes (a bad option, a profile problem, a refused token) print one line per problem and
exit 2; a self-test or status with a FAIL exits 1.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, NoReturn, TextIO

import msgspec

from common.cli import OneLineParser, UsageError, setup_logging
from common.validation import Invalid, decode_json, info
from firmware_profiles.apply import apply_resolved, read_current, write_atomic
from firmware_profiles.catalog import Catalog, Role
from firmware_profiles.detect import DetectionReport, SerialPort, SlotFinding, Status, UsbDevice, detect
from firmware_profiles.errors import DetectError, ProfileError
from firmware_profiles.loader import load_catalog
from firmware_profiles.pairing_flow import write_env
from firmware_profiles.resolve import (
    DEVICE_SECTION,
    HASH_PREFIX,
    Identity,
    diff_configs,
    parse_choice,
    parse_override,
    resolve_role,
)
from firmware_profiles.status import DeviceConfigError, DeviceFile, Verdict, read_device_file, render_lines
from sync.protocol import valid_id

PROG = "madoguchi-provision"
DEFAULT_CONFIG = Path("/etc/madoguchi/device.toml")
DEFAULT_IDENTITY_DIR = Path("/var/lib/madoguchi/identity")
DEFAULT_DATA_DIR = Path("/var/lib/madoguchi/data")
# Before enrolment: the office's usual name and TLS port. Enrolment replaces it with the URL
# carrying the device's certificate.
DEFAULT_BROKER = "mqtts://office.local:8883"
SCAN_ENV = "MADOGUCHI_PROVISION_SCAN"
MAX_TRIES = 5
SERIAL_KINDS = ("keypads", "led_panels", "cash")  # slots whose hardware sits on a serial port
LABEL_WIDTH = len("document printer")  # self-test lines appear one by one: a fixed column


# --------------------------------------------------------------------------------------------
# asking
# --------------------------------------------------------------------------------------------


class Prompter:
    """Questions on ``out``, answers read line by line from ``inp``; EOF ends with UsageError."""

    def __init__(self, inp: TextIO, out: TextIO) -> None:
        self.inp = inp
        self.out = out

    def _line(self, question: str, flag: str) -> str:
        self.out.write(question)
        self.out.flush()
        answer = self.inp.readline()
        if not answer:
            raise UsageError(f"no answer to {question.strip()!r} (input ended); give it as {flag}")
        if not answer.endswith("\n"):
            self.out.write("\n")  # piped input without a final newline: keep the output tidy
        return answer.strip()

    def ask(self, question: str, flag: str, check: Callable[[str], str | None], default: str | None = None) -> str:
        """A free answer, re-asked while ``check`` returns a problem."""
        shown = f" [{default}]" if default else ""
        for _ in range(MAX_TRIES):
            answer = self._line(f"{question}{shown}: ", flag) or (default or "")
            problem = check(answer)
            if problem is None:
                return answer
            self.out.write(f"  {problem}\n")
        raise UsageError(f"no usable answer to {question!r} after {MAX_TRIES} tries; give it as {flag}")

    def choose(self, question: str, flag: str, options: Sequence[tuple[str, str]], default: str | None = None) -> str:
        """One of ``options`` (value, description), by number or by value."""
        self.out.write(f"{question}\n")
        width = max(len(value) for value, _ in options)
        for number, (value, text) in enumerate(options, 1):
            mark = "  (default)" if value == default else ""
            self.out.write(f"  {number}) {value:<{width}}  {text}{mark}\n")
        values = [value for value, _ in options]

        def check(answer: str) -> str | None:
            if answer in values or (answer.isdigit() and 1 <= int(answer) <= len(values)):
                return None
            return f"answer with a number from 1 to {len(values)} or one of: {', '.join(values)}"

        hint = f"choose 1-{len(values)}" + (f" (Enter: {default})" if default else "")
        for _ in range(MAX_TRIES):
            answer = self._line(f"{hint}: ", flag) or (default or "")
            problem = check(answer)
            if problem is None:
                return values[int(answer) - 1] if answer.isdigit() and answer not in values else answer
            self.out.write(f"  {problem}\n")
        raise UsageError(f"no usable answer to {question!r} after {MAX_TRIES} tries; give it as {flag}")

    def confirm(self, question: str, flag: str) -> bool:
        """Yes or no; anything but y/yes is no."""
        return self._line(f"{question} [y/N] ", flag).lower() in ("y", "yes")


def _id_problem(kind: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if valid_id(value):
            return None
        return f"{value!r} is not a valid {kind}: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"

    return check


# --------------------------------------------------------------------------------------------
# scanning (real, or from a file)
# --------------------------------------------------------------------------------------------


# A scan file's numbers: JSON has no hex, so ids are written as text ("0x04b8", as save_scan
# writes them); a plain number is taken too. The text is what int(text, 0) reads.
_NumberText = Annotated[str, info(pattern=r"^(0[xX][0-9a-fA-F]+|[1-9][0-9]*|0)$")]
_NUMBER = "a number such as 0x04b8"
Number = Annotated[_NumberText | int, info(what=_NUMBER)]
MaybeNumber = Annotated[_NumberText | int | None, info(what=_NUMBER)]


def _number(value: str | int) -> int:
    return int(value, 0) if isinstance(value, str) else value


def _maybe(value: str | int | None) -> int | None:
    return None if value is None else _number(value)


class ScannedUsb(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One entry of a scan file's ``usb`` list (the fields of :class:`UsbDevice`)."""

    vendor: Annotated[_NumberText | int, info(what=_NUMBER, help='the vendor id, e.g. "0x04b8"')]
    product: Annotated[_NumberText | int, info(what=_NUMBER, help='the product id, e.g. "0x0e15"')]
    bus: MaybeNumber = None
    address: MaybeNumber = None
    manufacturer: str | None = None
    product_name: str | None = None
    serial_number: str | None = None
    device_class: Number = 0
    interface_classes: list[Number] = []

    def device(self) -> UsbDevice:
        """As detection sees it."""
        return UsbDevice(
            vendor=_number(self.vendor),
            product=_number(self.product),
            bus=_maybe(self.bus),
            address=_maybe(self.address),
            manufacturer=self.manufacturer,
            product_name=self.product_name,
            serial_number=self.serial_number,
            device_class=_number(self.device_class),
            interface_classes=tuple(_number(c) for c in self.interface_classes),
        )


class ScannedSerial(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One entry of a scan file's ``serial`` list (the fields of :class:`SerialPort`)."""

    device: Annotated[str, info(what="a device path", help='the port\'s device path, e.g. "/dev/ttyACM0"')]
    by_id: str | None = None
    vid: MaybeNumber = None
    pid: MaybeNumber = None
    manufacturer: str | None = None
    product: str | None = None
    description: str | None = None
    serial_number: str | None = None

    def port(self) -> SerialPort:
        """As detection sees it."""
        return SerialPort(
            device=self.device,
            by_id=self.by_id,
            vid=_maybe(self.vid),
            pid=_maybe(self.pid),
            manufacturer=self.manufacturer,
            product=self.product,
            description=self.description,
            serial_number=self.serial_number,
        )


class ScanFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What ``--scan-file`` reads and ``--save-scan`` writes."""

    usb: list[ScannedUsb] = []
    serial: list[ScannedSerial] = []


_SCAN_FILE = msgspec.json.Decoder(ScanFile)


def load_scan(path: Path) -> tuple[list[UsbDevice], list[SerialPort]]:
    """USB devices and serial ports from a scan file; UsageError naming the file and the key
    path of the bad entry (``usb[2].vendor``)."""
    try:
        scan = decode_json(path.read_bytes(), _SCAN_FILE)
    except OSError as err:
        raise UsageError(f"scan file {path}: cannot read it ({err.strerror})") from err
    except msgspec.DecodeError as err:
        raise UsageError(f"scan file {path}: not JSON ({err})") from err
    except Invalid as err:
        raise UsageError(f"scan file {path}: {err}") from err
    return [u.device() for u in scan.usb], [s.port() for s in scan.serial]


def _hex_ids(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (f"0x{v:04x}" if k in ("vendor", "product", "vid", "pid") and isinstance(v, int) else v)
        for k, v in doc.items()
        if v not in (None, (), 0) or k in ("vendor", "product")
    }


def save_scan(path: Path, usb: Sequence[UsbDevice], ports: Sequence[SerialPort]) -> None:
    """Write what was seen as a scan file (for support, or to replay with --scan-file)."""
    doc = {
        "usb": [_hex_ids({**asdict(d), "interface_classes": list(d.interface_classes)}) for d in usb],
        "serial": [_hex_ids(asdict(p)) for p in ports],
    }
    write_atomic(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def _scan(args: Any, out: TextIO) -> tuple[list[UsbDevice], list[SerialPort]]:
    source = args.scan_file or os.environ.get(SCAN_ENV)
    if source:
        out.write(f"reading USB devices and serial ports from {source}\n")
        return load_scan(Path(source))
    from firmware_profiles.scan import scan_serial, scan_usb

    out.write("scanning USB devices and serial ports…\n")
    out.flush()
    try:
        usb = scan_usb()
    except DetectError as err:
        out.write(f"  warning: USB not scanned: {err}\n")
        usb = []
    return usb, scan_serial()


# --------------------------------------------------------------------------------------------
# reporting detection
# --------------------------------------------------------------------------------------------


def _eligible(catalog: Catalog, role: Role, slot: str) -> list[str]:
    the_slot = role.slot(slot)
    return [p.key for p in catalog.models(the_slot.kind) if the_slot.refusal(p) is None]


def _ports_of(finding: SlotFinding, ports: Sequence[SerialPort]) -> list[SerialPort]:
    return [p for p in ports if p.describe() in finding.devices]


def _todo(
    catalog: Catalog, role: Role, report: DetectionReport, ports: Sequence[SerialPort], settled: Mapping[str, Any]
) -> list[str]:
    todo = []
    for f in report.findings:
        if not f.blocking or f.slot in settled:
            continue
        slot = role.slot(f.slot)
        if f.status is Status.MISSING:
            models = "|".join(_eligible(catalog, role, f.slot))
            port = f" --set {slot.port_key}=PATH" if slot.kind in SERIAL_KINDS else ""
            todo.append(
                f"{f.slot}: connect {slot.help or 'the ' + f.slot} and run detect again, "
                f"or configure it without detection: --choose {f.slot}=<{models}>{port}"
            )
        elif len(_ports_of(f, ports)) > 1:
            paths = " | ".join(p.path for p in _ports_of(f, ports))
            todo.append(f"{f.slot}: several ports fit: --set {slot.port_key}=<{paths}>")
        elif f.candidates and slot.multiple:
            todo.append(f"{f.slot}: say which are there, comma-separated: --choose {f.slot}={','.join(f.candidates)}")
        elif f.candidates:
            todo.append(f"{f.slot}: say which model it is: --choose {f.slot}=<{'|'.join(f.candidates)}>")
        else:
            todo.append(f"{f.slot}: several devices fit: unplug all but one and run detect again")
    return todo


def render_report(
    catalog: Catalog,
    role: Role,
    report: DetectionReport,
    ports: Sequence[SerialPort],
    settled: Mapping[str, Any] | None = None,
) -> str:
    """The detection report: one aligned line per slot, what nobody claimed, and what to do."""
    settled = settled or {}
    lines = [f"{role.key}: {role.name}"]
    width = max((len(f.slot) for f in report.findings), default=0)
    status_width = max(len(s.value) for s in Status)
    for f in report.findings:
        need = "required" if f.required else "optional"
        state = f.status.value
        message = f.message
        if f.blocking and f.slot in settled:
            state, message = "chosen", f"{settled[f.slot]} as chosen (not detected: check the cable)"
        lines.append(f"  {f.slot:<{width}}  {state:<{status_width}}  {need}  {message}")
    unclaimed = [d.describe() for d in report.unmatched_usb] + [p.describe() for p in report.unmatched_serial]
    if unclaimed:
        lines.append("not claimed by any profile (fine unless it is one of the above):")
        lines += [f"  {text}" for text in unclaimed]
    todo = _todo(catalog, role, report, ports, settled)
    if todo:
        lines.append("not ready; to do:")
        lines += [f"  - {item}" for item in todo]
    return "\n".join(lines) + "\n"


def _settle(
    prompter: Prompter,
    catalog: Catalog,
    role: Role,
    report: DetectionReport,
    usb: Sequence[UsbDevice],
    ports: Sequence[SerialPort],
    choices: dict[str, str],
    overrides: dict[str, Any],
    by_hand: set[str],
) -> DetectionReport:
    """Ask about every slot detection left open, until nothing is (interactive mode)."""
    asked_defaults: set[str] = set()
    for _round in range(len(role.slots) * 2 + 1):
        asked = False
        for f in report.findings:
            slot = role.slot(f.slot)
            if f.slot in choices and f.status is not Status.AMBIGUOUS:
                continue
            if f.status is Status.AMBIGUOUS and len(_ports_of(f, ports)) > 1:
                if slot.port_key in overrides:
                    continue  # answered for another slot on the same port (the cash devices share one bus)
                options = [(p.path, p.describe()) for p in _ports_of(f, ports)]
                overrides[slot.port_key] = prompter.choose(
                    f"{f.slot}: {f.message}\nwhich port is the {f.slot}?", f"--set {slot.port_key}=PATH", options
                )
                asked = True
            elif f.status is Status.AMBIGUOUS and f.candidates and slot.multiple:
                known = list(f.candidates)

                def some(answer: str, known: list[str] = known) -> str | None:
                    keys = [k.strip() for k in answer.split(",") if k.strip()]
                    bad = [k for k in keys if k not in known]
                    return None if keys and not bad else f"give some of {', '.join(known)}, comma-separated"

                choices[f.slot] = prompter.ask(
                    f"{f.slot}: {f.message}\nwhich are there (comma-separated)",
                    f"--choose {f.slot}=A,B",
                    some,
                    ",".join(known),
                )
                asked = True
            elif f.status is Status.AMBIGUOUS and f.candidates:
                options = [(k, catalog.model(slot.kind, k).name) for k in f.candidates]
                choices[f.slot] = prompter.choose(
                    f"{f.slot}: {f.message}\nwhich model is it?", f"--choose {f.slot}=MODEL", options
                )
                asked = True
            elif f.status is Status.MISSING and f.required:
                options = [(k, catalog.model(slot.kind, k).name) for k in _eligible(catalog, role, f.slot)]
                choices[f.slot] = prompter.choose(
                    f"{f.slot}: {f.message}; plug it in and run again, or choose its model to configure it "
                    "without detection:",
                    f"--choose {f.slot}=MODEL",
                    options,
                )
                by_hand.add(f.slot)
                asked = True
            elif f.status is Status.UNDETECTABLE and f.slot not in asked_defaults:
                asked_defaults.add(f.slot)
                options = [(k, catalog.model(slot.kind, k).name) for k in _eligible(catalog, role, f.slot)]
                default = f.models[0] if f.models else None
                if len(options) > 1:
                    choices[f.slot] = prompter.choose(
                        f"{f.slot}: cannot be detected ({slot.help or slot.kind}); which model?",
                        f"--choose {f.slot}=MODEL",
                        options,
                        default,
                    )
                    asked = True
        if not asked:
            return report
        report = detect(catalog, role, usb, ports, choices, overrides)
    return report


# --------------------------------------------------------------------------------------------
# the device configuration's companions
# --------------------------------------------------------------------------------------------


def _write_env(config: Path) -> Path:
    return write_env(config)


def _with_broker(device: DeviceFile, broker: str, office_key: str | None = None) -> str:
    """The configuration text with ``[device].broker`` (and the pinned ``office_key``)
    replaced, everything else as it was."""
    from firmware_profiles.tomlwrite import dumps

    header = []
    for line in device.text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line[1:].strip())
    doc = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in device.doc.items()}
    doc[DEVICE_SECTION]["broker"] = broker
    if office_key:
        doc[DEVICE_SECTION]["office_key"] = office_key
    return dumps(doc, header="\n".join(header))


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------


def _interactive(args: Any, missing: bool) -> bool:
    return bool(args.interactive) or (missing and sys.stdin.isatty())


def _parse_flags(args: Any) -> tuple[dict[str, str], dict[str, Any]]:
    choices: dict[str, str] = {}
    for text in args.choose or []:
        slot, model = parse_choice(text)
        choices[slot] = model
    overrides: dict[str, Any] = {}
    for text in args.set or []:
        key, value = parse_override(text)
        overrides[key] = value
    return choices, overrides


def _role(args: Any, catalog: Catalog, prompter: Prompter | None) -> Role:
    if args.role:
        return catalog.role(args.role)
    if prompter is None:
        raise UsageError(f"--role is required: one of {', '.join(sorted(catalog.roles))} (or run with --interactive)")
    options = [(key, catalog.roles[key].name) for key in sorted(catalog.roles)]
    return catalog.role(prompter.choose("which role is this device?", "--role ROLE", options))


def _detect(args: Any, out: TextIO) -> int:
    catalog = load_catalog()
    prompter = Prompter(sys.stdin, out) if _interactive(args, not args.role) else None
    role = _role(args, catalog, prompter)
    choices, overrides = _parse_flags(args)
    usb, ports = _scan(args, out)
    if args.save_scan:
        save_scan(args.save_scan, usb, ports)
        out.write(f"saved what was seen to {args.save_scan}\n")
    report = detect(catalog, role, usb, ports, choices, overrides)
    if prompter is not None:
        report = _settle(prompter, catalog, role, report, usb, ports, choices, overrides, set())
    out.write(render_report(catalog, role, report, ports))
    if report.ok:
        flags = [f"--choose {k}={v}" for k, v in choices.items()] + [
            f"--set {k}={_shown(v)}" for k, v in overrides.items()
        ]
        out.write("ready; next:\n")
        out.write(
            f"  {PROG} apply --role {role.key} --site SITE --device-id ID" + "".join(f" {f}" for f in flags) + "\n"
        )
        return 0
    return 1


def _shown(value: Any) -> str:
    return f"0x{value:04x}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _apply(args: Any, out: TextIO) -> int:
    catalog = load_catalog()
    path: Path = args.config
    missing = not (args.role and args.site and args.device_id)
    prompter = Prompter(sys.stdin, out) if _interactive(args, missing) else None
    role = _role(args, catalog, prompter)
    current_text = read_current(path)
    old: Mapping[str, Any] = {}
    if current_text is not None:
        try:
            old = read_device_file(path).device
        except DeviceConfigError as err:
            out.write(f"warning: {err}; it will be replaced\n")  # apply is how a broken file is repaired
    site, device_id = args.site, args.device_id
    if not site:
        if prompter is None:
            raise UsageError("--site is required: the site id, e.g. demo-town (or run with --interactive)")
        site = prompter.ask("site id", "--site SITE", _id_problem("site id"), old.get("site"))
    if not device_id:
        if prompter is None:
            raise UsageError("--device-id is required: this device's id, e.g. disp-1 (or run with --interactive)")
        device_id = prompter.ask("device id", "--device-id ID", _id_problem("device id"), old.get("device_id"))
    # Keep the broker URL enrolment recorded: re-applying must not drop the TLS identity.
    broker = args.broker or old.get("broker") or DEFAULT_BROKER
    choices, overrides = _parse_flags(args)
    user_choices = dict(choices)
    if not args.no_detect:
        usb, ports = _scan(args, out)
        report = detect(catalog, role, usb, ports, choices, overrides)
        by_hand: set[str] = set()
        if prompter is not None:
            report = _settle(prompter, catalog, role, report, usb, ports, choices, overrides, by_hand)
        settled = {k: v for k, v in choices.items() if k in user_choices or k in by_hand}
        out.write(render_report(catalog, role, report, ports, settled))
        if any(f.blocking and f.slot not in settled for f in report.findings):
            out.write("nothing written: settle the slots above (or --no-detect to configure without detection)\n")
            return 1
        merged: dict[str, str | list[str]] = {**report.choices(), **choices}
        resolve_choices = merged
        overrides = {**report.overrides(), **overrides}
    else:
        resolve_choices = dict(choices)
    office_key = old.get("office_key") if isinstance(old.get("office_key"), str) else None
    identity = Identity(site, device_id, broker, office_key)
    resolved = resolve_role(catalog, role, resolve_choices, overrides)
    text = resolved.render(identity)
    out.write(f"\nresolved configuration ({path}):\n\n{text}\n")
    for key, new in (("site", site), ("device_id", device_id)):
        if old.get(key) not in (None, new):
            out.write(
                f"warning: this changes {key} from {old[key]!r} to {new!r}; "
                "the enrolled identity belongs to the old one: enroll again afterwards\n"
            )
    if current_text == text:
        out.write(f"no change: {path} already holds profile {HASH_PREFIX}{resolved.hash}\n")
        if not args.dry_run:
            _write_env(path)
        return 0
    if current_text is None:
        out.write(f"{path} does not exist yet: it will be created\n")
    else:
        out.write(diff_configs(current_text, text, str(path)))
    if args.dry_run:
        out.write(f"dry run: {path} not written\n")
        return 0
    if not args.yes:
        confirm = prompter or Prompter(sys.stdin, out)
        if not confirm.confirm(f"write {path}?", "--yes"):
            out.write(f"not written: {path} is unchanged\n")
            return 1
    apply_resolved(resolved, identity, path)
    env = _write_env(path)
    out.write(f"wrote {path} (profile {HASH_PREFIX}{resolved.hash}) and {env}\n")
    if "cert=" not in broker:
        out.write(
            f"next: {PROG} enroll --office https://OFFICE:8443 --token TOKEN"
            + (f" --config {path}" if path != DEFAULT_CONFIG else "")
            + "\n"
        )
    else:
        out.write(f"next: {PROG} self-test" + (f" --config {path}" if path != DEFAULT_CONFIG else "") + "\n")
    return 0


def _enroll(args: Any, out: TextIO) -> int:
    from firmware_profiles.enroll import enroll
    from firmware_profiles.status import format_ms

    path: Path = args.config
    device = read_device_file(path)
    prompter = Prompter(sys.stdin, out) if _interactive(args, not (args.office and args.token)) else None
    office, token = args.office, args.token
    if not office:
        if prompter is None:
            raise UsageError("--office is required: the office's enrolment address, e.g. https://office.local:8443")
        office = prompter.ask(
            "office enrolment address",
            "--office URL",
            lambda v: None if v.startswith("https://") else "use https://host:port",
            None,
        )
    if not token:
        if prompter is None:
            raise UsageError(
                "--token is required: the one-time token the office printed (madoguchi-office enrol token)"
            )
        token = prompter.ask(
            "enrolment token", "--token TOKEN", lambda v: None if v.strip() else "paste the token (mdg1-…)", None
        )
    owner = _user(args.owner) if args.owner else None  # checked before the token is spent
    out.write(f"enrolling {device.describe()} at {office} (the token pins the office's CA)…\n")
    out.flush()
    identity = enroll(office, token, device.device_id, device.profile_hash, args.identity_dir)
    if owner is not None:
        _give(args.identity_dir, owner)
    url = identity.broker_url(args.broker)
    write_atomic(path, _with_broker(device, url, identity.office_key))
    env = _write_env(path)
    out.write(
        f"enrolled {identity.device_id} as {identity.role} of site {identity.site}: certificate "
        f"{identity.serial[:12]} valid until {format_ms(identity.not_after_ms)}\n"
    )
    out.write(f"identity in {identity.directory}; broker URL recorded in {path} and {env}\n")
    code = 0
    for what, ours, theirs in (("role", device.role, identity.role), ("site", device.site, identity.site)):
        if theirs and theirs != ours:
            out.write(
                f"warning: the office enrolled this device as {what} {theirs!r} but it is configured as "
                f"{ours!r}: apply with --{what} {theirs} or ask the office for a token for {what} {ours}\n"
            )
            code = 1
    out.write(f"next: {PROG} self-test" + (f" --config {path}" if path != DEFAULT_CONFIG else "") + "\n")
    return code


def _pair(args: Any, out: TextIO) -> int:
    from firmware_profiles import pairing_flow
    from firmware_profiles.selftest import run_selftest
    from sync import pairing

    try:
        code = pairing.decode(args.code)
    except pairing.PairingCodeError as err:
        raise UsageError(str(err)) from None
    role_key = args.role or code.role
    office = _host_port(args.office) if args.office else None
    owner = _user(args.owner) if args.owner else pairing_flow.default_owner()
    catalog = load_catalog()
    where = f"{office[0]}:{office[1]}" if office else f"{code.host}:{code.port}"
    out.write(f"pairing code for a {code.role} at the office {where}\n")
    choices, overrides = _parse_flags(args)
    usb, ports = _scan(args, out)
    planned = pairing_flow.plan(catalog, role_key, usb, ports, choices, overrides)
    out.write(render_report(catalog, planned.role, planned.report, ports, choices))
    if planned.resolved is None:
        out.write("nothing written, the code is not used: settle the hardware above, then run pair again\n")
        return 1
    path: Path = args.config
    identity = pairing_flow.pair_and_configure(
        planned,
        args.code,
        path,
        args.identity_dir,
        owner=owner,
        office=office,
        broker=args.broker,
        apt_dir=args.apt_dir or pairing_flow.default_apt_dir(),
    )
    out.write(
        f"paired: this device is {identity.device_id}, a {identity.role} of site {identity.site}; "
        f"configuration in {path}\n"
    )
    if identity.apt is not None:
        out.write(f"updates from the office's apt repository at {identity.apt[0]}\n")
    if not args.no_self_test:
        device = read_device_file(path)

        def show(line: Any) -> None:
            out.write(render_lines([line], LABEL_WIDTH))
            out.flush()

        lines = run_selftest(device, fake_printer=args.fake_printer, timeout=args.timeout, on_line=show)
        if any(line.verdict is Verdict.FAIL for line in lines):
            out.write(
                f"self-test failed: the app is not started; fix what failed, run {PROG} self-test, then "
                f"systemctl enable --now {pairing_flow.APP_UNITS[identity.role]}\n"
            )
            return 1
    extra = ["--fake-printer", str(args.fake_printer)] if args.fake_printer and identity.role == "dispenser" else []
    out.write(f"starting the {identity.role} app ({args.start})\n")
    out.flush()
    pairing_flow.start_app(identity.role, args.start, config=path, data=args.data, extra=extra)
    return 0


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(f"--office {text!r}: give HOST:PORT, e.g. 192.168.10.5:8443")
    return host.strip("[]"), int(port)


def _user(name: str) -> tuple[int, int]:
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise UsageError(f"--owner {name}: no such user here; create it first (docs/provisioning.md)") from None
    return entry.pw_uid, entry.pw_gid


def _give(directory: Path, owner: tuple[int, int]) -> None:
    from firmware_profiles.pairing_flow import give

    try:
        give(directory, *owner)
    except ProfileError as err:
        raise UsageError(str(err)) from err


def _self_test(args: Any, out: TextIO) -> int:
    from firmware_profiles.selftest import run_selftest

    device = read_device_file(args.config)
    out.write(f"self-test of {device.describe()}, profile {device.profile_hash[:19]}…\n")
    out.flush()

    def show(line: Any) -> None:
        out.write(render_lines([line], LABEL_WIDTH))
        out.flush()

    lines = run_selftest(device, fake_printer=args.fake_printer, timeout=args.timeout, on_line=show)
    counts = {v: sum(1 for line in lines if line.verdict is v) for v in Verdict}
    out.write(
        f"result: {counts[Verdict.PASS]} passed, {counts[Verdict.WARN]} warning(s), {counts[Verdict.FAIL]} failed\n"
    )
    return 1 if counts[Verdict.FAIL] else 0


def _status(args: Any, out: TextIO) -> int:
    from firmware_profiles.status import device_status

    device = read_device_file(args.config)
    lines = device_status(load_catalog(), device, args.data, now_ms=int(time.time() * 1000), timeout=args.timeout)
    out.write(render_lines(lines))
    return 1 if any(line.verdict is Verdict.FAIL for line in lines) else 0


# --------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------


def _default_config() -> Path:
    return Path(os.environ.get("MADOGUCHI_DEVICE_CONFIG") or DEFAULT_CONFIG)


def _parser() -> OneLineParser:
    import argparse

    parser = OneLineParser(prog=PROG, description="Provision a madoguchi lobby device: detect, apply, enroll, test.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    def common(p: OneLineParser) -> None:
        p.add_argument(
            "--config",
            type=Path,
            default=_default_config(),
            help="the device configuration (default: $MADOGUCHI_DEVICE_CONFIG or %(default)s)",
        )
        p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    def hardware(p: OneLineParser) -> None:
        p.add_argument("--role", help="dispenser, board or kiosk")
        p.add_argument(
            "--choose",
            action="append",
            metavar="SLOT=MODEL",
            help="the model in a slot, e.g. printer=tm-t88v; keypad=none leaves it empty (repeatable)",
        )
        p.add_argument(
            "--set",
            action="append",
            metavar="KEY=VALUE",
            help="a configuration value, e.g. keypad.port=/dev/serial/by-id/… (repeatable)",
        )
        p.add_argument("--interactive", action="store_true", help="ask for whatever is missing")
        # Enumerations from a JSON file instead of the machine (tests, remote support).
        p.add_argument("--scan-file", type=Path, help=argparse.SUPPRESS)

    detect_p = sub.add_parser("detect", help="what of the role's hardware is plugged in")
    common(detect_p)
    hardware(detect_p)
    detect_p.add_argument("--save-scan", type=Path, metavar="FILE", help="also write what was seen to FILE (JSON)")

    apply_p = sub.add_parser("apply", help="resolve the role and write the device configuration")
    common(apply_p)
    hardware(apply_p)
    apply_p.add_argument("--site", help="the site id, e.g. demo-town")
    apply_p.add_argument("--device-id", help="this device's id, e.g. disp-1")
    apply_p.add_argument(
        "--broker", help=f"broker URL before enrolment (default: the current one, or {DEFAULT_BROKER})"
    )
    apply_p.add_argument("--dry-run", action="store_true", help="show the configuration and the diff, write nothing")
    apply_p.add_argument("--yes", "-y", action="store_true", help="write without asking")
    apply_p.add_argument(
        "--no-detect", action="store_true", help="configure from --choose/--set alone, without scanning"
    )

    enroll_p = sub.add_parser("enroll", help="get this device's TLS identity from the office with a one-time token")
    common(enroll_p)
    enroll_p.add_argument("--office", help="the office's enrolment address, e.g. https://office.local:8443")
    enroll_p.add_argument("--token", help="the token madoguchi-office enrol token printed")
    enroll_p.add_argument(
        "--identity-dir",
        type=Path,
        default=DEFAULT_IDENTITY_DIR,
        help="where the key and certificate go (default: %(default)s)",
    )
    enroll_p.add_argument("--broker", help="mqtts://host:port, when the office's own answer is not the address to use")
    enroll_p.add_argument(
        "--owner", metavar="USER", help="give the identity (its 0600 key) to the user the app runs as, e.g. madoguchi"
    )
    enroll_p.add_argument("--interactive", action="store_true", help="ask for whatever is missing")

    pair_p = sub.add_parser(
        "pair", help="detect, pair with the code the staff console shows, self-test and start the app (one step)"
    )
    common(pair_p)
    hardware(pair_p)
    pair_p.add_argument("code", help="the pairing code from the console's 'add a device', e.g. 7K3M-Q2XP-…")
    pair_p.add_argument(
        "--identity-dir", type=Path, default=DEFAULT_IDENTITY_DIR, help="where the key and certificate go"
    )
    pair_p.add_argument("--owner", metavar="USER", help="the app's user (default: madoguchi, when it exists)")
    pair_p.add_argument("--office", metavar="HOST:PORT", help="reach the office here instead of the code's address")
    pair_p.add_argument("--broker", help="mqtts://host:port, when the office's own answer is not the address to use")
    pair_p.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("MADOGUCHI_DATA") or DEFAULT_DATA_DIR),
        help="the app's data directory (default: $MADOGUCHI_DATA or %(default)s)",
    )
    pair_p.add_argument("--fake-printer", type=Path, metavar="DIR", help="the simulated printer (tests, demo)")
    pair_p.add_argument(
        "--apt-dir",
        type=Path,
        metavar="DIR",
        help="write the office's apt sources and key here (default: /etc/apt when the Debian package runs as root)",
    )
    pair_p.add_argument("--no-self-test", action="store_true", help="start the app without the self-test")
    pair_p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the broker (default: 10)")
    pair_p.add_argument(
        "--start",
        choices=["systemd", "exec", "none"],
        default="systemd",
        help="how the app starts: its systemd unit (default), in place of this command (no systemd), or not",
    )

    test_p = sub.add_parser("self-test", help="check the printer, card reader, cash devices, broker and clock")
    common(test_p)
    test_p.add_argument(
        "--fake-printer", type=Path, metavar="DIR", help="print the test ticket on the simulated printer: a PNG in DIR"
    )
    test_p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the broker (default: 10)")

    status_p = sub.add_parser("status", help="what this device is, its identity, connection and last sync")
    common(status_p)
    status_p.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("MADOGUCHI_DATA") or DEFAULT_DATA_DIR),
        help="the app's data directory (default: $MADOGUCHI_DATA or %(default)s)",
    )
    status_p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the broker (default: 5)")
    return parser


def _fail(message: str) -> NoReturn:
    first, *rest = message.splitlines() or [""]
    print(f"{PROG}: {first}", file=sys.stderr)
    for line in rest:
        print(f"  {line}", file=sys.stderr)
    raise SystemExit(2)


COMMANDS: dict[str, Callable[[Any, TextIO], int]] = {
    "detect": _detect,
    "apply": _apply,
    "enroll": _enroll,
    "pair": _pair,
    "self-test": _self_test,
    "status": _status,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of madoguchi-provision."""
    args = _parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        return COMMANDS[args.command](args, sys.stdout)
    except (UsageError, ProfileError) as err:
        _fail(str(err))
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
