"""An Alertmanager webhook for the container test: keeps every POST, serves them back at GET /received.

It runs in the compose stack (on the runner's image), named alert-receiver, so the shipped
prometheus/alertmanager.yml reaches it unchanged; the test reads it through a port published on 127.0.0.1::

    python alert_receiver.py --port 5001
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class AlertReceiver(ThreadingHTTPServer):
    """Every webhook call as {"path": ..., "body": ...}, in arrival order."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: AlertReceiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with self.server.lock:
            self.server.received.append({"path": self.path, "body": body})
        self._reply(200, b"{}")

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, b"{}")
        elif self.path == "/received":
            with self.server.lock:
                self._reply(200, json.dumps(self.server.received).encode())
        else:
            self._reply(404, b"{}")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    """Serve until stopped."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default: every one, in a container)")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args()
    AlertReceiver((args.host, args.port)).serve_forever()


if __name__ == "__main__":
    main()
