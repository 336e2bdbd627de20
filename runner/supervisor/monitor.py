"""One cycle end to end (execute → report → metrics → logs), and the state /healthz reads.

Usage::

    monitor = Monitor(settings, metrics, executor)
    monitor.prepare()             # collect once so every journey's series exist before the first cycle
    monitor.run_cycle()           # or let a FixedRateScheduler call monitor.on_tick(k)
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from runner.errors import ConfigError
from runner.handoff.frequency import cycle_tick, next_due_tick
from runner.handoff.results import CycleReport
from runner.logs import get_logger
from runner.record.artifacts import ArtifactStore
from runner.record.document import Document, SuiteError, UptimeEntry
from runner.record.history import History
from runner.record.maintenance import MaintenanceBook
from runner.record.metrics import MonitorMetrics
from runner.record.redact import Redactor
from runner.record.request_entries import certificate_entry
from runner.record.text_exposition import render
from runner.record.uptime import WINDOWS_HOURS, Uptime, slo_standing
from runner.settings.command_line import Settings
from runner.supervisor.execute import Execution, Executor
from runner.web.exposition import DEFAULT_MAX_AGE_SECONDS, MetricsExposition


class Monitor:
    """Runs cycles one at a time and keeps what the health check and listeners need."""

    def __init__(
        self,
        settings: Settings,
        metrics: MonitorMetrics,
        executor: Executor,
        history: History | None = None,
        redactor: Redactor | None = None,
        *,
        artifacts: ArtifactStore | None = None,
        maintenance: MaintenanceBook | None = None,
        uptime: Uptime | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.executor = executor
        self.history = history or History(settings.history_runs)
        self.redactor = redactor or Redactor()
        self.artifacts = artifacts
        self.maintenance = maintenance or MaintenanceBook(settings.maintenance)
        self.uptime = uptime or Uptime()
        # The documents' uptime figures: a --once run serves no document, so it never sums them (0.2 s at 12,000).
        self._uptime_figures: dict[str, dict[str, float | None]] = (
            {} if settings.once else self.uptime.summary(time.time())
        )
        self.exposition = MetricsExposition(
            metrics.registry, max_age_seconds=max(DEFAULT_MAX_AGE_SECONDS, settings.interval_seconds)
        )
        self.log = get_logger("runner")
        self.started_monotonic = time.monotonic()
        self.last_cycle_started: float | None = None  # monotonic
        self.last_report: CycleReport | None = None
        self.last_execution: Execution | None = None
        # Why the suite as a whole could not run (or its session broke) in the last cycle; None once one completes.
        self.suite_error: SuiteError | None = None
        self._busy = threading.Event()
        self._due = threading.Event()
        self._scheduled_at: float | None = None
        self._grid_time: Callable[[int], float] | None = None
        self._scheduler_alive: Callable[[], bool] = lambda: True
        self._noted: set[str] = set()
        self.last_tick: int | None = None  # the number of the last cycle (runner.handoff.frequency)
        self._tick_base: int | None = None  # the number of the scheduler's tick 0
        self.last_muted: frozenset[str] = frozenset()  # the journeys of the last cycle that ran in a mute window
        self._scheduled_tick: int | None = None
        self.last_started_at: float | None = None  # its wall-clock start
        self.periods: dict[str, float] = {}  # the journeys with an interval of their own
        self.publishers: list[Callable[[], None]] = []  # told after each cycle (the status page, /api/results)

    def prepare(self) -> None:
        """Collect the journeys once so that every series exists at zero from start-up."""
        execution = self.executor.execute(collect_only=True)
        if execution.usage_error:
            raise ConfigError(execution.usage_message)
        if execution.report is None:  # e.g. a broken conftest.py: keep serving, every cycle will say so
            self.metrics.record_error(broken_files=int(execution.broken_conftest))
            self._log_suite_error(execution, "collection", execution.problem)
            return
        collected = self._parse(execution.report)
        if collected.error:
            self.metrics.record_error()
            self._log_suite_error(execution, "collection", collected.error)
        self.metrics.add_collection(collected)
        self.mark_maintenance()
        self._check_windows(collected)
        self.periods = dict(collected.periods)
        self.history.add_journeys(collected.collected)
        self._publish()
        self._log_collection_errors(collected)
        self.log.info("journeys collected", journeys=len(collected.collected), path=str(self.settings.journeys))
        retries = self.settings.retries or 0
        worst = (retries + 1) * self.settings.timeout_seconds
        if retries and worst > self.settings.interval_seconds:
            self.log.warning(
                "retries can make a cycle outlast the interval",
                worst_case_seconds_per_journey=worst,
                interval_seconds=self.settings.interval_seconds,
                hint="a tick that finds a cycle running is skipped and counted in synthetic_runs_total",
            )

    def attach_scheduler(self, grid_time: Callable[[int], float], alive: Callable[[], bool]) -> None:
        """The clock that calls on_tick: its grid (to log each cycle's start lag) and whether it still runs."""
        self._grid_time, self._scheduler_alive = grid_time, alive

    def on_tick(self, tick: int) -> None:
        """Called by the scheduler on every grid point: start a cycle, or skip if one still runs."""
        if self._busy.is_set():
            self.on_missed(1)
            return
        self._busy.set()
        self._scheduled_at = self._grid_time(tick) if self._grid_time is not None else None
        # Cycles are numbered from the wall clock once, then by the grid: one number per grid point, never
        # repeated or skipped when the cycle starts late or the wall clock steps.
        if self._tick_base is None:
            self._tick_base = cycle_tick(time.time(), self.settings.interval_seconds) - tick
        self._scheduled_tick = self._tick_base + tick
        self._due.set()

    def on_missed(self, ticks: int) -> None:
        """Grid points that passed while a cycle was still running."""
        self.metrics.record_skipped(ticks)  # shown within max age; never render on the scheduler's thread
        self.log.warning("cycle skipped", ticks=ticks, reason="previous cycle still running")

    def serve_cycles(self, stop: threading.Event) -> None:
        """The cycle thread: run a cycle whenever a tick hands one over, until ``stop``."""
        while not stop.is_set():
            if not self._due.wait(0.2):
                continue
            self._due.clear()
            try:
                self.run_cycle()
            except Exception:  # the cycle boundary: log, count, keep the monitor alive
                self.log.exception("cycle failed inside the runner")
                self.metrics.record_error()
            finally:
                self._busy.clear()

    def run_cycle(self) -> CycleReport | None:
        """Run the suite once and record it; None when it could not run or was stopped."""
        self.last_cycle_started = time.monotonic()
        started = time.time()  # for people; the duration is measured on the monotonic clock
        scheduled, self._scheduled_at = self._scheduled_at, None
        # A serving runner numbers its cycles (on_tick); --once runs every journey.
        tick, self._scheduled_tick = self._scheduled_tick, None
        if tick is None and not self.settings.once:  # a cycle started by hand, not by the scheduler
            tick = cycle_tick(started, self.settings.interval_seconds)
        self.last_tick, self.last_started_at = tick, started
        paused = self.maintenance.paused(datetime.fromtimestamp(started, UTC))
        execution = self.executor.execute(tick=tick, paused=paused, chains=self.metrics.certificates.known_chains())
        self.last_execution = execution
        finished, duration = time.time(), time.monotonic() - self.last_cycle_started
        if execution.stopped or (execution.usage_error and self.settings.once):
            return None  # --once exits 2 with the usage error in one line
        if execution.report is None:
            self.metrics.record_error(broken_files=int(execution.broken_conftest))
            self._log_suite_error(execution, "cycle", execution.problem, finished)
            self._publish()
            return None
        cycle = self._parse(execution.report)
        self.periods = dict(cycle.periods)
        # The windows in force when the cycle started say which runs are muted; those at its end, the gauges.
        muted = self.last_muted = self._muted(cycle, started)
        self.metrics.record_cycle(cycle, finished_at=finished, duration_seconds=duration, muted=muted)
        for host in self.metrics.certificates.take_turned_away():
            self.log.warning(
                "TLS certificate not kept: too many HTTPS hosts",
                host=host,
                max_hosts=self.metrics.certificates.max_hosts,
                hint="counted in synthetic_tls_hosts_over_limit_total; split the journeys over runners (--shard)",
            )
        self.mark_maintenance(finished)
        self.last_report = cycle
        self._log_cycle(cycle, started, duration, scheduled)
        if cycle.error:  # its journeys count, but the cycle is an error: pytest's session broke
            self._log_suite_error(execution, "cycle", cycle.error, finished)
        else:
            self.suite_error = None
        if not self.settings.once or self.settings.state_file is not None:
            # Only the documents and the state file read them: a --once run without one neither serves nor keeps
            # them (0.1 s at 12,000 journeys).
            self._record_uptime(cycle, finished, muted)
            self._record_history(cycle, finished, duration, muted)
        # After the history: whoever sees a failure's screenshot in /api/results sees that cycle's results too.
        self._keep_artifacts(cycle, finished)
        self._publish()
        self._write_metrics_file()
        return cycle

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while the scheduler runs and a cycle started within two intervals plus the timeout."""
        settings = self.settings
        allowed = 2 * settings.interval_seconds + settings.timeout_seconds
        last = self.last_cycle_started if self.last_cycle_started is not None else self.started_monotonic
        since = time.monotonic() - last
        alive = self._scheduler_alive()
        healthy = alive and since <= allowed
        status = "ok" if healthy else ("scheduler stopped" if not alive else "no cycle started recently")
        return healthy, {"status": status, "seconds_since_cycle_start": round(since, 3)}

    def results(self) -> Document:
        """What /api/results serves: the last cycle and each journey's state and recent history."""
        history = self.history.as_json()
        results: Document = {
            "generated_at": time.time(),
            "interval_seconds": self.settings.interval_seconds,
            "location": self.settings.location,
            "shard": str(self.settings.shard),
            "suite_error": self.suite_error,
            "last_cycle": history["last_cycle"],
            "journeys": history["journeys"],
        }
        template = self.settings.trace_url
        for journey in results["journeys"]:
            if template:
                journey["trace_url"] = template.format(trace_id=journey["trace_id"]) if journey["trace_id"] else None
            evidence = self.artifacts.listing(journey["journey"]) if self.artifacts is not None else None
            journey["artifacts"] = evidence["items"] if evidence else []
            journey["artifacts_at"] = evidence["at"] if evidence else None
            journey["interval_seconds"] = self.periods.get(journey["journey"], self.settings.interval_seconds)
            journey["next_run_at"] = self._next_run(journey["journey"])
        self._add_maintenance(results)
        self._add_uptime(results)
        now = time.time()
        results["certificates"] = [certificate_entry(c, now) for c in self.metrics.certificates.certificates()]
        return results

    def _add_uptime(self, results: Document) -> None:
        """Each journey's uptime and the suite's (figures of the last cycle), and the suite's last 90 days."""
        figures, empty = self._uptime_figures, dict.fromkeys(WINDOWS_HOURS)
        results["uptime"] = cast(UptimeEntry, figures.get("", empty))
        slos = self.metrics.journey_series.slos()
        for journey in results["journeys"]:
            journey["uptime"] = cast(UptimeEntry, figures.get(journey["journey"], empty))
            slo = slos.get(journey["journey"])
            journey["slo"] = slo_standing(self.uptime, journey["journey"], *slo) if slo else None
        results["uptime_days"] = [
            {"day": day * 86400.0, "runs": runs, "failures": failures, "degraded": degraded, "muted": muted}
            for day, runs, failures, degraded, muted in self.uptime.days("", time.time())
        ]

    def _add_maintenance(self, results: Document) -> None:
        """The windows in force or coming, and the one each journey is in now."""
        now = datetime.now(UTC)
        results["maintenance"] = [
            {
                "name": window.name,
                "mode": window.mode,
                "id": window.id,
                "journeys": window.journeys.to_json() if window.journeys is not None else None,
                "start": start.timestamp(),
                "end": end.timestamp(),
                "in_force": start <= now < end,
            }
            for window, start, end in self.maintenance.upcoming(now)
        ]
        labels = self.metrics.journey_series.labels_of()
        for journey in results["journeys"]:
            found = self.maintenance.in_force(journey["journey"], labels.get(journey["journey"], {}), now)
            journey["maintenance"] = (
                {"name": found[0].name, "mode": found[0].mode, "until": found[1].timestamp()} if found else None
            )

    def _next_run(self, journey: str) -> float | None:
        """When the journey runs next: the next cycle, or for one with its own interval, the next it is due in."""
        interval, tick, started = self.settings.interval_seconds, self.last_tick, self.last_started_at
        if tick is None or started is None:
            return None
        period = self.periods.get(journey, interval)
        return started + (next_due_tick(journey, period, interval, tick) - tick) * interval

    def _parse(self, report: CycleReport) -> CycleReport:
        cycle = self.redactor.redact_cycle(report)
        for note in cycle.notes:
            if note not in self._noted:  # once per runner, not once per cycle
                self._noted.add(note)
                self.log.warning("pytest option overridden", note=note)
        return cycle

    def _keep_artifacts(self, cycle: CycleReport, finished: float) -> None:
        if self.artifacts is None:
            return
        try:
            self.artifacts.accept(cycle.results, finished)
            if not cycle.collection_errors and cycle.collected:
                self.artifacts.forget_except([*cycle.collected, *(result.journey for result in cycle.results)])
        except OSError as exc:
            self.log.error("could not keep a failed browser journey's screenshot", error=str(exc))

    def _check_windows(self, collected: CycleReport) -> None:
        """Say at start-up which windows of --maintenance select no journey: a mistyped label silences nothing."""
        labels = {journey: dict(pairs) for journey, pairs in collected.labels}
        for window in self.settings.maintenance:
            if window.journeys is not None and not any(
                window.journeys.selects(journey, labels.get(journey, {})) for journey in collected.collected
            ):
                self.log.warning(
                    "maintenance window selects no journey",
                    window=window.name,
                    journeys=window.journeys.to_json(),
                    hint="check its labels and match against the journey ids in /api/results",
                )

    def _muted(self, cycle: CycleReport, at: float) -> frozenset[str]:
        """The journeys of ``cycle`` that ran in a mute window (from the cycle's own labels: under --once, or for a
        journey new in this cycle, the metrics know none yet)."""
        moment, labels = datetime.fromtimestamp(at, UTC), {journey: dict(pairs) for journey, pairs in cycle.labels}
        return frozenset(
            result.journey
            for result in cycle.results
            if (found := self.maintenance.in_force(result.journey, labels.get(result.journey, {}), moment))
            and found[0].mode == "mute"
        )

    def mark_maintenance(self, at: float | None = None) -> None:
        """Set each journey's synthetic_journey_maintenance for the windows in force at ``at`` (default: now)."""
        moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
        self.metrics.journey_series.set_maintenance(
            {
                journey
                for journey, labels in self.metrics.journey_series.labels_of().items()
                if self.maintenance.in_force(journey, labels, moment) is not None
            }
        )

    def maintenance_changed(self) -> None:
        """An ad-hoc window was made or ended: the gauges, the state file and the documents say so at once."""
        self.mark_maintenance()
        try:
            self.history.save()
        except OSError as exc:
            self.log.error("could not write the state file", path=str(self.settings.state_file), error=str(exc))
        self._publish()

    def _record_uptime(self, cycle: CycleReport, finished: float, muted: frozenset[str]) -> None:
        """The cycle's runs in the hourly totals, and the uptime figures the documents show until the next."""
        self.uptime.record(cycle, muted, finished)
        if not cycle.collection_errors and cycle.collected:
            self.uptime.forget_except(set(cycle.collected) | {result.journey for result in cycle.results})
        if not self.settings.once:
            self._uptime_figures = self.uptime.summary(finished)

    def _record_history(self, cycle: CycleReport, finished: float, duration: float, muted: frozenset[str]) -> None:
        try:
            self.history.record(cycle, finished, duration, muted)
        except OSError as exc:
            self.log.error("could not write the state file", path=str(self.settings.state_file), error=str(exc))

    def _log_cycle(self, cycle: CycleReport, started: float, duration: float, scheduled: float | None) -> None:
        failed = cycle.failed
        timing = (
            {}
            if scheduled is None
            else {"scheduled_at": round(scheduled, 6), "start_lag_seconds": round(started - scheduled, 6)}
        )
        self.log.log(
            logging.ERROR if cycle.error else logging.INFO,
            "cycle ended in an error" if cycle.error else "cycle completed",
            passed=len(cycle.results) - len(failed),
            failed=len(failed),
            collection_errors=len(cycle.collection_errors),
            duration_seconds=round(duration, 3),
            started_at=round(started, 6),
            **timing,
        )
        blocked: dict[str, list[str]] = {}
        for result in failed:
            if result.blocked_by:
                blocked.setdefault(result.blocked_by, []).append(result.journey)
            self.log.warning(
                "journey failed",
                journey=result.journey,
                reason=result.reason,
                message=result.headline,
                trace_id=result.trace_id or None,
                blocked_by=result.blocked_by or None,
            )
        for fixture, journeys in blocked.items():
            self.log.error("fixture failed and blocked journeys", fixture=fixture, blocked=len(journeys))
        for result in cycle.results:
            if result.passed and result.degraded:
                self.log.warning("journey degraded", journey=result.journey, why=result.degraded)
        if cycle.over_cap:
            self.log.warning(
                "journeys over the cap were not run",
                over_cap=cycle.over_cap,
                max_journeys=self.settings.max_journeys,
                hint="raise --max-journeys or select journeys with -- -m/-k",
            )
        self._log_collection_errors(cycle)

    def _log_collection_errors(self, cycle: CycleReport) -> None:
        for error in cycle.collection_errors:
            self.log.error("journey file failed to load", path=error.path, error=error.message)

    def _log_suite_error(self, execution: Execution, stage: str, problem: str, at: float | None = None) -> None:
        """Say in the log (with the end of pytest's output) and on the page why the suite could not run."""
        self.suite_error = {"at": time.time() if at is None else at, "stage": stage, "message": problem}
        self.log.error(
            "journey suite could not run",
            stage=stage,
            problem=problem,
            exit_code=execution.exit_code,
            output=execution.output_tail,
        )

    def _publish(self) -> None:
        """Render /metrics for the scrapes to come, and tell the other documents; a --once cycle serves none."""
        if not self.settings.once:
            self.exposition.refresh()
            for publish in self.publishers:
                publish()

    def _write_metrics_file(self) -> None:
        """The exposition /metrics serves (rendered once for both), as node_exporter's textfile collector reads it:
        written beside the file, then renamed over it, readable as ``open`` makes files."""
        path = self.settings.metrics_file
        if path is None:
            return
        body = render(self.metrics.registry) if self.settings.once else self.exposition.classic()
        temporary = f"{path}.{os.getpid()}.{threading.get_ident()}"
        try:
            with open(temporary, "wb") as file:
                file.write(body)
            os.replace(temporary, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            self.log.error("could not write the metrics file", path=str(path), error=str(exc))
