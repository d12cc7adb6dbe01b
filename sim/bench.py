"""``esa bench``: the ESP packet path against the raw crypto it is made of.

For each transform set and packet size, in one run and on the same bytes, it times:

- ``outbound``: the full outbound path (ESP codec + crypto engine jobs) on bursts of datagrams;
- ``inbound``: the full inbound path (parse, replay check, engine verify+decrypt, padding and
  inner-packet checks) on the packets the outbound path made;
- ``raw-out`` / ``raw-in``: the same DES-CBC and HMAC-96 work done directly with
  ``cryptography`` the plain way (a cipher context per packet for its IV, a copied keyed HMAC);
- ``raw-out-chained`` / ``raw-in-chained``: the same again with one running CBC context and the
  IV folded into the first block, the trick the software engine itself uses
  (:class:`driver.software._ChainedCBC`): the floor that the packet path cannot beat.

Times are this process's CPU time (so that other load on the machine does not count), except
for engines simulated in a process of their own (``verilator``, ``icarus``), timed by the wall
clock; each figure is the median of ``--repeat`` runs; ``overhead`` is path time / raw time - 1
(``vs raw``), ``overhead_vs_chained`` the same against the chained floor.
Sizes are IPv4 datagram sizes (inner packets before ESP); MB/s counts those bytes (10^6 B/s).
A burst (``--burst``; default the engine's queue depth, at most 256) is the packets handed to the
engine in one run, like a driver filling its descriptor ring.
For a simulated engine (``amaranth``, ``verilator``, ``icarus``) the packet paths also report the
engine's clock cycles per packet and the simulated cycles per second of the path's time.
Progress goes to stderr, results to stdout (a table, or JSON lines with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import constant_time, hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from driver.registry import known_engines, open_engine, simulated_engine
from host.ipsec import esp, ipv4
from host.ipsec.burst import run_burst
from host.ipsec.sa import Drop, SecurityAssociation

__all__ = ["register", "run_bench", "TRANSFORM_SETS"]

TRANSFORM_SETS = {
    "esp-des+esp-sha-hmac": ("esp-des", "esp-sha-hmac"),
    "esp-des+esp-md5-hmac": ("esp-des", "esp-md5-hmac"),
}
_HASH = {"esp-sha-hmac": hashes.SHA1, "esp-md5-hmac": hashes.MD5}
_KEYLEN = {"esp-sha-hmac": 20, "esp-md5-hmac": 16}
MAX_BURST = 256
"""The largest default burst (packets per engine run)."""


def _datagrams(size: int, count: int, rng: random.Random) -> list[bytes]:
    """UDP-shaped IPv4 datagrams of exactly ``size`` bytes (at least 28)."""
    body = max(size, 28) - 20
    return [
        ipv4.build("192.168.1.1", "192.168.2.1", ipv4.PROTO_UDP, rng.randbytes(body), ident=i)
        for i in range(count)
    ]


def _sa_pair(engine, transforms, rng: random.Random, spi: int):
    keys = dict(cipher_key=rng.randbytes(8), auth_key=rng.randbytes(_KEYLEN[transforms[1]]))
    common = dict(protocol="esp", spi=spi, transforms=transforms, **keys)
    out = SecurityAssociation(inbound=False, local="10.0.0.1", peer="10.0.0.2", rng=rng.randbytes, **common)
    inn = SecurityAssociation(inbound=True, local="10.0.0.2", peer="10.0.0.1", **common)
    out.install(engine)
    inn.install(engine)
    return out, inn, keys


OUT_OF_PROCESS = frozenset({"verilator", "icarus"})
"""Engines whose crypto runs in a simulator process of its own: this process's CPU time does not
see their work, so they are timed by the wall clock."""


def _time(fn: Callable[..., object], *args: object, clock: Callable[[], float] = time.process_time) -> float:
    """Seconds spent in ``fn(*args)`` by ``clock``: by default this process's CPU time, since on a
    shared machine wall-clock time would also count other processes' turns on the core."""
    t0 = clock()
    fn(*args)
    return clock() - t0


def _bursts(items: list, n: int) -> list[list]:
    return [items[i : i + n] for i in range(0, len(items), n)]


# -- the timed bodies ----------------------------------------------------------------------------


def _outbound(sa: SecurityAssociation, bursts: list[list[bytes]]) -> list[list[bytes | Drop]]:
    return [run_burst([esp.prepare_outbound(sa, p) for p in b]) for b in bursts]


def _inbound(sa: SecurityAssociation, bursts: list[list[bytes]]) -> None:
    for b in bursts:
        got = run_burst([esp.prepare_inbound(sa, w) for w in b])
        if any(isinstance(g, Drop) for g in got):
            raise RuntimeError("the inbound path dropped a benchmark packet")


def _raw_out(des: TripleDES, mac0: hmac.HMAC, items: list[tuple]) -> None:
    for head, iv, pt, _ct, _icv in items:
        enc = Cipher(des, modes.CBC(iv)).encryptor()
        ct = enc.update(pt) + enc.finalize()
        m = mac0.copy()
        m.update(head)
        m.update(ct)
        m.finalize()[:12]


def _raw_in(des: TripleDES, mac0: hmac.HMAC, items: list[tuple]) -> None:
    for head, iv, _pt, ct, icv in items:
        m = mac0.copy()
        m.update(head)
        m.update(ct)
        if not constant_time.bytes_eq(m.finalize()[:12], icv):
            raise RuntimeError("raw verify failed")
        dec = Cipher(des, modes.CBC(iv)).decryptor()
        dec.update(ct) + dec.finalize()


def _raw_out_chained(des: TripleDES, mac0: hmac.HMAC, items: list[tuple]) -> None:
    enc = Cipher(des, modes.CBC(bytes(8))).encryptor()
    s = 0
    for head, iv, pt, _ct, _icv in items:
        first = int.from_bytes(pt[:8], "big") ^ int.from_bytes(iv, "big") ^ s
        ct = enc.update(first.to_bytes(8, "big") + pt[8:])
        s = int.from_bytes(ct[-8:], "big")
        m = mac0.copy()
        m.update(head)
        m.update(ct)
        m.finalize()[:12]


def _raw_in_chained(des: TripleDES, mac0: hmac.HMAC, items: list[tuple]) -> None:
    dec = Cipher(des, modes.CBC(bytes(8))).decryptor()
    s = 0
    for head, iv, _pt, ct, icv in items:
        m = mac0.copy()
        m.update(head)
        m.update(ct)
        if not constant_time.bytes_eq(m.finalize()[:12], icv):
            raise RuntimeError("raw verify failed")
        out = dec.update(ct)
        first = int.from_bytes(out[:8], "big") ^ int.from_bytes(iv, "big") ^ s
        s = int.from_bytes(ct[-8:], "big")
        first.to_bytes(8, "big") + out[8:]


def _decrypt(des: TripleDES, iv: bytes, ct: bytes) -> bytes:
    d = Cipher(des, modes.CBC(iv)).decryptor()
    return d.update(ct) + d.finalize()


PATHS = ("outbound", "raw-out", "raw-out-chained", "inbound", "raw-in", "raw-in-chained")


def _measure(
    engine,
    ts_name: str,
    transforms: tuple[str, str],
    size: int,
    n: int,
    repeat: int,
    rng: random.Random,
    spi: int,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.process_time,
    burst: int = 64,
) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds per path for ``n`` datagrams of ``size`` bytes, timed by ``clock``, and
    for a simulated engine the median engine cycles of the two packet paths."""
    out_sa, in_sa, keys = _sa_pair(engine, transforms, rng, spi)
    sim = simulated_engine(engine)

    def timed(fn: Callable[..., object], *args: object) -> tuple[float, int]:
        before = sim.cycles if sim is not None else 0
        seconds = _time(fn, *args, clock=clock)
        return seconds, (sim.cycles - before if sim is not None else 0)

    try:
        des = TripleDES(keys["cipher_key"] * 3)
        mac0 = hmac.HMAC(keys["auth_key"], _HASH[transforms[1]]())
        bursts = _bursts(_datagrams(size, n, rng), burst)
        # the raw crypto works on the very bytes of the path's ESP packets
        raw_items = []
        for w in (w for b in _outbound(out_sa, bursts) for w in b):
            if isinstance(w, Drop):
                raise RuntimeError("the outbound path dropped a benchmark packet")
            e = w[20:]
            head, ct, icv = e[:16], e[16:-12], e[-12:]
            raw_items.append((head, head[8:16], _decrypt(des, head[8:16], ct), ct, icv))
        times: dict[str, list[float]] = {k: [] for k in PATHS}
        cycles: dict[str, list[int]] = {"outbound": [], "inbound": []}
        for r in range(repeat):
            say(f"{ts_name} {size} B: repeat {r + 1}/{repeat}")
            times["raw-out"].append(_time(_raw_out, des, mac0, raw_items))
            times["raw-out-chained"].append(_time(_raw_out_chained, des, mac0, raw_items))
            seconds, clocked = timed(_outbound, out_sa, bursts)
            times["outbound"].append(seconds)
            cycles["outbound"].append(clocked)
            wires = _outbound(out_sa, bursts)
            if in_sa.replay is not None:  # a fresh window for this repeat's sequence numbers
                in_sa.replay = type(in_sa.replay)(in_sa.replay.size)
            times["raw-in"].append(_time(_raw_in, des, mac0, raw_items))
            times["raw-in-chained"].append(_time(_raw_in_chained, des, mac0, raw_items))
            seconds, clocked = timed(_inbound, in_sa, wires)
            times["inbound"].append(seconds)
            cycles["inbound"].append(clocked)
        med_cycles = {k: statistics.median(v) for k, v in cycles.items()} if sim is not None else {}
        return {k: statistics.median(v) for k, v in times.items()}, med_cycles
    finally:
        out_sa.uninstall()
        in_sa.uninstall()


def run_bench(
    engine_name: str = "software",
    sizes: tuple[int, ...] = (64, 512, 1400),
    repeat: int = 5,
    packets: int | None = None,
    progress: Callable[[str], None] | None = None,
    burst: int | None = None,
) -> list[dict]:
    """Measure and return one dict per (transform set, size, path). ``burst``: packets per engine
    run (default the engine's queue depth, at most :data:`MAX_BURST`)."""
    say = progress or (lambda _msg: None)
    rng = random.Random(1)
    results: list[dict] = []
    engine = open_engine(engine_name)
    clock = time.perf_counter if engine_name in OUT_OF_PROCESS else time.process_time
    burst = burst or min(engine.queue_depth, MAX_BURST)
    try:
        for t_index, (ts_name, transforms) in enumerate(TRANSFORM_SETS.items()):
            for size in sizes:
                n = packets or max(200, min(4000, 1_500_000 // max(size, 64)))
                med, med_cycles = _measure(
                    engine, ts_name, transforms, size, n, repeat, rng, 0x1000 + t_index, say, clock, burst
                )
                for path, raw_path in (("outbound", "raw-out"), ("inbound", "raw-in")):
                    for p in (path, raw_path, raw_path + "-chained"):
                        row = {
                            "engine": engine_name,
                            "transform_set": ts_name,
                            "size": size,
                            "path": p,
                            "packets": n,
                            "burst": burst,
                            "repeats": repeat,
                            "seconds": med[p],
                            "clock": "wall" if clock is time.perf_counter else "cpu",
                            "pps": n / med[p],
                            "mbps": n * size / med[p] / 1e6,
                            "overhead": None,
                            "overhead_vs_chained": None,
                            "cycles_per_packet": None,
                            "sim_cycles_per_s": None,
                        }
                        if p in med_cycles:
                            row["cycles_per_packet"] = med_cycles[p] / n
                            row["sim_cycles_per_s"] = med_cycles[p] / med[p]
                        if p == path:
                            row["overhead"] = med[path] / med[raw_path] - 1
                            row["overhead_vs_chained"] = med[path] / med[raw_path + "-chained"] - 1
                        results.append(row)
    finally:
        engine.close()
    return results


def _table(results: list[dict]) -> str:
    simulated = any(r["cycles_per_packet"] is not None for r in results)
    sim_head = f" {'cyc/pkt':>8} {'sim cyc/s':>10}" if simulated else ""
    lines = [
        f"{'transform set':22} {'size':>5} {'path':16} {'pkt/s':>10} {'MB/s':>8} "
        f"{'vs raw':>8} {'vs chained':>10}{sim_head}"
    ]
    for r in results:
        ov = f"{100 * r['overhead']:+.1f}%" if r["overhead"] is not None else ""
        ovc = f"{100 * r['overhead_vs_chained']:+.1f}%" if r["overhead"] is not None else ""
        sim = ""
        if r["cycles_per_packet"] is not None:
            sim = f" {r['cycles_per_packet']:8.0f} {r['sim_cycles_per_s']:10.0f}"
        lines.append(
            f"{r['transform_set']:22} {r['size']:5d} {r['path']:16} {r['pps']:10.0f} "
            f"{r['mbps']:8.2f} {ov:>8} {ovc:>10}{sim}"
        )
    return "\n".join(lines)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are comma-separated integers: {text!r}") from None
    if not sizes or any(not 28 <= s <= 65000 for s in sizes):
        raise argparse.ArgumentTypeError("each size is 28..65000 bytes")
    return sizes


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _main(args: argparse.Namespace) -> int:
    if args.engine not in known_engines():
        print(
            f"esa bench: unknown engine {args.engine!r}; known engines: {', '.join(known_engines())}",
            file=sys.stderr,
        )
        return 2
    results = run_bench(
        args.engine,
        args.sizes,
        args.repeat,
        args.packets,
        progress=lambda m: print(f"bench: {m}", file=sys.stderr, flush=True),
        burst=args.burst,
    )
    if args.json:
        for r in results:
            print(json.dumps(r))
    else:
        clock = "wall-clock" if args.engine in OUT_OF_PROCESS else "CPU"
        burst = results[0]["burst"] if results else args.burst
        print(f"engine {args.engine}, medians of {args.repeat} repeats, bursts of {burst}, {clock} time")
        print(_table(results))
    return 0


def register(subparsers) -> None:
    """Add ``esa bench`` to the command line."""
    p = subparsers.add_parser(
        "bench",
        help="ESP packet path vs raw crypto throughput",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--engine", default="software", help="crypto engine backend (default software)")
    p.add_argument(
        "--sizes",
        type=_sizes,
        default=(64, 512, 1400),
        help="datagram sizes in bytes, comma-separated (default 64,512,1400)",
    )
    p.add_argument("--repeat", type=int, default=5, help="repeats; medians are reported")
    p.add_argument("--packets", type=int, default=None, help="packets per size (default: scaled)")
    p.add_argument(
        "--burst",
        type=_positive,
        default=None,
        help=f"packets per engine run (default: the engine's queue depth, at most {MAX_BURST})",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=_main)
