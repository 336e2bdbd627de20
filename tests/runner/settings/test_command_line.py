"""Settings: option beats environment beats default; every bad value is one clear ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import ConfigError
from runner.settings.command_line import DEFAULT_BUCKETS, parse_settings


@pytest.fixture
def journeys(tmp_path: Path) -> str:
    (tmp_path / "journeys").mkdir()
    return str(tmp_path / "journeys")


def test_defaults(journeys: str) -> None:
    settings = parse_settings(["--journeys", journeys], {})
    assert (settings.interval_seconds, settings.timeout_seconds, settings.workers) == (30.0, 10.0, 0)
    assert (settings.host, settings.port, settings.once, settings.metrics_file) == ("127.0.0.1", 8000, False, None)
    assert settings.buckets == DEFAULT_BUCKETS


def test_environment_is_used_when_the_option_is_absent(journeys: str) -> None:
    env = {"INTERVAL_SEC": "5", "SYNTHETIC_WORKERS": "4", "SYNTHETIC_PORT": "9100", "SYNTHETIC_JOURNEYS": journeys}
    settings = parse_settings([], env)
    assert (settings.interval_seconds, settings.workers, settings.port) == (5.0, 4, 9100)


def test_option_beats_environment(journeys: str) -> None:
    settings = parse_settings(["--journeys", journeys, "--interval", "2"], {"INTERVAL_SEC": "5"})
    assert settings.interval_seconds == 2.0


def test_shard_and_location_come_from_the_environment_too(journeys: str) -> None:
    settings = parse_settings(["--journeys", journeys], {"SYNTHETIC_SHARD": "2/5", "SYNTHETIC_LOCATION": "eu-west"})
    assert (str(settings.shard), settings.location) == ("2/5", "eu-west")
    assert (str(parse_settings(["--journeys", journeys], {}).shard), settings.location) == ("1/1", "eu-west")
    assert parse_settings(["--journeys", journeys], {}).location is None


def test_degraded_after_is_off_by_default_and_comes_from_the_option_or_the_environment(journeys: str) -> None:
    assert parse_settings(["--journeys", journeys], {}).degraded_after_seconds is None
    from_env = parse_settings(["--journeys", journeys], {"SYNTHETIC_DEGRADED_AFTER": "1.5"})
    assert from_env.degraded_after_seconds == 1.5
    both = parse_settings(["--journeys", journeys, "--degraded-after", "2"], {"SYNTHETIC_DEGRADED_AFTER": "1.5"})
    assert both.degraded_after_seconds == 2.0


def test_arguments_after_double_dash_go_to_pytest(journeys: str) -> None:
    settings = parse_settings(["--journeys", journeys, "--", "-m", "critical", "-k", "login"], {})
    assert settings.pytest_args == ("-m", "critical", "-k", "login")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--interval", "abc"], {}, "--interval must be a positive number of seconds, got 'abc'"),
        (["--interval", "0"], {}, "--interval must be a positive number of seconds, got '0'"),
        (["--interval", "-3"], {}, "--interval must be a positive number of seconds, got '-3'"),
        (["--interval", "nan"], {}, "--interval must be a positive number of seconds, got 'nan'"),
        ([], {"INTERVAL_SEC": "soon"}, "--interval (from env INTERVAL_SEC) must be a positive number of seconds"),
        (["--timeout", "inf"], {}, "--timeout must be a positive number of seconds, got 'inf'"),
        (["--workers", "-1"], {}, "--workers must be a whole number of workers from 0 to 256, got '-1'"),
        (["--workers", "2.5"], {}, "--workers must be a whole number"),
        (["--port", "99999"], {}, "--port must be a port number from 0 to 65535, got '99999'"),
        (["--port", "http"], {}, "--port must be a port number"),
        (["--host", ""], {}, "--host must be a host name or address"),
        (["--buckets", "1,0.5"], {}, "--buckets must be increasing positive numbers"),
        (["--buckets", "a,b"], {}, "--buckets must be increasing positive numbers"),
        (["--frobnicate"], {}, "unrecognized arguments: --frobnicate"),
        (["--", "-n", "4"], {}, "use the runner's --workers N instead"),
        (["--", "--numprocesses=4"], {}, "use the runner's --workers N instead"),
        (["--shard", "0/3"], {}, "--shard must be K/N with 1 <= K <= N"),
        ([], {"SYNTHETIC_SHARD": "4/3"}, "--shard (from env SYNTHETIC_SHARD) must be K/N"),
        (["--location", "x" * 129], {}, "--location must be a location name of printable characters, at most 128"),
        (["--location", "eu\nwest"], {}, "--location must be a location name"),
        (["--degraded-after", "0"], {}, "--degraded-after must be a positive number of seconds, got '0'"),
        ([], {"SYNTHETIC_DEGRADED_AFTER": "slow"}, "--degraded-after (from env SYNTHETIC_DEGRADED_AFTER) must be"),
    ],
)
def test_bad_values_name_the_option_and_the_value(
    journeys: str, args: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings(["--journeys", journeys, *args], env)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_journeys_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"journeys folder '.*nowhere' does not exist"):
        parse_settings(["--journeys", str(tmp_path / "nowhere")], {})


def test_metrics_file_needs_an_existing_folder(journeys: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        parse_settings(["--journeys", journeys, "--metrics-file", str(tmp_path / "no" / "m.prom")], {})
    with pytest.raises(ConfigError, match="must name a file"):
        parse_settings(["--journeys", journeys, "--metrics-file", str(tmp_path)], {})
    settings = parse_settings(["--journeys", journeys, "--metrics-file", str(tmp_path / "m.prom")], {})
    assert settings.metrics_file == tmp_path / "m.prom"
