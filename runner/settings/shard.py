"""Shards: N runners split the journeys between them, each journey to exactly one, with no coordinator.

A journey belongs to shard ``sha1(journey id) mod N + 1``. The id is the ``journey`` label (relative to the
journeys folder), so every runner computes the same owner wherever it runs, whatever its rootdir and Python
version. In a Kubernetes StatefulSet the shard number is the pod's ordinal plus one: ``--shard ordinal/N``
reads it from ``SYNTHETIC_POD_INDEX`` (the ``apps.kubernetes.io/pod-index`` label) or the pod's name.

Usage::

    shard = parse_shard("2/3", "--shard", os.environ)    # ConfigError naming --shard and the value if bad
    shard.owns("test_reservations.py::test_book")       # True for one shard in three
"""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from runner.errors import ConfigError

MAX_SHARDS = 10_000
ORDINAL = "ordinal"
POD_INDEX_ENV = "SYNTHETIC_POD_INDEX"
_POD_NAME = re.compile(r"-(\d+)$")
EXPECTED = f"K/N with 1 <= K <= N <= {MAX_SHARDS} (e.g. 2/3), or {ORDINAL}/N in a StatefulSet"


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int = 1
    count: int = 1

    def owns(self, journey: str) -> bool:
        """Whether this shard runs ``journey``; every journey is owned by exactly one of the N shards."""
        if self.count == 1:
            return True
        digest = hashlib.sha1(journey.encode("utf-8"), usedforsecurity=False).digest()
        return int.from_bytes(digest[:8], "big") % self.count + 1 == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


EVERY_JOURNEY = Shard()  # no sharding: the one shard owns everything


def parse_shard(value: str, source: str, env: Mapping[str, str], hostname: str | None = None) -> Shard:
    """``K/N`` or ``ordinal/N`` (K = the pod's ordinal + 1); ConfigError naming ``source`` and the value if bad."""
    index_text, slash, count_text = value.partition("/")
    if not slash or not count_text.isdigit() or not 1 <= int(count_text) <= MAX_SHARDS:
        raise ConfigError(f"{source} must be {EXPECTED}, got {value!r}")
    count = int(count_text)
    if index_text == ORDINAL:
        index = _pod_ordinal(source, value, env, hostname) + 1
        if index > count:
            raise ConfigError(
                f"{source} {value!r}: this pod's ordinal {index - 1} needs at least {index} shards; "
                "the StatefulSet has more replicas than N"
            )
        return Shard(index, count)
    if not index_text.isdigit() or not 1 <= int(index_text) <= count:
        raise ConfigError(f"{source} must be {EXPECTED}, got {value!r}")
    return Shard(int(index_text), count)


def _pod_ordinal(source: str, value: str, env: Mapping[str, str], hostname: str | None) -> int:
    """The StatefulSet ordinal: ``SYNTHETIC_POD_INDEX`` if set, else the trailing ``-<n>`` of the host name."""
    given = env.get(POD_INDEX_ENV, "")
    if given:
        if not given.isdigit():
            raise ConfigError(
                f"{source} {value!r}: env {POD_INDEX_ENV} must be a pod ordinal (0, 1, ...), got {given!r}"
            )
        return int(given)
    name = hostname if hostname is not None else socket.gethostname()
    found = _POD_NAME.search(name)
    if found is None:
        raise ConfigError(
            f"{source} {value!r}: no pod ordinal: set env {POD_INDEX_ENV} or run in a StatefulSet pod named "
            f"<name>-<ordinal> (host name is {name!r})"
        )
    return int(found.group(1))
