"""The web side of ``madoguchi-public``: the pages, their event streams and the feed endpoint.

======================  ===================================================================
``GET /``               redirects to ``/congestion`` (the query, so the language, is kept)
``GET /congestion``     how busy each purpose is; ``/congestion/events`` streams its changes
``GET /t/{token}``      a ticket's page; ``/t/{token}/events`` streams its changes
``POST /feed``          the office's feed (``Authorization: Bearer <secret>``; JSON PublicFeed)
``GET /feed``           what is held (version, day, counts), for the office and the technician
``GET /healthz``        ``ok`` (for a load balancer or a monitor)
======================  ===================================================================

Every page answer carries a Content-Security-Policy that allows only the page's own inline
style and script, no referrer (the ticket's address is its key), no cookie and no caching.
A wrong, unknown or expired ticket address and any other unknown address get the same plain
404 page. Nothing here logs an address: a ticket's address would open its page.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from common.validation import Invalid, decode_json
from public.hub import CONGESTION, Hub
from public.pages import Pages, Update, event
from public.view import choose_language, congestion_view, not_found_view, ticket_view
from sync.messages import PublicFeed
from sync.tokens import normalise, ticket_key

__all__ = ["Settings", "create_app"]

log = logging.getLogger(__name__)

_FEED = msgspec.json.Decoder(PublicFeed)


@dataclass(frozen=True)
class Settings:
    """How the web side behaves (the command line sets these)."""

    secret: bytes  # the office's bearer secret
    max_feed_bytes: int = 16 * 1024 * 1024  # 20,000 tickets with all their names fit
    keepalive_s: float = 20.0  # a comment line on idle streams, before proxies time them out
    max_streams: int = 5000  # beyond this a stream is refused; the page then polls
    housekeeping_s: float = 5.0  # how often the day's end is checked (and systemd's watchdog fed)


def _security_headers(csp: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "X-Robots-Tag": "noindex, nofollow",
        "Cache-Control": "no-store",
    }


def create_app(
    hub: Hub,
    pages: Pages,
    settings: Settings,
    tick: Callable[[], object] | None = None,
) -> Starlette:
    """The ASGI app over ``hub``; ``tick`` runs every few seconds on the event loop (the watchdog)."""
    page_headers = {**_security_headers(pages.csp), "Vary": "Accept-Language"}
    plain_headers = _security_headers("default-src 'none'; frame-ancestors 'none'")

    def html(body: str, status: int = 200) -> Response:
        return Response(body, status, headers=page_headers, media_type="text/html; charset=utf-8")

    def language(request: Request) -> str:
        return choose_language(request.query_params.get("lang"), request.headers.get("accept-language"))[0]

    def not_found(request: Request) -> Response:
        hub.stats["pages_not_found"] += 1
        return html(pages.not_found(not_found_view(language(request))), 404)

    # -- pages ---------------------------------------------------------------------------------

    async def home(request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/congestion{query}", 302, headers=plain_headers)

    async def congestion(request: Request) -> Response:
        lang = language(request)
        view = congestion_view(hub.held, lang, hub.zone, hub.live())
        hub.stats["pages_congestion"] += 1
        return html(pages.congestion(view, f"/congestion/events?lang={lang}"))

    async def ticket(request: Request) -> Response:
        found = hub.ticket(request.path_params["token"])
        if found is None:
            return not_found(request)
        lang = language(request)
        token = normalise(request.path_params["token"])
        hub.stats["pages_ticket"] += 1
        view = ticket_view(hub.held, found, lang, hub.zone)
        return html(pages.ticket(view, f"/t/{token}/events?lang={lang}"))

    # -- event streams -------------------------------------------------------------------------

    def stream_response(body: AsyncIterator[bytes]) -> Response:
        headers = {**plain_headers, "X-Accel-Buffering": "no"}  # nginx must not hold events back
        return StreamingResponse(body, media_type="text/event-stream", headers=headers)

    def refused() -> Response:
        hub.stats["streams_refused"] += 1
        return PlainTextResponse("busy", 503, headers={**plain_headers, "Retry-After": "60"})

    async def ticket_events(request: Request) -> Response:
        if hub.ticket(request.path_params["token"]) is None:
            return not_found(request)
        if hub.streams >= settings.max_streams:
            return refused()
        key = ticket_key(normalise(request.path_params["token"]) or "")
        lang = language(request)

        async def body() -> AsyncIterator[bytes]:
            with hub.subscribe(key) as sub:
                last = None
                while not sub.closed:
                    found = hub.ticket_by_key(key)
                    if found is None:
                        yield event(Update(gone=True))  # the page reloads into the 404 page
                        return
                    view = ticket_view(hub.held, found, lang, hub.zone)
                    fragment = pages.ticket_fragment(view)
                    if fragment != last:
                        yield event(Update(html=fragment, say=view.say), hub.held.version)
                        last = fragment
                    if not await sub.wait(settings.keepalive_s):
                        yield b": keep-alive\n\n"

        return stream_response(body())

    async def congestion_events(request: Request) -> Response:
        if hub.streams >= settings.max_streams:
            return refused()
        lang = language(request)

        async def body() -> AsyncIterator[bytes]:
            with hub.subscribe(CONGESTION) as sub:
                last = None
                while not sub.closed:
                    view = congestion_view(hub.held, lang, hub.zone, hub.live())
                    fragment = pages.congestion_fragment(view)
                    if fragment != last:
                        yield event(Update(html=fragment), hub.held.version)
                        last = fragment
                    if not await sub.wait(settings.keepalive_s):
                        yield b": keep-alive\n\n"

        return stream_response(body())

    # -- the feed ------------------------------------------------------------------------------

    def authorised(request: Request) -> bool:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # compare_digest: the time taken says nothing about how much of a guess was right.
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8"), settings.secret)

    def answer(status: int, content: Mapping[str, object]) -> Response:
        headers = dict(plain_headers)
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="madoguchi-public"'
        return JSONResponse(dict(content), status, headers=headers)

    async def read_body(request: Request) -> bytes | None:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_feed_bytes:
            return None
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_feed_bytes:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def feed_post(request: Request) -> Response:
        if not authorised(request):
            hub.stats["feeds_unauthorised"] += 1
            return answer(401, {"error": "a bearer secret is required (Authorization: Bearer <secret>)"})
        body = await read_body(request)
        if body is None:
            hub.stats["feeds_too_large"] += 1
            return answer(413, {"error": f"the feed is over {settings.max_feed_bytes} bytes"})
        try:
            feed = decode_json(body, _FEED)
        except Invalid as err:
            hub.stats["feeds_bad"] += 1
            log.warning("a feed was refused: %s", err)
            return answer(400, {"error": str(err), "path": err.path})
        except msgspec.DecodeError as err:
            hub.stats["feeds_bad"] += 1
            log.warning("a feed was refused: not JSON (%s)", err)
            return answer(400, {"error": f"not JSON: {err}", "path": ""})
        applied = hub.apply(feed)
        held = hub.held
        if not applied.accepted:
            log.info("feed version %d ignored: %s", feed.version, applied.reason)
        return answer(
            200,
            {
                "accepted": applied.accepted,
                "version": held.version,
                "tickets": len(held.tickets),
                "note": applied.reason,
            },
        )

    async def feed_get(request: Request) -> Response:
        if not authorised(request):
            hub.stats["feeds_unauthorised"] += 1
            return answer(401, {"error": "a bearer secret is required (Authorization: Bearer <secret>)"})
        held = hub.held
        return answer(
            200,
            {
                "site": held.site,
                "business_day": held.business_day,
                "version": held.version,
                "live": hub.live(),
                "tickets": len(held.tickets),
                "purposes": len(held.purposes),
                "streams": hub.streams,
                "stats": dict(sorted(hub.stats.items())),
            },
        )

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok", headers=plain_headers)

    # -- errors and lifespan -------------------------------------------------------------------

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            return PlainTextResponse("method not allowed", 405, headers=plain_headers)
        return not_found(request)

    async def housekeeping() -> None:
        while True:
            await asyncio.sleep(settings.housekeeping_s)
            try:
                hub.expire()
                if tick is not None:
                    tick()
            except Exception:  # never let the day's end stop the pages; the log says why
                log.exception("housekeeping failed")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if hub.keeper is not None:
            hub.keeper.start()
        hub.expire()  # a feed kept from a day that ended while the process was down
        task = asyncio.create_task(housekeeping())
        try:
            yield
        finally:
            hub.close_streams()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if hub.keeper is not None:
                hub.keeper.stop()

    handlers: Mapping[int, Callable[[Request, Exception], Awaitable[Response]]] = {404: http_error, 405: http_error}
    routes = [
        Route("/", home, methods=["GET"]),
        Route("/congestion", congestion, methods=["GET"]),
        Route("/congestion/events", congestion_events, methods=["GET"]),
        Route("/t/{token}", ticket, methods=["GET"]),
        Route("/t/{token}/events", ticket_events, methods=["GET"]),
        Route("/feed", feed_post, methods=["POST"]),
        Route("/feed", feed_get, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
