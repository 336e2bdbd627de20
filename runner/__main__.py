"""``python -m runner`` / ``synthetic-monitor``: run the journeys on a fixed interval and serve /metrics.

Usage::

    synthetic-monitor --interval 30 --port 8000 -- -m critical
    synthetic-monitor --once --metrics-file /var/lib/node_exporter/synthetic.prom
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

from prometheus_client import CollectorRegistry, disable_created_metrics, push_to_gateway

from runner import logs
from runner.errors import ConfigError
from runner.handoff import procs
from runner.record import summary
from runner.record.artifacts import URL_PREFIX, ArtifactStore, wsgi_app
from runner.record.history import History
from runner.record.maintenance import MaintenanceBook
from runner.record.metrics import MonitorMetrics
from runner.record.redact import Redactor
from runner.record.uptime import Uptime
from runner.settings.command_line import Settings, parse_settings
from runner.settings.web_config import tls_context
from runner.supervisor.execute import Executor
from runner.supervisor.monitor import Monitor
from runner.supervisor.scheduler import FixedRateScheduler
from runner.web import access, http
from runner.web import server as web_server
from runner.web.maintenance_api import PATH as MAINTENANCE_PATH
from runner.web.maintenance_api import MaintenanceApi

STOP_JOIN_SECONDS = 3.0
SWITCH_INTERVAL_SECONDS = 0.0005
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PUSH_JOB = "synthetic-monitor"
PUSH_TIMEOUT_SECONDS = 10.0
MAINTENANCE_STATE_KEY = "maintenance"  # the ad-hoc windows' key in the state file
UPTIME_STATE_KEY = "uptime"  # the hourly totals'


class _Stop(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM/SIGINT; the server ends its loop on a KeyboardInterrupt."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse settings, then run once or serve; bad input exits 2 with one line on stderr."""
    _main_as_module()
    try:
        settings = parse_settings(sys.argv[1:] if argv is None else argv, os.environ)
    except ConfigError as exc:
        print(f"synthetic-monitor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    executor = Executor(settings)
    # What a journey leaves behind when its cycle is killed (a double-forked daemon) then comes to the runner, to
    # be killed, rather than to init, out of reach.
    executor.reaping = procs.become_subreaper()
    executor.start()  # the forkserver imports pytest and warms up its plugins while the runner sets itself up
    try:
        try:
            artifacts = ArtifactStore.open(settings.state_file, settings.artifacts_max_bytes, executor.folder)
        except OSError as exc:
            print(
                f"synthetic-monitor: error: cannot make the folder for browser journeys' screenshots: {exc}",
                file=sys.stderr,
            )
            return EXIT_USAGE
        executor.artifacts_dir = artifacts.incoming
        try:
            return _run(settings, executor, artifacts)
        finally:
            artifacts.close()  # nothing stays behind, unless it is kept beside --state-file
    finally:
        executor.close()


def _run(settings: Settings, executor: Executor, artifacts: ArtifactStore) -> int:
    redactor = Redactor.from_env(os.environ, settings.secret_env)
    # The HTTP server's INFO lines repeat what the runner says.
    logs.configure(mask=redactor.log_processor, quiet={"cheroot": logging.WARNING})
    if executor.cleared:
        log = logs.get_logger("runner")
        log.info("removed what killed runners left in the temporary folder", folders=executor.cleared)
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    metrics = MonitorMetrics(
        registry,
        settings.buckets,
        settings.interval_seconds,
        settings.timeout_seconds,
        shard=settings.shard,
        location=settings.location,
    )
    history = History(settings.history_runs, settings.state_file)
    book, uptime = MaintenanceBook(settings.maintenance), Uptime()
    # Ad-hoc windows and 90 days of hourly totals survive a restart with --state-file.
    history.sections.update({MAINTENANCE_STATE_KEY: book.state, UPTIME_STATE_KEY: uptime.state})
    try:
        history.load()
        book.restore(history.loaded_sections.get(MAINTENANCE_STATE_KEY))
        _restore_uptime(uptime, history)
        monitor = Monitor(
            settings, metrics, executor, history, redactor, artifacts=artifacts, maintenance=book, uptime=uptime
        )
        return run_once(monitor) if settings.once else serve(settings, monitor)
    except ConfigError as exc:
        print(f"synthetic-monitor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _restore_uptime(uptime: Uptime, history: History) -> None:
    """The hourly totals the state file kept; damaged ones are a ConfigError naming the file."""
    try:
        uptime.restore(history.loaded_sections.get(UPTIME_STATE_KEY), time.time())
    except ValueError as exc:
        raise ConfigError(f"--state-file {str(history.state_file)!r}: {exc}; move it aside to start afresh") from None


def run_once(monitor: Monitor) -> int:
    """One cycle, a summary table, exit 0 if every journey passed and 1 otherwise."""
    _on_stop_signals(monitor.executor.stop)
    started = time.monotonic()
    try:
        cycle = monitor.run_cycle()
    finally:
        monitor.executor.close()
    execution = monitor.last_execution
    if cycle is None:
        if execution is not None and execution.usage_error:
            raise ConfigError(execution.usage_message)
        return EXIT_FAILED
    print(summary.render(cycle, time.monotonic() - started, monitor.last_muted), flush=True)
    if monitor.settings.pushgateway and not _push(monitor):
        return EXIT_FAILED
    # A shard that owns none of the journeys is healthy, and so is a cycle whose journeys a window paused; a
    # failure in a mute window is planned.
    ran = cycle.results or cycle.other_shards or cycle.paused
    failed = [result for result in cycle.failed if result.journey not in monitor.last_muted]
    return EXIT_OK if ran and not failed and not cycle.collection_errors and not cycle.error else EXIT_FAILED


def _push(monitor: Monitor) -> bool:
    """Push the cycle's metrics to the Pushgateway; a failure is one line on stderr, never a traceback."""
    url = monitor.settings.pushgateway
    assert url is not None
    try:
        location = monitor.settings.location
        grouping = {"location": location} if location is not None else None
        push_to_gateway(
            url, job=PUSH_JOB, registry=monitor.metrics.registry, grouping_key=grouping, timeout=PUSH_TIMEOUT_SECONDS
        )
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
        print(f"synthetic-monitor: error: could not push to the Pushgateway at {url}: {exc}", file=sys.stderr)
        return False
    return True


def serve(settings: Settings, monitor: Monitor) -> int:
    """Bind the server, collect, then run the scheduler and cycle threads until SIGTERM/SIGINT."""
    # After a cycle the runner parses, records and renders on one thread; hand the GIL to request threads
    # more often than every 5 ms so /metrics stays quick meanwhile (measured in docs/benchmarks.md).
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    status = http.StatusDocuments(monitor.results, settings.interval_seconds)
    monitor.publishers.append(status.invalidate)
    routes = status.routes()
    if monitor.artifacts is not None:
        routes[URL_PREFIX] = wsgi_app(monitor.artifacts)  # a prefix: /artifacts/<name>
    users = settings.web_config is not None and bool(settings.web_config.users)
    maintenance = MaintenanceApi(monitor.maintenance, writable=users, changed=monitor.maintenance_changed)
    writers: dict[str, http.WSGIApp] = {MAINTENANCE_PATH: maintenance.wsgi, MAINTENANCE_PATH + "/": maintenance.wsgi}
    app = access.guard(http.make_app(monitor.exposition.wsgi, monitor.health, routes, writers), settings.web_config)
    server = web_server.bind(app, settings.host, settings.port, tls_context(settings.web_config))
    stop = threading.Event()
    threads: list[threading.Thread] = []
    _on_stop_signals(_raise_stop)
    try:
        monitor.prepare()
        scheduler = FixedRateScheduler(settings.interval_seconds, monitor.on_tick, monitor.on_missed)
        threads += [
            threading.Thread(target=scheduler.run, args=(stop,), name="scheduler", daemon=True),
            threading.Thread(target=monitor.serve_cycles, args=(stop,), name="cycles", daemon=True),
        ]
        # Before the threads start: tick 0 fires at once and must already know its grid time.
        monitor.attach_scheduler(scheduler.grid_time, threads[0].is_alive)
        for thread in threads:
            thread.start()
        port = server.port
        monitor.log.info(
            "monitor started",
            url=f"{server.scheme}://{settings.host}:{port}",
            metrics=f"{server.scheme}://{settings.host}:{port}/metrics",
            interval_seconds=settings.interval_seconds,
            workers=settings.workers,
        )
        server.run()  # returns when a stop signal raises _Stop (a KeyboardInterrupt) inside it
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop.set()
        monitor.executor.stop()
        for thread in threads:
            thread.join(STOP_JOIN_SECONDS)
        monitor.executor.close()
        server.close()
        monitor.log.info("monitor stopped")
    return EXIT_OK


def _main_as_module() -> None:
    """Started as the ``synthetic-monitor`` script, look to multiprocessing as ``python -m runner`` does.

    multiprocessing imports the main script again (as ``__mp_main__``) in every process it starts, and with it
    the runner's whole stack: about 0.1 s of CPU per cycle. A main module named by its spec is left alone.
    """
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None and getattr(main, "__file__", None):
        main.__spec__ = importlib.util.find_spec("runner.__main__")


def _raise_stop() -> None:
    raise _Stop


def _on_stop_signals(action: Callable[[], None]) -> None:
    """Run ``action`` on the first SIGTERM or SIGINT; later ones are ignored: a second signal (a supervisor's
    TERM and a terminal's INT, or Ctrl-C pressed twice) must not break off the stop the first one began."""
    stopping = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            return
        stopping.set()
        action()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


if __name__ == "__main__":
    sys.exit(main())
