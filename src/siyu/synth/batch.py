"""A chunk's events before they get ids and timestamps: serialised bodies plus their true times.

Messages are serialised (orjson) the moment they are built, while their objects are still hot in
cache, and only the bytes are kept: that is both the fastest path and what keeps memory flat. A body
is the JSON object without its closing brace (the slice also drops orjson's ~4 KB output buffer for a
right-sized copy); :mod:`render` appends the envelope fields (messageId, timestamp, sentAt,
receivedAt) and the brace.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

_dumps = orjson.dumps


class EventBatch:
    """Serialised partial Segment messages (without the closing brace), with true time (days) and surface.

    ``gb`` marks events that may be moved to the GB18030 WeCom export (they carry Chinese text).
    """

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self._t: list[float] = []
        self._surf: list[int] = []
        self._gb: list[bool] = []
        self._blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, msg: dict[str, Any], t: float, surf: int, gb: bool = False) -> None:
        self.bodies.append(_dumps(msg)[:-1])
        self._t.append(t)
        self._surf.append(surf)
        self._gb.append(gb)

    def extend(self, bodies: list[bytes], t: np.ndarray, surf: np.ndarray) -> None:
        """Append a vectorised block of already serialised messages (never GB18030 candidates)."""
        self._flush()
        self.bodies.extend(bodies)
        self._blocks.append((np.asarray(t, dtype=np.float64), np.asarray(surf, dtype=np.int8),
                             np.zeros(len(bodies), bool)))

    def _flush(self) -> None:
        if self._t:
            self._blocks.append((np.asarray(self._t, dtype=np.float64), np.asarray(self._surf, dtype=np.int8),
                                 np.asarray(self._gb, dtype=bool)))
            self._t, self._surf, self._gb = [], [], []

    def __len__(self) -> int:
        return len(self.bodies)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(time in days, surface, GB18030 candidate) aligned with :attr:`bodies`."""
        self._flush()
        if not self._blocks:
            return np.empty(0), np.empty(0, np.int8), np.empty(0, bool)
        t, surf, gb = (np.concatenate([b[k] for b in self._blocks]) for k in range(3))
        return t, surf, gb
