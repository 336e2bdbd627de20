"""/api/maintenance in-process, as the runner wires it: make_app with the API as its only writer, behind
access.guard with a real WebConfig. Signed-in users make, list and end ad-hoc windows; everyone else changes
nothing, and every other route still answers GET only."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from wsgiref.util import setup_testing_defaults

import bcrypt
import pytest

from runner.record.maintenance import MaintenanceBook
from runner.settings.maintenance import Window, iso
from runner.settings.web_config import WebConfig
from runner.web import access, http
from runner.web.maintenance_api import MAX_BODY_BYTES, NO_USERS, PATH, MaintenanceApi

USER, PASSWORD = "oncall", "deploy-pa55-91"
USERS = WebConfig(users=((USER, bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4))),))
HOTFIX = {"name": "hotfix", "mode": "mute", "duration": "30m", "journeys": {"match": "test_pay*"}}
PLANNED = Window("nightly", "pause", None, datetime(2026, 12, 5, 22, tzinfo=UTC), datetime(2026, 12, 5, 23, tzinfo=UTC))


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Runner:
    """The runner's app as serve() wires it, with the book it changes and a count of the changes it was told."""

    book: MaintenanceBook
    app: http.WSGIApp
    changes: list[int] = field(default_factory=list)

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        auth: tuple[str, str] | None = (USER, PASSWORD),
        length: int | None = None,
    ) -> Reply:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(body or b""),
        }
        if body is not None or length is not None:
            environ["CONTENT_LENGTH"] = str(len(body or b"") if length is None else length)
            environ["CONTENT_TYPE"] = "application/json"
        if auth is not None:
            environ["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        setup_testing_defaults(environ)
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            started.append((status, headers))

        body_out = b"".join(self.app(environ, start_response))
        status, headers = started[0]
        return Reply(int(status.split()[0]), dict(headers), body_out)

    def post(self, document: object, **kwargs: Any) -> Reply:
        return self.call("POST", PATH, json.dumps(document).encode(), **kwargs)


def _stub(environ: dict[str, Any], start_response: http.StartResponse) -> Iterable[bytes]:
    return http.respond(start_response, "200 OK", "text/plain", b"ok\n")


def wire(web: WebConfig | None, windows: tuple[Window, ...] = ()) -> Runner:
    """make_app and access.guard as runner.__main__.serve() puts them together."""
    book = MaintenanceBook(windows)
    runner = Runner(book, _stub)
    writable = web is not None and bool(web.users)
    api = MaintenanceApi(book, writable=writable, changed=lambda: runner.changes.append(1))
    writers: dict[str, http.WSGIApp] = {PATH: api.wsgi, PATH + "/": api.wsgi}
    routes: dict[str, http.WSGIApp] = {"/": _stub, "/api/results": _stub, "/artifacts/": _stub}
    runner.app = access.guard(http.make_app(_stub, lambda: (True, {}), routes, writers), web)
    return runner


@pytest.fixture
def runner() -> Runner:
    return wire(USERS, (PLANNED,))


def test_a_signed_in_user_makes_a_window_and_gets_201_with_its_id_and_location(runner: Runner) -> None:
    before = datetime.now(UTC)

    reply = runner.post(HOTFIX)

    assert reply.status == 201, reply.body
    made = reply.json()
    assert made["id"] and reply.headers["Location"] == f"{PATH}/{made['id']}"
    assert reply.headers["Content-Type"] == "application/json"
    assert (made["name"], made["mode"], made["journeys"]) == ("hotfix", "mute", {"labels": {}, "match": "test_pay*"})
    start, end = (datetime.fromisoformat(made[key]) for key in ("start", "end"))
    assert end - start == timedelta(minutes=30) and start >= before.replace(microsecond=0)
    assert [window.id for window in runner.book.windows()] == ["", made["id"]]
    assert runner.changes == [1]  # the gauges, the state file and the page are told at once


def test_a_window_with_start_and_end_is_made_as_asked(runner: Runner) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    body = {"name": "db upgrade", "mode": "pause", "start": iso(start), "end": iso(start + timedelta(hours=2))}

    made = runner.post(body).json()

    assert (made["start"], made["end"]) == (iso(start), iso(start + timedelta(hours=2)))
    assert made["journeys"] is None


def test_get_lists_the_file_windows_and_the_adhoc_ones_with_their_ids(runner: Runner) -> None:
    made = runner.post(HOTFIX).json()

    reply = runner.call("GET", PATH)
    with_slash = runner.call("GET", PATH + "/")

    assert reply.status == 200
    windows = reply.json()["windows"]
    assert [(window["name"], window.get("id")) for window in windows] == [("nightly", None), ("hotfix", made["id"])]
    assert windows[1] == made
    assert with_slash.json() == reply.json()
    assert runner.changes == [1]  # reading changes nothing


def test_delete_ends_the_window_and_it_is_listed_no_more(runner: Runner) -> None:
    made = runner.post(HOTFIX).json()
    kept = runner.post(HOTFIX | {"name": "kept"}).json()

    reply = runner.call("DELETE", f"{PATH}/{made['id']}")

    assert reply.status == 200, reply.body
    assert reply.json() == {"ended": made}
    listed = [window["name"] for window in runner.call("GET", PATH).json()["windows"]]
    assert listed == ["nightly", "kept"]
    assert [window.id for window in runner.book.windows()] == ["", kept["id"]]
    assert runner.changes == [1, 1, 1]
    assert runner.call("DELETE", f"{PATH}/{made['id']}").status == 404  # ended once only


def test_deleting_an_unknown_id_is_404_saying_so_and_how_file_windows_end(runner: Runner) -> None:
    reply = runner.call("DELETE", f"{PATH}/no-such-window")

    assert reply.status == 404
    error = reply.json()["error"]
    assert "no ad-hoc window with id 'no-such-window'" in error
    assert "--maintenance file" in error  # the file's windows end by editing it
    assert runner.book.windows() == [PLANNED]
    assert runner.changes == []


def test_a_window_ending_in_the_past_is_400_naming_the_field(runner: Runner) -> None:
    now = datetime.now(UTC)
    body = {
        "name": "late",
        "mode": "mute",
        "start": iso(now - timedelta(hours=2)),
        "end": iso(now - timedelta(hours=1)),
    }

    reply = runner.post(body)

    assert reply.status == 400
    assert reply.json()["error"].startswith("field 'end' ")
    assert "in the past" in reply.json()["error"]
    assert runner.book.windows() == [PLANNED] and runner.changes == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"name": "hotfix", "mode": ', "the body is not JSON"),
        (b"\xff\xfe not text", "the body is not JSON"),
        (b'["hotfix", "mute", "30m"]', "the body must be a JSON object"),
        (b"", "the body must be a JSON object"),
        (b"[" * 50_000 + b"]" * 10_000, "nested too deeply"),
        (b'{"name": "hotfix", "mode": "mute"}', "give a duration"),
        (b'{"name": "hotfix", "mode": "mute", "duration": "soon"}', "field 'duration' must be a positive time"),
        (b'{"name": "hotfix", "mode": "mute", "duration": "1h", "why": "x"}', "unknown field 'why'"),
    ],
)
def test_a_body_that_is_no_window_is_400_saying_why_and_adds_nothing(runner: Runner, body: bytes, message: str) -> None:
    reply = runner.call("POST", PATH, body)

    assert reply.status == 400, reply.body
    assert message in reply.json()["error"]
    assert runner.book.windows() == [PLANNED] and runner.changes == []


def test_a_body_larger_than_the_limit_is_413_and_adds_nothing(runner: Runner) -> None:
    body = json.dumps(HOTFIX | {"name": "x" * MAX_BODY_BYTES}).encode()

    reply = runner.call("POST", PATH, body)

    assert reply.status == 413
    assert str(MAX_BODY_BYTES) in reply.json()["error"]
    assert runner.book.windows() == [PLANNED] and runner.changes == []


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", PATH, "GET, HEAD, POST"),
        ("DELETE", PATH, "GET, HEAD, POST"),
        ("PATCH", PATH + "/", "GET, HEAD, POST"),
        ("GET", f"{PATH}/abc123", "DELETE"),
        ("POST", f"{PATH}/abc123", "DELETE"),
        ("PUT", f"{PATH}/abc123", "DELETE"),
    ],
)
def test_a_method_the_path_does_not_take_is_405_with_allow(
    runner: Runner, method: str, path: str, allowed: str
) -> None:
    reply = runner.call(method, path, json.dumps(HOTFIX).encode())

    assert reply.status == 405
    assert reply.headers["Allow"] == allowed
    assert allowed in reply.json()["error"]
    assert runner.book.windows() == [PLANNED] and runner.changes == []


@pytest.mark.parametrize("web", [None, WebConfig(headers=(("X-Team", "sre"),))], ids=["no web config", "no users"])
def test_without_users_configured_changes_are_403_saying_why_and_reading_still_works(web: WebConfig | None) -> None:
    runner = wire(web, (PLANNED,))
    made = runner.book.add(HOTFIX)  # a window that exists, so that DELETE is refused rather than not found

    posted = runner.post(HOTFIX, auth=None)
    deleted = runner.call("DELETE", f"{PATH}/{made.id}", auth=None)

    for reply in (posted, deleted):
        assert reply.status == 403
        assert reply.json()["error"] == NO_USERS
        assert "--web-config" in NO_USERS and "basic_auth_users" in NO_USERS
    assert [window.name for window in runner.book.windows()] == ["nightly", "hotfix"]
    assert runner.changes == []
    assert runner.call("GET", PATH, auth=None).status == 200


def test_with_users_but_no_credentials_the_guard_answers_401_and_nothing_is_added(runner: Runner) -> None:
    made = runner.post(HOTFIX).json()

    posted = runner.post(HOTFIX, auth=None)
    deleted = runner.call("DELETE", f"{PATH}/{made['id']}", auth=None)
    listed = runner.call("GET", PATH, auth=None)

    for reply in (posted, deleted, listed):
        assert reply.status == 401
        assert reply.headers["WWW-Authenticate"].startswith('Basic realm="synthetic-monitor"')
    assert [window.id for window in runner.book.windows()] == ["", made["id"]]
    assert runner.changes == [1]


def test_a_wrong_password_is_401_and_nothing_is_added(runner: Runner) -> None:
    made = runner.post(HOTFIX).json()

    posted = runner.post(HOTFIX, auth=(USER, "guess"))
    deleted = runner.call("DELETE", f"{PATH}/{made['id']}", auth=(USER, "guess"))
    stranger = runner.post(HOTFIX, auth=("root", PASSWORD))

    assert [reply.status for reply in (posted, deleted, stranger)] == [401, 401, 401]
    assert [window.id for window in runner.book.windows()] == ["", made["id"]]
    assert runner.changes == [1]


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/", "/api/results", "/artifacts/shot.png"])
@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT"])
def test_every_other_route_still_answers_only_get_with_405(runner: Runner, path: str, method: str) -> None:
    reply = runner.call(method, path, json.dumps(HOTFIX).encode())

    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, HEAD"
    assert runner.call("GET", path).status == 200
    assert runner.book.windows() == [PLANNED] and runner.changes == []


def test_a_start_out_of_datetimes_range_is_400_naming_the_field(runner: Runner) -> None:
    body = {"name": "ancient", "mode": "mute", "start": "0001-01-01T00:00:00+01:00", "end": "2099-01-01T00:00:00Z"}

    reply = runner.post(body)

    assert reply.status == 400
    assert reply.json()["error"].startswith("field 'start' ")
