"""A TCP relay on 127.0.0.1 in front of a real server, whose server-to-client direction the
test controls: closed (nothing passes), throttled (so many bytes a second) or open. It
makes "a job is still at work" a state the test sets, not a race against a fast machine."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class TcpGate:
    """Relays every connection to ``127.0.0.1:target_port``; ``rate`` is the server-to-client
    limit in bytes a second (0: closed, None: open), changeable while connections run."""

    def __init__(self, target_port: int, rate: int | None = None) -> None:
        self.target_port = target_port
        self._rate = rate
        self._changed = threading.Condition()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def set_rate(self, rate: int | None) -> None:
        """0 closes the gate, None opens it, a number throttles it (bytes a second)."""
        with self._changed:
            self._rate = rate
            self._changed.notify_all()

    def url(self, dovecot_url: str, dovecot_port: int) -> str:
        """The same endpoint URL, through the gate."""
        return dovecot_url.replace(f"127.0.0.1:{dovecot_port}", f"127.0.0.1:{self.port}")

    def close(self) -> None:
        self._closed = True
        self.set_rate(None)
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, gated: bool) -> None:
        try:
            while True:
                chunk = self._metered(source) if gated else source.recv(65536)
                if not chunk:
                    break
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _metered(self, source: socket.socket) -> bytes:
        """Waits while the gate is closed, then reads at most a tenth of a second's worth."""
        with self._changed:
            while self._rate == 0:
                self._changed.wait()
            rate = self._rate
        if rate is None:
            return source.recv(65536)
        chunk = source.recv(max(1, rate // 10))
        time.sleep(len(chunk) / rate)
        return chunk
