"""The runner's HTTP server over cheroot, plain or TLS (``runner.settings.web_config``), serving a WSGI app.

Slow clients hold no thread: a connection's TLS handshake and request head are read in cheroot's selector thread,
without waiting, and it goes to a request thread only once the head is whole. A client has HEAD_TIMEOUT_SECONDS
from its first byte to send it, however it trickles; a request with a body (none is read here) closes its
connection after the answer rather than wait for the body. ``close()`` gives up after CLOSE_SECONDS.

A request thread reads its head from the bytes the selector's thread took and sends the app's body as it is (cheroot
copies each answer into a buffer and out again): /metrics' cached body goes out without a copy.

Usage::

    server = bind(make_app(registry, monitor.health), "127.0.0.1", 8000)   # ConfigError if the port is taken
    server.run()                                                            # until a KeyboardInterrupt
    server.close()
"""

from __future__ import annotations

import email.utils
import enum
import errno
import functools
import io
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from typing import Any

from cheroot import server as cheroot_server
from cheroot import wsgi
from cheroot.makefile import StreamReader, StreamWriter
from cheroot.workers import threadpool

from runner import logs
from runner.errors import ConfigError
from runner.web.http import StartResponse, WSGIApp

DEFAULT_THREADS = 8
# Idle keep-alive connections wait in cheroot's selector, not in a thread, but cheroot keeps only 10 of them by
# default and closes the 11th client's after each answer: dashboards and load balancers hold many more.
CONNECTION_LIMIT = 1000
LISTEN_BACKLOG = 1024  # cheroot's default of 5 drops the SYNs of 50 scrapers connecting at once
TIMEOUT_SECONDS = 10  # for one read or write in a request thread; also how long an idle connection stays open
HEAD_TIMEOUT_SECONDS = 5.0  # from a client's first byte to the end of its request head (TLS handshake included)
HEAD_MAX_BYTES = 32768  # a request line and headers, as nginx allows; cheroot answers 414 or 413 beyond
# Read ahead past the limit (cheroot reads a line 256 bytes at a time), so its size check fires before it would
# have to wait on the socket.
HEAD_BUFFER_BYTES = HEAD_MAX_BYTES + 1024
HEAD_ENDS = (b"\r\n\r\n", b"\n\n")  # a bare-LF head is whole too: cheroot answers it with 400 at once
RECEIVE_BYTES = 16384
SEND_BYTES = 262144  # the most one send is given, so that a slow reader's socket timeout is per send, TLS too
SHUTDOWN_SECONDS = 3  # cheroot's wait for its request threads
CLOSE_SECONDS = SHUTDOWN_SECONDS + 2  # then close() stops waiting
TLS_HANDSHAKE_RECORD = b"\x16"  # the first byte a TLS client sends
PLAIN_REQUEST_BYTES = 65536
PLAIN_HTTP_ANSWER = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"


class Server:
    """A bound server: ``run()`` serves until a KeyboardInterrupt (the runner's stop signal), ``close()`` ends it."""

    def __init__(self, server: _CherootServer) -> None:
        self._server = server

    @property
    def port(self) -> int:
        """The port it listens on (the one the OS picked when asked for 0)."""
        return int(self._server.bind_addr[1])

    @property
    def scheme(self) -> str:
        """``https`` with TLS, else ``http``."""
        return "http" if self._server.tls_context is None else "https"

    def run(self) -> None:
        """Serve until a KeyboardInterrupt is raised in this thread."""
        self._server.serve()

    def close(self) -> None:
        """Stop accepting, close every connection and end the threads; give up waiting after CLOSE_SECONDS.

        cheroot waits SHUTDOWN_SECONDS for its request threads, then without end for one whose app does not return.
        Those threads are daemons here, so one left behind does not keep the process from exiting either.
        """
        stopping = threading.Thread(target=self._server.stop, name="http-server-stop", daemon=True)
        stopping.start()
        stopping.join(CLOSE_SECONDS)
        if stopping.is_alive():
            logs.get_logger("runner.web.http").warning(
                "the HTTP server did not stop in time; a request thread is left behind", close_seconds=CLOSE_SECONDS
            )


def bind(app: WSGIApp, host: str, port: int, tls: ssl.SSLContext | None = None) -> Server:
    """Bind the server (TLS with ``tls``); a taken port or bad address is a ConfigError."""
    server = _CherootServer((host, port), _without_body_on_head(app), tls)
    try:
        server.prepare()
    except OSError as exc:
        reason = server.bind_error or exc
        raise ConfigError(f"--port: cannot listen on {host}:{port}: {reason.strerror or reason}") from None
    return Server(server)


def _without_body_on_head(app: WSGIApp) -> WSGIApp:
    """cheroot sends whatever body the app returns, even to HEAD, where the client reads it as the next answer."""

    def head_aware(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "HEAD":
            return body
        close = getattr(body, "close", None)
        if close is not None:
            close()
        return []

    return head_aware


class _Head(enum.Enum):
    """Where a connection's request head stands after the selector's thread read what the client sent."""

    WHOLE = "a request thread can read all of it"
    PARTIAL = "wait in the selector for more"
    OVER = "the client closed, or the connection failed"


class _Request(cheroot_server.HTTPRequest):
    """A request whose body, which no route reads, is not waited for.

    After the answer cheroot reads what is left of a body, to keep the connection for the next request, however
    slowly it comes: a body trickled in would hold the thread. The connection is closed after the answer instead.
    """

    inheaders: dict[bytes, bytes]
    chunked_read: bool
    close_connection: bool

    def read_request_headers(self) -> bool:
        ok = bool(super().read_request_headers())  # type: ignore[no-untyped-call]
        if ok and (self.chunked_read or self.inheaders.get(b"Content-Length", b"0") != b"0"):
            self.close_connection = True
        return ok

    def send_headers(self) -> None:
        # cheroot formats the Date header with email.utils for every answer; it changes once a second
        if all(name.lower() != b"date" for name, _ in self.outheaders):
            self.outheaders.append((b"Date", _http_date(int(time.time()))))
        super().send_headers()


@functools.lru_cache(maxsize=1)
def _http_date(second: int) -> bytes:
    """A second since the epoch as an HTTP date (RFC 9110's IMF-fixdate), formatted once per second."""
    return email.utils.formatdate(second, usegmt=True).encode("ascii")


class _Connection(cheroot_server.HTTPConnection):
    """A connection whose TLS handshake and request head are read in the selector's thread, without waiting.

    cheroot hands a connection to a request thread as soon as it has any bytes, and the thread then waits for the
    rest of its head: eight clients sending heads slowly (slowloris) would hold every thread, and /healthz with them.
    cheroot's own TLS adapter shakes hands in its accept loop, so one silent client would stall every other (cheroot
    issue 748). Here the selector's thread only ever takes the bytes a client has sent, and the connection goes to a
    thread once its head is whole; one that takes more than HEAD_TIMEOUT_SECONDS from its first byte is closed.
    """

    server: _CherootServer
    rfile: _Reader
    RequestHandlerClass = _Request
    waited = False  # has been readable once: a new connection first waits in the selector, not in a thread
    tls_done = False
    head_since: float | None = None  # time.time() of the first byte of the request (or handshake) under way
    _last_used: float | None = None

    def __init__(self, server: _CherootServer, sock: socket.socket, makefile: Any = None) -> None:
        super().__init__(server, sock, _makefile)

    @property
    def last_used(self) -> float | None:
        """cheroot's selector closes a connection that has waited there ``server.timeout`` past this time."""
        return self._last_used

    @last_used.setter
    def last_used(self, value: float | None) -> None:
        # Set each time the connection goes back to the selector. While a request is under way it stays before the
        # head's deadline, so that a client trickling bytes (or one that stopped) is closed at that deadline.
        if value is not None and self.head_since is not None:
            value = min(value, self.head_since + HEAD_TIMEOUT_SECONDS - self.server.timeout)
        self._last_used = value

    def late(self) -> bool:
        """Whether the request under way has had its HEAD_TIMEOUT_SECONDS; the first call starts the clock."""
        now = time.time()
        if self.head_since is None:
            self.head_since = now
        return now - self.head_since > HEAD_TIMEOUT_SECONDS

    def read_ahead(self) -> _Head:
        """Take what the client has sent, without waiting, and say whether the head is whole."""
        self.rfile.unbuffer()
        ended = False
        if not self.rfile.head_whole():
            try:
                ended = _receive(self.socket, self.rfile.ahead, self.server.timeout)
            except OSError:  # reset by the client, a TLS alert
                return _Head.OVER
        if self.rfile.head_whole() or (ended and self.rfile.ahead):  # cut short: cheroot answers it without waiting
            self.head_since = None
            return _Head.WHOLE
        return _Head.OVER if ended else _Head.PARTIAL

    def advance_tls(self, context: ssl.SSLContext) -> bool:
        """Take the handshake as far as the client's bytes allow; True once done. Else the connection is back in
        the selector waiting for more, or closed if the handshake failed."""
        try:
            if not isinstance(self.socket, ssl.SSLSocket):
                first = self.socket.recv(1, socket.MSG_PEEK)  # readable, so this does not wait
                if first != TLS_HANDSHAKE_RECORD:
                    if first:  # answered as Go's servers do; the request read first, or closing would reset
                        self.socket.recv(PLAIN_REQUEST_BYTES)
                        self.socket.sendall(PLAIN_HTTP_ANSWER)
                    raise ConnectionError("not a TLS client")
                self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
                self.rfile = _makefile(self.socket, "rb", self.rbufsize)
                self.wfile = _makefile(self.socket, "wb", self.wbufsize)
            self.socket.settimeout(0)
            try:
                self.socket.do_handshake()
            finally:
                self.socket.settimeout(self.server.timeout)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            self.server.put_conn(self)
            return False
        except (OSError, ValueError):  # a probe, a scanner, a client that does not trust our certificate
            self.close()
            return False
        self.tls_done = True
        self.ssl_env = {"wsgi.url_scheme": "https", "HTTPS": "on"}
        return True


def _receive(sock: socket.socket, into: bytearray, timeout: float) -> bool:
    """Append what ``sock`` holds, up to HEAD_BUFFER_BYTES in all, without waiting; True at the end of the stream."""
    sock.settimeout(0)
    try:
        while len(into) < HEAD_BUFFER_BYTES:
            try:
                chunk = sock.recv(min(RECEIVE_BYTES, HEAD_BUFFER_BYTES - len(into)))
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return False
            if not chunk:
                return True
            into += chunk
        return False
    finally:
        sock.settimeout(timeout)


class _Reader(StreamReader):
    """A connection's request stream: first ``ahead``, the bytes the selector's thread took, then the socket."""

    def __init__(self, sock: socket.socket, bufsize: int) -> None:
        self.ahead = bytearray()
        # StreamReader's own __init__ would read the socket alone; its base reads the stream it is given.
        super(StreamReader, self).__init__(_AheadFirst(sock, self.ahead), bufsize)
        self.bytes_read = 0
        self._sock = sock

    def has_data(self) -> bool:
        """Whether there is something to look at without waiting for the client: buffered bytes (a pipelined
        request), bytes OpenSSL has decrypted but not handed over (the socket is not readable for those), or a
        whole head. A partial head alone is not: its connection waits in the selector for the rest."""
        buffered = bool(super().has_data())  # type: ignore[no-untyped-call]
        decrypted = isinstance(self._sock, ssl.SSLSocket) and self._sock.pending() > 0
        return buffered or decrypted or self.head_whole()

    def head_whole(self) -> bool:
        """Whether ``ahead`` holds a whole head, or as much as cheroot needs to refuse one too long."""
        return len(self.ahead) >= HEAD_BUFFER_BYTES or any(end in self.ahead for end in HEAD_ENDS)

    def readline(self, size: int | None = -1) -> bytes:
        """A line, straight from ``ahead`` while nothing is buffered before it (where a request thread finds its
        whole head): _pyio's readline peeks and reads a byte string at a time for each line."""
        if not super().has_data():  # type: ignore[no-untyped-call]
            limit = len(self.ahead) if size is None or size < 0 else min(size, len(self.ahead))
            end = self.ahead.find(b"\n", 0, limit)
            if end >= 0 or limit == size:  # a whole line, or as much as asked for
                if self.closed:
                    raise ValueError("readline of closed file")
                count = end + 1 if end >= 0 else limit
                line = bytes(self.ahead[:count])
                del self.ahead[:count]
                self.bytes_read += count
                return line
        return bytes(super().readline(size))

    def unbuffer(self) -> None:
        """Put the bytes buffered for reading back in front of ``ahead``, so that it holds all there is to read."""
        if super().has_data():  # type: ignore[no-untyped-call]
            self.ahead[:0] = self.read1()  # with bytes buffered, read1 returns those and does not read the socket


class _AheadFirst(socket.SocketIO):
    """The socket's stream, after the bytes already taken from it."""

    def __init__(self, sock: socket.socket, ahead: bytearray) -> None:
        super().__init__(sock, "rb")
        self._ahead = ahead

    def readinto(self, b: Any) -> int | None:
        if not self._ahead:
            return super().readinto(b)
        with memoryview(b) as buffer, buffer.cast("B") as view:
            count = min(len(view), len(self._ahead))
            view[:count] = self._ahead[:count]
        del self._ahead[:count]
        return count


class _Writer(StreamWriter):
    """A connection's response stream, each write sent as it is.

    cheroot's writer sends every write at once too, but copies it on the way: into its buffer, then out of it as
    ``bytes`` once per partial send. A /metrics body of a thousand journeys is 170 KB gzipped, copied three times
    or more per scrape while the copying thread holds the GIL. The socket's timeout applies to each send of at
    most SEND_BYTES, not to the whole body (as ``sendall``'s, and a TLS socket's ``send``, which writes all it is
    given): a scraper reading a large body slowly is not cut off.
    """

    def __init__(self, sock: socket.socket, mode: str = "wb", bufsize: int = io.DEFAULT_BUFFER_SIZE) -> None:
        super().__init__(sock, mode, bufsize)
        self._sock = sock

    def write(self, b: Any) -> int:
        if isinstance(b, str):
            raise TypeError("can't write str to binary stream")
        with self._write_lock, memoryview(b) as whole, whole.cast("B") as flat:  # type: ignore[attr-defined]
            self._checkClosed()
            sent, count = 0, flat.nbytes
            try:
                while sent < count:
                    sent += self._sock.send(flat[sent : sent + SEND_BYTES])
            # TLS tells a client gone mid-answer (a scrape past its timeout) and a stalled one in words of its own,
            # which cheroot logs as a server error with a traceback; plain HTTP's, which it takes in its stride
            except ssl.SSLEOFError as exc:
                raise ConnectionResetError(errno.ECONNRESET, "the client closed the connection mid-answer") from exc
            except TimeoutError as exc:
                raise TimeoutError("timed out") from exc
        self.bytes_written += count
        return count


def _makefile(sock: socket.socket, mode: str = "r", bufsize: int = io.DEFAULT_BUFFER_SIZE) -> Any:
    return _Reader(sock, bufsize) if "r" in mode else _Writer(sock, mode, bufsize)


class _Workers(threadpool.ThreadPool):
    """cheroot's request threads, as daemons: one whose app never returns does not keep the process alive."""

    def _spawn_worker(self) -> threadpool.WorkerThread:  # where cheroot (10 and 11) makes each of its threads
        worker = threadpool.WorkerThread(self.server)  # type: ignore[no-untyped-call]
        worker.name = f"CP Server {worker.name}"
        worker.daemon = True
        worker.start()
        return worker


class _CherootServer(wsgi.Server):
    ConnectionClass = _Connection

    def __init__(self, bind_addr: tuple[str, int], app: WSGIApp, tls: ssl.SSLContext | None) -> None:
        super().__init__(
            bind_addr,
            app,
            numthreads=DEFAULT_THREADS,
            server_name="synthetic-monitor",
            request_queue_size=LISTEN_BACKLOG,
            timeout=TIMEOUT_SECONDS,
            shutdown_timeout=SHUTDOWN_SECONDS,
        )
        self.requests = _Workers(self, min=DEFAULT_THREADS)
        self.keep_alive_conn_limit = CONNECTION_LIMIT
        self.max_request_header_size = HEAD_MAX_BYTES
        self.tls_context = tls
        self.bind_error: OSError | None = None

    def bind(self, family: int, socktype: int, proto: int = 0) -> Any:
        try:
            return super().bind(family, socktype, proto)
        except OSError as exc:  # cheroot folds it into a message of its own; keep it for ours
            self.bind_error = exc
            raise

    def process_conn(self, conn: _Connection) -> None:
        if not conn.waited:  # a new connection holds no thread until it has something to read
            conn.waited = True
            self.put_conn(conn)
        elif conn.late():
            conn.close()
        elif self.tls_context is not None and not conn.tls_done:
            if conn.advance_tls(self.tls_context):
                self.put_conn(conn)  # on to the head: at once if it came with the handshake, else once it comes
        else:
            head = conn.read_ahead()
            if head is _Head.WHOLE:
                super().process_conn(conn)
            elif head is _Head.PARTIAL:
                self.put_conn(conn)
            else:
                conn.close()

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        if level >= logging.WARNING:  # below are dropped connections and shutdown chatter
            logging.getLogger("cheroot").log(level, "%s", msg, exc_info=traceback)
