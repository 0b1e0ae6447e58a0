"""madoguchi-public: the resident's progress page, fed one way by the office.

    madoguchi-public serve --port 8090 --host 0.0.0.0 --feed-secret-file /etc/madoguchi/public.secret \\
                           [--data /var/lib/madoguchi-public] [--timezone Asia/Tokyo] [--rollover-hour 3]

One process, one worker (uvicorn, HTTP/1.1): it holds the business day's feed in memory, keeps
the last one in ``--data`` so a restart shows pages at once, and never opens a connection of its
own - the office connects to it (``POST /feed``). docs/public.md is the technician's guide.
Errors in how it is started are one line and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import stat
import sys
import time
import zoneinfo
from collections.abc import Iterator, Sequence
from pathlib import Path

from common.cli import OneLineParser, UsageError, fail, setup_logging
from public.feed import Held, apply
from public.hub import Hub, Keeper
from public.pages import Pages
from public.store import FeedFile, StoreError

PROG = "madoguchi-public"
MIN_SECRET_CHARS = 16

log = logging.getLogger(__name__)


def _parser() -> OneLineParser:
    p = OneLineParser(prog=PROG, description="The resident's progress page and the congestion page.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    serve = sub.add_parser("serve", help="serve the pages and take the office's feed")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8090, help="port to listen on (default: %(default)s)")
    serve.add_argument(
        "--feed-secret-file", type=Path, required=True, help="file holding the office's bearer secret (one line)"
    )
    serve.add_argument("--data", type=Path, help="directory to keep the last feed in (default: memory only)")
    serve.add_argument("--timezone", default="Asia/Tokyo", help="the office's time zone (default: %(default)s)")
    serve.add_argument(
        "--rollover-hour",
        type=int,
        default=3,
        help="local hour the business day ends on the next morning; ticket pages close then (default: %(default)s)",
    )
    serve.add_argument(
        "--poll-seconds", type=int, default=20, help="how often a page polls when its event stream fails"
    )
    serve.add_argument("--max-streams", type=int, default=5000, help="open event streams at most")
    serve.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate chain (PEM)")
    serve.add_argument("--tls-key", type=Path, help="the private key of --tls-cert (PEM)")
    serve.add_argument(
        "--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log detail"
    )
    return p


def read_secret(path: Path) -> bytes:
    """The bearer secret in ``path`` (surrounding whitespace dropped); UsageError if unusable."""
    try:
        text = path.read_text(encoding="utf-8").strip()
        mode = path.stat().st_mode
    except OSError as err:
        raise UsageError(f"--feed-secret-file: cannot read {path} ({err.strerror})") from err
    except UnicodeDecodeError as err:
        raise UsageError(f"--feed-secret-file: {path} is not UTF-8 text") from err
    if len(text) < MIN_SECRET_CHARS or any(c.isspace() for c in text):
        raise UsageError(
            f"--feed-secret-file: {path} must hold one secret of at least {MIN_SECRET_CHARS} characters without "
            "spaces, e.g. the output of `openssl rand -hex 32`"
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s can be read by other users: chmod 600 it", path)
    return text.encode("utf-8")


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise UsageError(f"--timezone: unknown time zone {name!r}; e.g. Asia/Tokyo") from err


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a port in use is one line, not a traceback."""
    if not 0 < port < 65536:
        raise UsageError(f"--port: {port} is not a port number (1-65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise UsageError(f"--host: cannot use {host!r} ({err.strerror})") from err
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({err.strerror})") from err
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(args: argparse.Namespace) -> int:
    """Run the server until SIGTERM or SIGINT."""
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn raises the stop signal again once it has shut down, so the process would die
            # of SIGTERM; a stop that was asked for and went cleanly is exit status 0 here.
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    from common.watchdog import Watchdog
    from public.app import Settings, create_app

    secret = read_secret(args.feed_secret_file)
    zone = _zone(args.timezone)
    if not 0 <= args.rollover_hour <= 12:
        raise UsageError(f"--rollover-hour: {args.rollover_hour} is not an hour from 0 to 12")
    if args.poll_seconds < 1 or args.max_streams < 0:
        raise UsageError("--poll-seconds must be at least 1 and --max-streams at least 0")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    for option, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path is not None and not os.access(path, os.R_OK):
            raise UsageError(f"{option}: cannot read {path}")

    held = Held()
    file: FeedFile | None = None
    keeper: Keeper | None = None
    if args.data is not None:
        file = FeedFile(args.data)
        try:
            file.lock()
        except StoreError as err:
            raise UsageError(str(err)) from err
        kept = file.load()
        if kept is not None:
            held = apply(held, kept).held
            log.info("kept feed: %s, version %d, %d tickets", held.business_day, held.version, len(held.tickets))
        keeper = Keeper(file)
    sock = _listen(args.host, args.port)

    dog = Watchdog.from_environment()
    hub = Hub(held, zone, args.rollover_hour, lambda: time.time_ns() // 1_000_000, keeper)
    app = create_app(hub, Pages(args.poll_seconds), Settings(secret, max_streams=args.max_streams), tick=dog.kick)
    config = uvicorn.Config(
        app,
        http="h11",
        lifespan="on",
        log_level=args.log_level.lower(),
        access_log=False,  # an access log would hold every ticket's address, which opens its page
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=3,  # open event streams would otherwise hold a stop back
        ssl_certfile=str(args.tls_cert) if args.tls_cert else None,
        ssl_keyfile=str(args.tls_key) if args.tls_key else None,
    )
    server = _Server(config)
    dog.ready()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if file is not None:
            file.unlock()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``madoguchi-public``."""
    args = _parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        return serve(args)
    except UsageError as err:
        fail(PROG, str(err))


if __name__ == "__main__":
    sys.exit(main())
