"""In-memory, thread-safe, bounded storage of reservations."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from typing import Any

DEFAULT_MAX_RESERVATIONS = 100_000


class ReservationStore:
    """Reservations by id; the oldest are evicted past ``max_reservations`` so memory stays bounded."""

    def __init__(self, max_reservations: int = DEFAULT_MAX_RESERVATIONS) -> None:
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._max = max_reservations
        self._lock = threading.Lock()

    def create(self, data: dict[str, Any]) -> dict[str, Any]:
        """Store a copy of ``data`` under a new id and return it with its ``id``."""
        reservation = {**data, "id": uuid.uuid4().hex}
        with self._lock:
            self._items[reservation["id"]] = reservation
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return dict(reservation)

    def get(self, reservation_id: str) -> dict[str, Any] | None:
        """Return the reservation or None."""
        with self._lock:
            found = self._items.get(reservation_id)
        return dict(found) if found is not None else None

    def delete(self, reservation_id: str) -> bool:
        """Remove the reservation; return whether it existed."""
        with self._lock:
            return self._items.pop(reservation_id, None) is not None

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
