"""A test-only accelerator that fails on demand (see :class:`FaultyCard`)."""

from __future__ import annotations

from collections.abc import Sequence

from driver.api import CryptoEngine, EngineFault, Job, Result, SAParams, Status
from driver.software import SoftwareEngine

__all__ = ["FaultyCard"]


class FaultyCard(CryptoEngine):
    """A real software engine posing as the card in slot 5, with faults on demand.

    ``per_poll``: results handed out per poll (so that a burst stays in flight over several
    polls). ``fail_after``: after this many results the card turns to ``mode``:
    ``silent`` (accepts jobs, never answers), ``fault`` (raises EngineFault), ``killed``
    (every call raises EngineFault, like a dead simulator process), ``bad_tag`` (answers with a
    tag it was never given), ``lost_context`` (answers BAD_CONN for installed SAs), ``short``
    (drops the last data block of a result), ``broken_pipe`` (raises an OSError).
    """

    name = "testcard"

    def __init__(
        self,
        max_conns: int = 4,
        queue_depth: int = 16,
        per_poll: int = 3,
        fail_after: int | None = None,
        mode: str = "silent",
    ) -> None:
        super().__init__()
        self.inner = SoftwareEngine(queue_depth=queue_depth, max_conns=max_conns)
        self.inner.card_slot = 5
        self.card_slot = 5
        self.max_conns = max_conns
        self.queue_depth = queue_depth
        self.per_poll = per_poll
        self.fail_after = fail_after
        self.mode = mode
        self.answered = 0
        self.broken = False
        self.closed = False

    def break_now(self, mode: str | None = None) -> None:
        self.broken = True
        if mode is not None:
            self.mode = mode

    def _alive(self) -> None:
        if self.broken and self.mode == "killed":
            raise EngineFault("testcard: simulator process exited (killed)")

    def install(self, sa: SAParams) -> int:
        self._alive()
        return self.inner.install(sa)

    def remove(self, conn_id: int) -> None:
        self._alive()
        self.inner.remove(conn_id)

    def submit(self, jobs: Sequence[Job]) -> int:
        self._alive()
        return self.inner.submit(jobs)

    def pending(self) -> int:
        return self.inner.pending()

    def poll(self, max_results: int | None = None) -> list[Result]:
        self._alive()
        if self.broken:
            return self._broken_poll()
        n = self.per_poll
        if self.fail_after is not None:
            n = min(n, self.fail_after - self.answered)
            if n <= 0:
                self.broken = True
                return self._broken_poll()
        got = self.inner.poll(n)
        self.answered += len(got)
        return got

    def _broken_poll(self) -> list[Result]:
        mode = self.mode
        if mode in ("silent", "killed"):
            if mode == "killed":
                raise EngineFault("testcard: simulator process exited (killed)")
            return []
        if mode == "fault":
            raise EngineFault("testcard: DMA error")
        if mode == "broken_pipe":  # a transport error that no one turned into an EngineFault
            raise BrokenPipeError(32, "Broken pipe")
        got = self.inner.poll(1)
        if not got:
            return []
        r = got[0]
        if mode == "bad_tag":
            return [Result((r.tag + 4321) % 65536, r.conn_id, r.status, r.data, r.icv)]
        if mode == "lost_context":
            return [Result(r.tag, r.conn_id, Status.BAD_CONN)]
        if mode == "short":
            return [Result(r.tag, r.conn_id, r.status, r.data[:-8], r.icv)]
        raise AssertionError(mode)

    def counters(self, conn_id: int):
        return self.inner.counters(conn_id)

    def conn_ids(self) -> list[int]:
        return self.inner.conn_ids()

    def slot_of(self, conn_id: int) -> int:
        return self.inner.slot_of(conn_id)

    def close(self) -> None:
        self.closed = True
