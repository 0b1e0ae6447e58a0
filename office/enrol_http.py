"""The office's enrolment endpoint: HTTPS with the server certificate from the office CA.

Two requests (docs/security.md has the full exchange):

* ``GET /ca.pem`` - the office CA certificate. Served to anyone: a device fetches it over a
  connection it cannot verify yet, then compares its SHA-256 with the fingerprint inside its
  token, and only then opens a verified connection for the next request.
* ``POST /pair`` - JSON ``{"code", "role", "csr", "profile_hash"}`` with a pairing code from the
  staff console (sync/pairing.py): the same answers, the device id chosen by the office. After
  ``PAIR_FAILURES`` wrong codes within ``PAIR_WINDOW_S`` the endpoint takes no code at all for the
  rest of that window (429): a pairing secret is short, so guessing must stay online and slow.
* ``POST /enrol`` - JSON ``{"token", "device_id", "csr", "profile_hash"}``; the answer is the
  signed certificate, the CA certificate, the MQTT username, role and site (200), or
  ``{"error": "..."}`` with 400 (bad request; the token is still good), 403 (token refused)
  or 413 (body over 64 KiB).

Standard library only (``http.server``), one thread per request, the TLS handshake done in that
thread so a slow client cannot hold up the others; redemptions are serialised on one lock
because the registry's connection and the CA's register have one writer each.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import msgspec

from common.validation import Invalid, decode_json
from office.enrolment import Enrolled, EnrolmentError, EnrolmentRegistry, TokenRefused
from sync import messages

__all__ = ["MAX_BODY_BYTES", "EnrolServer"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
REQUEST_TIMEOUT_S = 15.0
FIELDS = ("token", "device_id", "csr", "profile_hash")
PAIR_FIELDS = ("code", "role", "csr", "profile_hash")
PAIR_FAILURES = 10
PAIR_WINDOW_S = 600.0


class _TLSServer(ThreadingHTTPServer):
    """ThreadingHTTPServer whose connections are wrapped in TLS in their own thread."""

    daemon_threads = True
    # Set by EnrolServer before serving.
    ssl_context: ssl.SSLContext
    enrol: EnrolServer

    def finish_request(self, request: Any, client_address: Any) -> None:
        """TLS handshake, then the HTTP exchange; a failed handshake is logged, not raised."""
        request.settimeout(REQUEST_TIMEOUT_S)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as err:
            log.info("enrolment endpoint: TLS handshake with %s failed: %s", client_address[0], err)
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


class _Handler(BaseHTTPRequestHandler):
    server: _TLSServer
    protocol_version = "HTTP/1.1"
    server_version = "madoguchi-enrol/1"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Into the office log, not stderr; never the body (it holds the token)."""
        log.info("enrolment endpoint %s: " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        """``/ca.pem``: the CA certificate; anything else 404."""
        if self.path != "/ca.pem":
            self._json(
                HTTPStatus.NOT_FOUND,
                messages.EnrolRefusal(error=f"no such path {self.path!r}: use GET /ca.pem or POST /enrol"),
            )
            return
        body = self.server.enrol.registry.ca.cert_pem
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/x-pem-file")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        """``/enrol``: redeem a token for a certificate; ``/pair``: the same with a pairing code."""
        if self.path not in ("/enrol", "/pair"):
            self._json(
                HTTPStatus.NOT_FOUND,
                messages.EnrolRefusal(error=f"no such path {self.path!r}: use POST /enrol or POST /pair"),
            )
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._json(HTTPStatus.LENGTH_REQUIRED, messages.EnrolRefusal(error="Content-Length is required"))
            return
        if length > MAX_BODY_BYTES or length < 0:
            # Read (and drop) a moderately large body first: closing with unread data makes the
            # kernel reset the connection, and the client would never see the answer.
            if 0 < length <= 16 * MAX_BODY_BYTES:
                self.rfile.read(length)
            self._json(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, messages.EnrolRefusal(error=f"request over {MAX_BODY_BYTES} bytes")
            )
            self.close_connection = True
            return
        body = self.rfile.read(length)
        pairing = self.path == "/pair"
        try:
            request: messages.EnrolRequest | messages.PairRequest = (
                decode_json(body, _PAIR_REQUEST) if pairing else decode_json(body, _REQUEST)
            )
        except Invalid as err:
            fields = PAIR_FIELDS if pairing else FIELDS
            self._json(HTTPStatus.BAD_REQUEST, messages.EnrolRefusal(error=f"{err}; send {', '.join(fields)}"))
            return
        except (msgspec.DecodeError, RecursionError):
            self._json(HTTPStatus.BAD_REQUEST, messages.EnrolRefusal(error="the request body is not UTF-8 JSON"))
            return
        if isinstance(request, messages.PairRequest):
            status, answer = self.server.enrol.pair(request)
        else:
            status, answer = self.server.enrol.redeem(request)
        self._json(status, answer)

    def _json(self, status: HTTPStatus, doc: messages.EnrolAnswer | messages.EnrolRefusal) -> None:
        body = msgspec.json.encode(doc)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


_REQUEST = msgspec.json.Decoder(messages.EnrolRequest)
_PAIR_REQUEST = msgspec.json.Decoder(messages.PairRequest)


class EnrolServer:
    """``POST /enrol`` and ``GET /ca.pem`` over HTTPS, in background threads.

    ``broker`` (e.g. ``mqtts://office.local:8883``) is told to enrolled devices so provisioning
    can write their broker URL. ``on_enrolled`` runs after each enrolment, under the server's
    lock: pass a function that regenerates the broker ACL and reloads Mosquitto
    (office.broker_security.apply), or the new device has no rights on the broker.
    """

    def __init__(
        self,
        registry: EnrolmentRegistry,
        *,
        certfile: Path,
        keyfile: Path,
        host: str = "0.0.0.0",
        port: int = 8443,
        broker: str | None = None,
        office_key: str | None = None,
        apt: tuple[str, tuple[str, ...], str] | None = None,
        on_enrolled: Callable[[Enrolled], object] | None = None,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        """Prepare the endpoint; nothing listens until :meth:`start`."""
        self.registry = registry
        self._certfile = Path(certfile)
        self._keyfile = Path(keyfile)
        self._host = host
        self._port = port
        self.broker = broker
        self.office_key = office_key  # the public half of the office's signing key: devices pin it
        self.apt = apt  # (URL, components, public key) of the office's apt repository, if any
        self._on_enrolled = on_enrolled
        self._wall_ms = wall_ms
        self._lock = threading.Lock()
        self._pair_failures: list[float] = []  # monotonic times of wrong pairing codes
        self._monotonic = time.monotonic
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The TCP port (the one chosen by the kernel when constructed with port 0)."""
        return self._server.server_address[1] if self._server is not None else self._port

    def url(self, host: str = "127.0.0.1") -> str:
        """``https://host:port`` for a device to enrol at."""
        return f"https://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve in a background thread; EnrolmentError if that is impossible."""
        if self._server is not None:
            return
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self._certfile, self._keyfile)
        except (OSError, ssl.SSLError) as err:
            raise EnrolmentError(
                f"cannot load the server certificate {self._certfile} / {self._keyfile}: {err}"
            ) from err
        try:
            server = _TLSServer((self._host, self._port), _Handler, bind_and_activate=True)
        except OSError as err:
            raise EnrolmentError(
                f"cannot listen on {self._host}:{self._port} for enrolment: {err.strerror or err}"
            ) from err
        server.ssl_context = context
        server.enrol = self
        self._server = server
        # A short poll interval only so that stop() returns quickly.
        self._thread = threading.Thread(target=server.serve_forever, args=(0.1,), name="enrol-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        """Start serving."""
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop serving."""
        self.stop()

    def redeem(self, request: messages.EnrolRequest) -> tuple[HTTPStatus, messages.EnrolAnswer | messages.EnrolRefusal]:
        """Redeem one checked request; the HTTP status and JSON answer."""
        return self._enrol(
            request.device_id,
            lambda: self.registry.redeem(
                request.token,
                request.csr.encode("utf-8"),
                request.device_id,
                request.profile_hash,
                now_ms=self._wall_ms(),
            ),
        )

    def pair(self, request: messages.PairRequest) -> tuple[HTTPStatus, messages.EnrolAnswer | messages.EnrolRefusal]:
        """Pair one device with a code; after a run of wrong codes, refuse every code for a while."""
        with self._lock:
            now = self._monotonic()
            self._pair_failures = [t for t in self._pair_failures if now - t < PAIR_WINDOW_S]
            if len(self._pair_failures) >= PAIR_FAILURES:
                wait_min = max(1, round((PAIR_WINDOW_S - (now - self._pair_failures[0])) / 60))
                log.warning("pairing refused: %d wrong codes in %.0f s", len(self._pair_failures), PAIR_WINDOW_S)
                return HTTPStatus.TOO_MANY_REQUESTS, messages.EnrolRefusal(
                    error=f"the office has seen too many wrong pairing codes: try again in {wait_min} minutes"
                )
        status, answer = self._enrol(
            f"a new {request.role}",
            lambda: self.registry.redeem_pairing(
                request.code, request.role, request.csr.encode("utf-8"), request.profile_hash, now_ms=self._wall_ms()
            ),
        )
        if status == HTTPStatus.FORBIDDEN:
            with self._lock:
                self._pair_failures.append(self._monotonic())
        return status, answer

    def _enrol(
        self, who: str, act: Callable[[], Enrolled]
    ) -> tuple[HTTPStatus, messages.EnrolAnswer | messages.EnrolRefusal]:
        with self._lock:
            try:
                enrolled = act()
            except TokenRefused as err:
                return HTTPStatus.FORBIDDEN, messages.EnrolRefusal(error=str(err))
            except EnrolmentError as err:
                return HTTPStatus.BAD_REQUEST, messages.EnrolRefusal(error=str(err))
            except Exception:
                log.exception("enrolment of %s failed", who)
                return HTTPStatus.INTERNAL_SERVER_ERROR, messages.EnrolRefusal(
                    error="the office could not complete the enrolment; see the office log"
                )
            if self._on_enrolled is not None:
                try:
                    self._on_enrolled(enrolled)
                except Exception:
                    # The certificate is issued and the token used: the device must not retry,
                    # the office must fix its broker configuration (the log says how).
                    log.exception(
                        "%s is enrolled but the broker configuration could not be updated", enrolled.device_id
                    )
        return HTTPStatus.OK, messages.EnrolAnswer(
            device_id=enrolled.device_id,
            role=enrolled.role,
            site=enrolled.site,
            mqtt_username=enrolled.mqtt_username,
            certificate=enrolled.certificate_pem,
            ca=enrolled.ca_pem,
            serial=enrolled.serial,
            not_after_ms=enrolled.not_after_ms,
            broker=self.broker,
            office_key=self.office_key,
            apt_url=self.apt[0] if self.apt else None,
            apt_components=self.apt[1] if self.apt else (),
            apt_key=self.apt[2] if self.apt else None,
        )
