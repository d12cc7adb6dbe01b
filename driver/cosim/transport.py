"""Run a built co-simulation and exchange frames with it over two named pipes."""

from __future__ import annotations

import errno
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .build import run_command, tool_env
from .testbench import QUEUE_WORDS


def _command(cmd: int, arg: int) -> bytes:
    """One command word of the testbench's input (see :mod:`driver.cosim.testbench`)."""
    return (cmd << 56 | arg).to_bytes(8, "big")


class CosimError(RuntimeError):
    """The simulator process died, hung, or said something outside the protocol."""


@dataclass
class RunReport:
    """What one run of the simulator did (see :mod:`driver.cosim.testbench` for the fields)."""

    results: list[tuple[int, list[int]]] = field(default_factory=list)
    """(cycle of the first word, words) per result frame, in completion order."""
    cycles: int = 0
    queued_words: int = 0
    outstanding: int = 0
    first_in: int = 0
    last_out: int = 0
    perf: int = 0


class CosimProcess:
    """One simulator process running the engine. Not thread-safe.

    ``timeout`` bounds the wall-clock seconds any single exchange may take before the
    simulator counts as hung.
    """

    def __init__(self, sim: str, program: Path, timeout: float = 120.0) -> None:
        self.sim = sim
        self.timeout = timeout
        self._dir = Path(tempfile.mkdtemp(prefix=f"esa-{sim}-"))
        self._in_path = self._dir / "to_sim"
        self._out_path = self._dir / "from_sim"
        os.mkfifo(self._in_path)
        os.mkfifo(self._out_path)
        self._rfd = os.open(self._out_path, os.O_RDONLY | os.O_NONBLOCK)
        self._stderr = open(self._dir / "stderr", "w+")
        self._proc = subprocess.Popen(
            run_command(sim, program, self._in_path, self._out_path),
            cwd=self._dir,
            env=tool_env(),
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=subprocess.STDOUT,
        )
        self._wfd = self._open_writer()
        self._buf = b""
        self._pending: list[bytes] = []
        self.queued_words = 0
        """Job words sent and not yet taken by the engine, as of the last run."""

    def _open_writer(self) -> int:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fd = os.open(self._in_path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
            else:
                os.set_blocking(fd, True)
                return fd
            self._check_alive()
            if time.monotonic() > deadline:
                self.close()
                raise CosimError(f"{self.sim}: the simulator did not open its input pipe")
            time.sleep(0.01)

    def _check_alive(self) -> None:
        rc = self._proc.poll()
        if rc is not None:
            self._stderr.seek(0)
            tail = self._stderr.read()[-2000:]
            raise CosimError(f"{self.sim}: the simulator exited with status {rc}\n{tail}")

    # -- messages -------------------------------------------------------------------------------

    def write_context(self, bits: int) -> None:
        """Queue one beat of the ``contexts`` stream (a packed ``ContextWrite``)."""
        n = max(1, (bits.bit_length() + 63) // 64)
        self._pending.append(_command(1, n) + bits.to_bytes(8 * n, "big"))

    def queue_job(self, words: Sequence[int]) -> None:
        """Queue one job frame. Raises :class:`CosimError` if the testbench's queue would overflow."""
        if self.queued_words + len(words) > QUEUE_WORDS:
            raise CosimError(f"{self.sim}: job queue full ({QUEUE_WORDS} words)")
        self.queued_words += len(words)
        self._pending.append(_command(2, len(words)) + b"".join(w.to_bytes(8, "big") for w in words))

    def room(self) -> int:
        """Job words that may still be queued before the next run."""
        return QUEUE_WORDS - self.queued_words

    def backpressure(self, job_pct: int = 100, result_pct: int = 100, seed: int = 1) -> None:
        """Offer job words / take result words in only ``job_pct`` / ``result_pct`` % of cycles."""
        if not (1 <= job_pct <= 100 and 1 <= result_pct <= 100):
            raise ValueError("back-pressure percentages are 1..100")
        self._pending.append(_command(4, job_pct << 40 | result_pct << 32 | (seed & 0x7FFFFFFF)))

    def run(self, max_cycles: int) -> RunReport:
        """Run until every queued job has its result or ``max_cycles`` pass; return what happened."""
        if not 1 <= max_cycles < 1 << 56:
            raise ValueError("max_cycles is 1 .. 2**56 - 1")
        self._pending.append(_command(3, max_cycles))
        self._send()
        report = RunReport()
        while True:
            line = self._readline()
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "R":
                report.results.append((int(parts[1], 16), [int(w, 16) for w in parts[2:]]))
            elif parts[0] == "D" and len(parts) == 7:
                (report.cycles, report.queued_words, report.outstanding, report.first_in, report.last_out) = (
                    int(p, 16) for p in parts[1:6]
                )
                report.perf = int(parts[6], 16) if "x" not in parts[6].lower() else 0
                self.queued_words = report.queued_words
                return report
            else:
                raise CosimError(f"{self.sim}: unexpected line from the simulator: {line[:200]!r}")

    def _send(self) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        try:
            while data:
                _, w, _ = select.select([], [self._wfd], [], self.timeout)
                if not w:
                    self._check_alive()
                    raise CosimError(f"{self.sim}: the simulator stopped reading")
                n = os.write(self._wfd, data[:65536])
                data = data[n:]
        except BrokenPipeError:
            self._check_alive()
            raise CosimError(f"{self.sim}: the simulator closed its input") from None

    def _readline(self) -> str:
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CosimError(f"{self.sim}: no answer from the simulator in {self.timeout:.0f} s")
            r, _, _ = select.select([self._rfd], [], [], min(left, 1.0))
            if not r:
                self._check_alive()
                continue
            chunk = os.read(self._rfd, 1 << 20)
            if not chunk:
                self._check_alive()
                time.sleep(0.01)  # the writer has not opened the pipe yet
                continue
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode()

    def close(self) -> None:
        """Ask the simulator to quit, then reap it and remove the pipes."""
        if self._proc.poll() is None:
            try:
                os.write(self._wfd, _command(0, 0))
            except (OSError, AttributeError):
                pass
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for fd in (getattr(self, "_wfd", None), self._rfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._stderr.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> CosimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
