"""Log lines stay whole JSON objects, whoever writes them: the runner (structlog) or a library (logging)."""

from __future__ import annotations

import io
import json
import logging
import threading

from runner import logs
from runner.record.redact import Redactor


def test_concurrent_structlog_and_library_logging_never_share_a_line() -> None:
    stream = io.StringIO()
    logs.configure(stream, mask=Redactor(("s3cret-value",)).log_processor, quiet={"cheroot": logging.WARNING})
    runner_log = logs.get_logger("runner")
    library_log = logging.getLogger("waitress.queue")

    def runner_side() -> None:
        for n in range(300):
            runner_log.info("cycle completed", n=n, note="with s3cret-value")

    def library_side() -> None:
        for n in range(300):
            library_log.warning("Task queue depth is %d", n)

    threads = [threading.Thread(target=side) for side in (runner_side, library_side) * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = [json.loads(line) for line in stream.getvalue().splitlines()]  # each line one whole object
    assert len(events) == 2400
    library = [event for event in events if event.get("logger") == "waitress.queue"]
    assert len(library) == 1200 and library[0]["level"] == "warning"
    assert library[0]["event"].startswith("Task queue depth is ")
    assert all("s3cret-value" not in json.dumps(event) for event in events)
    assert all("timestamp" in event for event in events)
