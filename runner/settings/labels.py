"""What a label value may be, for a journey's labels (``@pytest.mark.labels``) and ``--location`` alike."""

from __future__ import annotations

MAX_LABEL_VALUE_CHARS = 128
