"""Settings: each read once from its option, else its environment variable, else a default, and validated.

Usage::

    settings = parse_settings(sys.argv[1:], os.environ)   # raises ConfigError naming the bad input
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TypeVar

from runner.errors import ConfigError
from runner.settings.labels import MAX_LABEL_VALUE_CHARS
from runner.settings.maintenance import Window
from runner.settings.maintenance_file import load_windows
from runner.settings.shard import EVERY_JOURNEY, Shard, parse_shard
from runner.settings.web_config import WebConfig, load_web_config

DEFAULT_JOURNEYS = "journeys"
DEFAULT_INTERVAL_SECONDS = 30.0
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_WORKERS = 0
MAX_WORKERS = 256
MAX_HISTORY_RUNS = 10_000
DEFAULT_HISTORY_RUNS = 50
DEFAULT_MAX_JOURNEYS = 2000
MAX_MAX_JOURNEYS = 1_000_000
MAX_RETRIES = 10
DEFAULT_ARTIFACTS_MAX_MB = 100
MAX_ARTIFACTS_MAX_MB = 100_000
# From a 10 ms API call to a multi-second browser journey.
DEFAULT_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    30.0,
    60.0,
)
XDIST_OPTIONS = ("-n", "--numprocesses", "--dist", "-d", "--tx", "--maxprocesses")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Settings:
    """The runner's validated settings."""

    journeys: Path
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = DEFAULT_WORKERS
    once: bool = False
    metrics_file: Path | None = None
    pushgateway: str | None = None
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    history_runs: int = DEFAULT_HISTORY_RUNS
    state_file: Path | None = None
    secret_env: tuple[str, ...] = ()
    max_journeys: int = DEFAULT_MAX_JOURNEYS
    retries: int | None = None  # None: the pytest configuration's own --reruns, if any, applies
    degraded_after_seconds: float | None = None  # a passing journey slower than this is degraded
    maintenance: tuple[Window, ...] = ()  # the windows of --maintenance
    shard: Shard = EVERY_JOURNEY
    location: str | None = None
    trace_url: str | None = None  # a template with {trace_id}
    artifacts_max_bytes: int = DEFAULT_ARTIFACTS_MAX_MB * 2**20
    web_config: WebConfig | None = None  # TLS and basic auth of the HTTP server; None: plain and open
    pytest_args: tuple[str, ...] = ()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


# option, environment variable, help
OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--journeys", "SYNTHETIC_JOURNEYS", f"folder (or file) of journeys (default {DEFAULT_JOURNEYS})"),
    ("--interval", "INTERVAL_SEC", f"seconds between cycle starts (default {DEFAULT_INTERVAL_SECONDS:g})"),
    ("--timeout", "SYNTHETIC_TIMEOUT", f"seconds one journey may take (default {DEFAULT_TIMEOUT_SECONDS:g})"),
    ("--host", "SYNTHETIC_HOST", f"address the HTTP server binds (default {DEFAULT_HOST})"),
    ("--port", "SYNTHETIC_PORT", f"port of the HTTP server, 0 picks a free one (default {DEFAULT_PORT})"),
    (
        "--workers",
        "SYNTHETIC_WORKERS",
        "worker processes running journeys in parallel; 0 runs them one by one",
    ),
    ("--metrics-file", "SYNTHETIC_METRICS_FILE", "also write the metrics to this file after each cycle"),
    (
        "--pushgateway",
        "SYNTHETIC_PUSHGATEWAY",
        "with --once: push the cycle's metrics to this Prometheus Pushgateway (job synthetic-monitor)",
    ),
    ("--buckets", "SYNTHETIC_BUCKETS", "histogram bucket bounds in seconds, comma-separated"),
    (
        "--history",
        "SYNTHETIC_HISTORY",
        f"runs of each journey kept for / and /api/results (default {DEFAULT_HISTORY_RUNS})",
    ),
    ("--state-file", "SYNTHETIC_STATE_FILE", "JSON file keeping the history across restarts (default: memory only)"),
    ("--secret-env", "SYNTHETIC_SECRET_ENV", "more variables whose values are masked, comma-separated"),
    (
        "--retries",
        "SYNTHETIC_RETRIES",
        "run a failed journey again up to N more times in the same cycle (default: the configuration's --reruns, "
        "else 0)",
    ),
    (
        "--degraded-after",
        "SYNTHETIC_DEGRADED_AFTER",
        "a journey that passes but takes longer than SECONDS is degraded; @pytest.mark.degraded_after wins "
        "(default: none)",
    ),
    (
        "--maintenance",
        "SYNTHETIC_MAINTENANCE",
        'YAML file of maintenance windows, in which journeys are paused or muted (see README, "Maintenance windows")',
    ),
    (
        "--shard",
        "SYNTHETIC_SHARD",
        "run only shard K of N of the journeys, e.g. 2/3 (ordinal/N: K is the StatefulSet pod's ordinal + 1)",
    ),
    ("--location", "SYNTHETIC_LOCATION", "add the label location=NAME to every synthetic_* series"),
    (
        "--trace-url",
        "SYNTHETIC_TRACE_URL",
        "link each failed run's trace id to this URL template, e.g. https://tempo.example/trace/{trace_id}",
    ),
    (
        "--web-config",
        "SYNTHETIC_WEB_CONFIG",
        "Prometheus exporter web configuration file (TLS, basic auth) for every endpoint but /healthz",
    ),
    (
        "--artifacts-max-mb",
        "SYNTHETIC_ARTIFACTS_MAX_MB",
        f"MB kept for failed browser journeys' screenshots, oldest out first (default {DEFAULT_ARTIFACTS_MAX_MB})",
    ),
    (
        "--max-journeys",
        "SYNTHETIC_MAX_JOURNEYS",
        f"run at most this many journeys a cycle (default {DEFAULT_MAX_JOURNEYS})",
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """The command line; every option also has an environment variable (the option wins)."""
    parser = _Parser(
        prog="synthetic-monitor",
        description="Run the pytest journeys on a fixed interval and serve the results as Prometheus metrics. "
        "Arguments after -- go to pytest unchanged (e.g. -- -m critical).",
    )
    for option, env, text in OPTIONS:
        parser.add_argument(option, default=None, help=f"{text}; env {env}")
    parser.add_argument("--once", action="store_true", help="run one cycle, print a summary, exit 0 or 1")
    return parser


def parse_settings(argv: Sequence[str], env: Mapping[str, str]) -> Settings:
    """Resolve and validate every setting; raise ConfigError for the first bad one."""
    argv = list(argv)
    ours, pytest_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    namespace = vars(build_parser().parse_args(ours))

    def raw(option: str, env_name: str, default: str) -> tuple[str, str]:
        value = namespace[option.lstrip("-").replace("-", "_")]
        if value is not None:
            return value, option
        if env.get(env_name):
            return env[env_name], f"{option} (from env {env_name})"
        return default, option

    def setting(option: str, default: str, convert: Callable[[str, str], T]) -> T:
        env_name = next(e for o, e, _ in OPTIONS if o == option)
        value, source = raw(option, env_name, default)
        return convert(value, source)

    _reject_xdist(pytest_args)
    settings = Settings(
        journeys=setting("--journeys", DEFAULT_JOURNEYS, _existing_path),
        interval_seconds=setting("--interval", str(DEFAULT_INTERVAL_SECONDS), _positive_seconds),
        timeout_seconds=setting("--timeout", str(DEFAULT_TIMEOUT_SECONDS), _positive_seconds),
        host=setting("--host", DEFAULT_HOST, _host),
        port=setting("--port", str(DEFAULT_PORT), _port),
        workers=setting("--workers", str(DEFAULT_WORKERS), _workers),
        once=bool(namespace["once"]),
        metrics_file=setting("--metrics-file", "", _file_in_existing_folder),
        pushgateway=setting("--pushgateway", "", _url),
        buckets=setting("--buckets", ",".join(map(str, DEFAULT_BUCKETS)), _buckets),
        history_runs=setting("--history", str(DEFAULT_HISTORY_RUNS), _history),
        state_file=setting("--state-file", "", _file_in_existing_folder),
        secret_env=setting("--secret-env", "", _names),
        max_journeys=setting("--max-journeys", str(DEFAULT_MAX_JOURNEYS), _max_journeys),
        retries=setting("--retries", "", _retries),
        degraded_after_seconds=setting("--degraded-after", "", _optional_seconds),
        maintenance=setting("--maintenance", "", _maintenance_windows),
        shard=setting("--shard", "1/1", lambda value, source: parse_shard(value, source, env)),
        location=setting("--location", "", _location),
        trace_url=setting("--trace-url", "", _trace_url),
        artifacts_max_bytes=setting("--artifacts-max-mb", str(DEFAULT_ARTIFACTS_MAX_MB), _megabytes) * 2**20,
        web_config=setting("--web-config", "", load_web_config),
        pytest_args=tuple(pytest_args),
    )
    if settings.pushgateway and not settings.once:
        raise ConfigError("--pushgateway needs --once: a serving runner is scraped, a one-shot run pushes")
    return settings


def _fail(source: str, expected: str, value: str) -> NoReturn:
    raise ConfigError(f"{source} must be {expected}, got {value!r}")


def _maintenance_windows(value: str, source: str) -> tuple[Window, ...]:
    return load_windows(Path(value), source) if value else ()


def _optional_seconds(value: str, source: str) -> float | None:
    return _positive_seconds(value, source) if value else None


def _positive_seconds(value: str, source: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        _fail(source, "a positive number of seconds", value)
    if not (seconds > 0 and math.isfinite(seconds)):
        _fail(source, "a positive number of seconds", value)
    return seconds


def _whole(value: str, source: str, low: int, high: int, expected: str) -> int:
    try:
        number = int(value, 10)
    except ValueError:
        _fail(source, expected, value)
    if not low <= number <= high:
        _fail(source, expected, value)
    return number


def _port(value: str, source: str) -> int:
    return _whole(value, source, 0, 65535, "a port number from 0 to 65535")


def _workers(value: str, source: str) -> int:
    return _whole(value, source, 0, MAX_WORKERS, f"a whole number of workers from 0 to {MAX_WORKERS}")


def _max_journeys(value: str, source: str) -> int:
    return _whole(value, source, 1, MAX_MAX_JOURNEYS, f"a whole number of journeys from 1 to {MAX_MAX_JOURNEYS}")


def _retries(value: str, source: str) -> int | None:
    if not value:
        return None
    return _whole(value, source, 0, MAX_RETRIES, f"a whole number of retries from 0 to {MAX_RETRIES}")


def _history(value: str, source: str) -> int:
    return _whole(value, source, 1, MAX_HISTORY_RUNS, f"a whole number of runs from 1 to {MAX_HISTORY_RUNS}")


def _names(value: str, source: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    for name in names:
        if not name.replace("_", "a").isalnum():
            _fail(source, "environment variable names separated by commas, e.g. DB_URL,SMTP_PASS", value)
    return names


def _url(value: str, source: str) -> str | None:
    if not value:
        return None
    scheme, _, rest = value.partition("://")
    if scheme not in ("http", "https") or not rest or any(ch.isspace() for ch in value):
        _fail(source, "an http:// or https:// URL such as http://127.0.0.1:9091", value)
    return value.rstrip("/")


def _megabytes(value: str, source: str) -> int:
    return _whole(
        value, source, 1, MAX_ARTIFACTS_MAX_MB, f"a whole number of megabytes from 1 to {MAX_ARTIFACTS_MAX_MB}"
    )


def _location(value: str, source: str) -> str | None:
    if not value:
        return None
    if len(value) > MAX_LABEL_VALUE_CHARS or not value.isprintable():
        _fail(source, f"a location name of printable characters, at most {MAX_LABEL_VALUE_CHARS} long", value)
    return value


def _trace_url(value: str, source: str) -> str | None:
    if not value:
        return None
    expected = "an http:// or https:// URL template with {trace_id}, e.g. https://tempo.example/trace/{trace_id}"
    try:
        filled = value.format(trace_id="0" * 32)
    except (KeyError, IndexError, ValueError):
        _fail(source, expected, value)
    scheme, _, rest = filled.partition("://")
    if "{trace_id}" not in value or scheme not in ("http", "https") or not rest or any(c.isspace() for c in filled):
        _fail(source, expected, value)
    return value


def _host(value: str, source: str) -> str:
    if not value or any(ch.isspace() for ch in value):
        _fail(source, "a host name or address such as 127.0.0.1 or 0.0.0.0", value)
    return value


def _existing_path(value: str, source: str) -> Path:
    path = Path(value)
    if not path.exists():
        raise ConfigError(f"{source}: journeys folder {value!r} does not exist")
    return path


def _file_in_existing_folder(value: str, source: str) -> Path | None:
    if not value:
        return None
    path = Path(value)
    if path.is_dir():
        raise ConfigError(f"{source} must name a file, got the folder {value!r}")
    if not path.parent.is_dir():
        raise ConfigError(f"{source}: folder {str(path.parent)!r} for {value!r} does not exist")
    return path


def _buckets(value: str, source: str) -> tuple[float, ...]:
    expected = "increasing positive numbers of seconds separated by commas, e.g. 0.01,0.1,1"
    try:
        bounds = tuple(float(part) for part in value.split(","))
    except ValueError:
        _fail(source, expected, value)
    if not all(b > 0 and math.isfinite(b) for b in bounds) or list(bounds) != sorted(set(bounds)):
        _fail(source, expected, value)
    return bounds


def _reject_xdist(pytest_args: Sequence[str]) -> None:
    for arg in pytest_args:
        if (
            arg in XDIST_OPTIONS
            or arg.startswith(("--numprocesses=", "--dist=", "--tx="))
            or (arg.startswith("-n") and arg[2:].isdigit())
        ):
            raise ConfigError(
                f"pytest argument {arg!r} would start pytest-xdist workers; use the runner's --workers N instead"
            )
