"""Pushing the resident's page feed to ``madoguchi-public``, one way, off the office loop.

The office never accepts a connection from the public side (三層分離: the page may run on the
internet-facing segment or a cloud host); it POSTs each feed over HTTP(S) with the shared secret
as a bearer token. A thread does the network so a slow or absent public host never slows the
loop: the loop :meth:`FeedPusher.offer`\\ s feeds in order, the thread sends them in order. A
failure drops what is queued and asks the loop for a full feed (:attr:`FeedPusher.wants_full`),
sent when the host answers again - the public side then holds exactly the office's view.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections import Counter as Tally
from collections.abc import Callable
from pathlib import Path

import msgspec

from sync import messages

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0
RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # after a failure: wait, then ask for a full feed again


class FeedPusher:
    """Sends feeds to ``url``'s ``/feed`` with the secret in ``secret_file``."""

    def __init__(self, url: str, secret_file: Path, *, sleep: Callable[[float], bool] | None = None) -> None:
        self.endpoint = url.rstrip("/") + "/feed"
        self.secret = secret_file.read_text(encoding="utf-8").strip()
        if len(self.secret) < 16:
            raise ValueError(f"{secret_file}: the feed secret needs at least 16 characters")
        self.stats: Tally[str] = Tally()
        self.held_version = 0  # the public side's version, as its last answer said
        self._lock = threading.Condition()
        self._queue: list[messages.PublicFeed] = []
        self._wants_full = True
        self._stop = threading.Event()
        self._failures = 0
        self._sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None

    @property
    def wants_full(self) -> bool:
        """The loop should build a full feed (at start, and after a failed push)."""
        with self._lock:
            return self._wants_full and not self._queue

    def offer(self, feed: messages.PublicFeed) -> None:
        """Queue a feed (in order after the ones queued)."""
        with self._lock:
            if feed.full:
                self._queue.clear()  # a full feed replaces whatever was waiting
                self._wants_full = False
            elif self._wants_full:
                return  # a delta on top of a lost one would leave holes: wait for the full
            self._queue.append(feed)
            self._lock.notify()

    def start(self) -> None:
        """Start the sending thread."""
        self._thread = threading.Thread(target=self._run, name="public-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sending (what is queued is dropped: the next start sends a full feed)."""
        self._stop.set()
        with self._lock:
            self._lock.notify()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_S + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                while not self._queue and not self._stop.is_set():
                    self._lock.wait()
                if self._stop.is_set():
                    return
                feed = self._queue.pop(0)
            if self._send(feed):
                self._failures = 0
                continue
            with self._lock:
                self._queue.clear()
                self._wants_full = True
            self._sleep(RETRY_S[min(self._failures, len(RETRY_S) - 1)])
            self._failures += 1

    def _send(self, feed: messages.PublicFeed) -> bool:
        request = urllib.request.Request(
            self.endpoint,
            data=msgspec.json.encode(feed),
            method="POST",
            headers={"Authorization": f"Bearer {self.secret}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                body = json.loads(answer.read() or b"{}")
        except (urllib.error.URLError, OSError, ValueError) as err:
            self.stats["feeds_failed"] += 1
            if self._failures == 0:  # once per outage, not once per retry
                log.warning("the resident's page at %s did not take a feed: %s", self.endpoint, err)
            return False
        self.held_version = int(body.get("version") or 0)
        if not body.get("accepted", False):
            # Its version is ahead of ours (our clock went back, or another office fed it):
            # the loop's next full feed goes above it.
            self.stats["feeds_refused"] += 1
            log.warning("the resident's page refused feed %d: %s", feed.version, body.get("note", ""))
            return False
        self.stats["feeds_sent"] += 1
        return True
