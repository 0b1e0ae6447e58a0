"""A branch's WAN link to the ward's centre, as a TCP relay that can be cut and restored: the
ward tests (and a demo of a ward) put it between a branch's Mosquitto bridge and the central
broker. Cut, it closes every relayed connection and refuses new ones, as a dead line does;
restored, it relays again and the bridge reconnects by itself."""

from __future__ import annotations

import contextlib
import socket
import threading

from lobby.brokers import LOOPBACK, free_port

__all__ = ["WanLink"]


class WanLink:
    """Relays ``127.0.0.1:port`` to ``target`` while up."""

    def __init__(self, target_port: int, port: int | None = None, target_host: str = LOOPBACK) -> None:
        self.port = port if port is not None else free_port(LOOPBACK)
        self.target = (target_host, target_port)
        self._up = threading.Event()
        self._up.set()
        self._closing = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._server = socket.create_server((LOOPBACK, self.port), reuse_port=False)
        self._server.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, name=f"wan-{self.port}", daemon=True)
        self._thread.start()

    @property
    def up(self) -> bool:
        """Whether the link relays."""
        return self._up.is_set()

    def cut(self) -> None:
        """The line goes dead: every relayed connection is closed, new ones are refused."""
        self._up.clear()
        with self._lock:
            for s in list(self._sockets):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._sockets.clear()

    def restore(self) -> None:
        """The line is back."""
        self._up.set()

    def close(self) -> None:
        """Stop relaying for good."""
        self._closing.set()
        self.cut()
        self._server.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)
