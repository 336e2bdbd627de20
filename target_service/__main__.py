"""Serve the Reservations Service with waitress: ``python -m target_service --port 8080 --faults none``."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from waitress.server import create_server

from target_service import logs
from target_service.app import ServiceConfig, create_app
from target_service.faults import PRESETS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_THREADS = 16


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line; argparse exits 2 with a one-line error on a bad value."""
    parser = argparse.ArgumentParser(prog="python -m target_service", description=__doc__)
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument(
        "--faults",
        choices=sorted(PRESETS),
        default="seed",
        help="seed: the post's latency and 400/401/500 answers (default); none: no injected faults",
    )
    return parser.parse_args(argv)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 65535, got {text!r}")
    return port


def bound_port(server: object, requested: int) -> int:
    """The port a waitress server listens on: the one the OS picked for port 0, else the one asked for."""
    port = getattr(server, "effective_port", None)
    return int(port) if port is not None else requested


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Start the service and serve until SIGINT or SIGTERM."""
    args = parse_args(argv)
    logs.configure(sys.stdout)
    app = create_app(ServiceConfig.from_env(PRESETS[args.faults]))
    try:
        server = create_server(app, host=args.host, port=args.port, threads=DEFAULT_THREADS)
    except OSError as exc:
        print(f"target_service: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    # The address line is what scripts and tests wait for; with --port 0 it carries the port picked.
    print(f"Reservations Service listening on http://{args.host}:{bound_port(server, args.port)}", flush=True)
    logs.get_logger("target_service").info("serving", faults=args.faults, threads=DEFAULT_THREADS)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
