"""Which jobs a worker gets next: group affinity, so each worker loads each model once."""
from __future__ import annotations

from collections import deque
from typing import Iterable

from .jobs import Job, order

__all__ = ["Dispatcher"]


class Dispatcher:
    """Hands out jobs group by group with worker affinity (see the module docstring)."""

    def __init__(self, jobs: Iterable[Job], chunk: int = 1):
        self.queues: dict[tuple, deque] = {}
        for j in order(list(jobs)):
            self.queues.setdefault(j.group, deque()).append(j)
        self.chunk = max(1, chunk)
        self.holding: dict[str, tuple] = {}

    def __bool__(self) -> bool:
        return any(self.queues.values())

    def next(self, worker: str) -> list[Job]:
        g = self.holding.get(worker)
        if g is None or not self.queues.get(g):
            live = [k for k, q in self.queues.items() if q]
            if not live:
                return []
            held = set(self.holding.values())
            free = [k for k in live if k not in held]
            g = max(free or live, key=lambda k: len(self.queues[k]))
            self.holding[worker] = g
        q = self.queues[g]
        # a group shared by several workers is split so that all of them stay busy
        sharers = sum(1 for v in self.holding.values() if v == g)
        n = min(self.chunk, max(1, len(q) // max(1, sharers)))
        return [q.popleft() for _ in range(min(n, len(q)))]
