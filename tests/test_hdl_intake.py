"""The job intake (with the context memory) in Amaranth's simulator, against a model of its contract.

The model is the :mod:`hdl.job_intake` docstring: the status precedence (``BAD_CONN``, then
``BAD_OP``, then ``BAD_LENGTH``), a frame that ends in its first word is ``BAD_LENGTH``, every
frame ends in one commit after its ``last`` word, a job uses the SA context as it was when its
first word arrived, data words go to ``slot * slot_words + index``, the cut-through ``early``
pulse carries the IV of a ciphering job that passed its header checks, and ``fill_words`` never
runs ahead of the words written. Frames are random: good and bad conn ids, ops, lengths, frames
that end early or late, context rewrites while frames arrive, gaps on the stream and a scarce
supply of free slots.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.sim import Simulator

from hdl.context_memory import ContextMemory
from hdl.job_intake import JobIntake
from hdl.layouts import ICV_WORDS, Auth, Cipher, Op, Status, pack_context

CONNS = 16
SLOTS = 4
SLOT_WORDS = 8
M64 = (1 << 64) - 1


class IntakeHarness(Elaboratable):
    """A :class:`ContextMemory` wired to a :class:`JobIntake` as the engine core wires them; the
    testbench drives ``free`` (the scheduler's bitmap) itself."""

    def __init__(self) -> None:
        self.ctx_mem = ContextMemory(CONNS)
        self.intake = JobIntake(SLOTS, SLOT_WORDS)
        self.free = Signal(SLOTS)

    def elaborate(self, platform):
        m = Module()
        m.submodules.ctx = c = self.ctx_mem
        m.submodules.intake = i = self.intake
        m.d.comb += [
            c.rd_addr.eq(i.ctx_addr),
            c.rd_en.eq(i.ctx_en),
            i.ctx.eq(c.rd_data),
            i.ctx_in_range.eq(c.rd_in_range),
            i.free.eq(self.free),
        ]
        return m


# ---------------------------------------------------------------- the model


@dataclass
class Ctx:
    valid: bool
    inbound: bool
    cipher: Cipher
    auth: Auth
    des_key: int

    def bits(self) -> int:
        return pack_context(
            inbound=self.inbound,
            cipher=self.cipher,
            auth=self.auth,
            des_key=self.des_key.to_bytes(8, "big"),
            valid=self.valid,
        )


def header_words(op: int, conn_id: int, tag: int, auth_len: int, cipher_len: int) -> list[int]:
    """The two header words, bit positions as :data:`hdl.layouts.JobHeader` (op 3..0, conn id
    31..16, tag 47..32, auth_len 63..48; cipher_len 15..0 of the second word)."""
    return [op | conn_id << 16 | tag << 32 | auth_len << 48, cipher_len]


@dataclass
class Frame:
    op: int
    conn_id: int
    tag: int
    auth_len: int
    cipher_len: int
    body: list[int]
    one_word: bool = False  # the frame ends within its first header word

    def words(self) -> list[int]:
        h = header_words(self.op, self.conn_id, self.tag, self.auth_len, self.cipher_len)
        return h[:1] if self.one_word else h + self.body


def model(frame: Frame, ctx: Ctx | None) -> dict:
    """What the intake must report for ``frame`` given the context at its first word (None:
    conn id out of range)."""
    op = frame.op
    ciphers, auths, inbound = bool(op & 1), bool(op & 2), bool(op & 4)
    verifies = auths and inbound
    data_words = -(-(frame.auth_len + frame.cipher_len) // 8)
    expected = int(ciphers) + data_words + ICV_WORDS * int(verifies)
    out = {"header_ok": False, "data": [], "iv": 0, "icv": [0] * ICV_WORDS, "early": None}
    if frame.one_word:
        out["status"] = Status.BAD_LENGTH
        return out
    if ctx is None or not ctx.valid:
        out["status"] = Status.BAD_CONN
    elif (
        op not in [o.value for o in Op]
        or inbound != ctx.inbound
        or ciphers != (ctx.cipher is not Cipher.NONE)
        or auths != (ctx.auth is not Auth.NONE)
    ):
        out["status"] = Status.BAD_OP
    elif (
        frame.cipher_len % 8
        or (ciphers and frame.auth_len % 8)
        or (not ciphers and frame.cipher_len)
        or data_words > SLOT_WORDS
    ):
        out["status"] = Status.BAD_LENGTH
    else:
        out["header_ok"] = True
        out["status"] = Status.OK if len(frame.body) == expected else Status.BAD_LENGTH
        body = frame.body[:expected]  # words after the expected final one are drained
        if ciphers and body:
            out["iv"] = body[0]
            if frame.cipher_len:
                out["early"] = body[0]
            body = body[1:]
        out["data"] = body[:data_words]
        for i, w in enumerate(body[data_words:]):
            out["icv"][i] = w
    return out


# ---------------------------------------------------------------- random frames


def random_ctx(rng: random.Random) -> Ctx:
    return Ctx(
        valid=rng.random() > 0.15,
        inbound=rng.random() < 0.5,
        cipher=rng.choice(list(Cipher)),
        auth=rng.choice(list(Auth)),
        des_key=rng.getrandbits(64),
    )


def random_frame(rng: random.Random, tag: int, contexts: dict[int, Ctx]) -> Frame:
    conn_id = rng.randrange(CONNS + 4) if rng.random() < 0.2 else rng.randrange(CONNS)
    ctx = contexts.get(conn_id)
    if ctx is not None and rng.random() < 0.75:
        # an op that suits the context, so that most frames get past the header checks
        op = int(ctx.cipher is not Cipher.NONE) | int(ctx.auth is not Auth.NONE) << 1 | int(ctx.inbound) << 2
        if op in (0, 4):
            op = rng.choice([o.value for o in Op])
    else:
        op = rng.choice([o.value for o in Op]) if rng.random() < 0.85 else rng.choice([0, 4, 8, 9, 15])
    ciphers = bool(op & 1)
    auth_len = 8 * rng.randrange(0, 5) + (rng.randrange(8) if rng.random() < 0.15 else 0)
    cipher_len = 8 * rng.randrange(0, 6) if ciphers or rng.random() < 0.1 else 0
    if rng.random() < 0.08:
        cipher_len += rng.randrange(1, 8)
    if rng.random() < 0.05:
        cipher_len = 8 * rng.randrange(SLOT_WORDS, 300)  # too long
    if not ciphers and rng.random() < 0.5:
        auth_len = rng.randrange(0, 8 * SLOT_WORDS + 2)
    auth_len = min(auth_len, 0xFFFF)
    verifies = bool(op & 2) and bool(op & 4)
    data_words = -(-(auth_len + cipher_len) // 8)
    expected = int(ciphers) + min(data_words, SLOT_WORDS + 2) + ICV_WORDS * int(verifies)
    r = rng.random()
    n = expected if r < 0.8 else max(0, expected + rng.choice([-3, -2, -1, 1, 2]))
    if r > 0.97:
        n = 0
    body = [rng.getrandbits(64) for _ in range(n)]
    return Frame(op, conn_id, tag, auth_len, cipher_len, body, one_word=rng.random() < 0.03)


# ---------------------------------------------------------------- the run


@dataclass
class Seen:
    """What the monitor saw of one frame."""

    slot: int = -1
    words: int = 0
    record: dict | None = None
    writes: list[tuple[int, int]] = field(default_factory=list)
    early: list[tuple[int, dict]] = field(default_factory=list)
    ctx_at_first_word: dict[int, int] = field(default_factory=dict)  # conn id -> context bits


def record_dict(rec, ctx) -> dict:
    """The intake's ``record`` port as plain values."""
    return {
        "slot": ctx.get(rec.slot),
        "status": Status(ctx.get(rec.status)),
        "op": ctx.get(rec.op),
        "tag": ctx.get(rec.tag),
        "conn_id": ctx.get(rec.conn_id),
        "auth_len": ctx.get(rec.auth_len),
        "cipher_len": ctx.get(rec.cipher_len),
        "ctx_bits": ctx.get(rec.ctx.as_value()),
        "iv": ctx.get(rec.iv),
        "icv": ctx.get(rec.icv),
    }


def run_intake(seed: int, n_frames: int, *, idle: float, busy: float) -> tuple[list[Frame], list[Seen]]:
    """Send ``n_frames`` random frames (``idle``: probability of a gap before a word; ``busy``:
    probability that a released slot is held busy for a while); return them and what was seen."""
    rng = random.Random(seed)
    dut = IntakeHarness()
    it, cm = dut.intake, dut.ctx_mem
    # contexts first, then frames, with rewrites between and during them
    writes_plan: list[tuple[int, Ctx]] = [(c, random_ctx(rng)) for c in range(CONNS)]
    frames: list[Frame] = []
    seen: list[Seen] = []
    done = {"frames": False}
    contexts_now: dict[int, Ctx] = {}  # as the context writer has sent them

    async def context_writer(ctx):
        for conn, c in writes_plan:
            ctx.set(cm.contexts.payload.conn_id, conn)
            ctx.set(cm.contexts.payload.context.as_value(), c.bits())
            ctx.set(cm.contexts.valid, 1)
            await ctx.tick()
            contexts_now[conn] = c
        ctx.set(cm.contexts.valid, 0)
        while not done["frames"]:
            for _ in range(rng.randrange(4, 60)):
                await ctx.tick()
            conn, c = rng.randrange(CONNS + 2), random_ctx(rng)
            if conn < CONNS:
                contexts_now[conn] = c
            ctx.set(cm.contexts.payload.conn_id, conn)
            ctx.set(cm.contexts.payload.context.as_value(), c.bits())
            ctx.set(cm.contexts.valid, 1)
            await ctx.tick()
            ctx.set(cm.contexts.valid, 0)

    async def frame_driver(ctx):
        while len(contexts_now) < CONNS:
            await ctx.tick()
        for tag in range(n_frames):
            # ops mostly chosen to suit the conn id's context of the moment
            f = random_frame(rng, tag, contexts_now)
            frames.append(f)
            words = f.words()
            for i, w in enumerate(words):
                while rng.random() < idle:
                    await ctx.tick()
                ctx.set(it.jobs.payload.data, w)
                ctx.set(it.jobs.payload.last, int(i == len(words) - 1))
                ctx.set(it.jobs.valid, 1)
                await ctx.tick().until(it.jobs.ready)
                ctx.set(it.jobs.valid, 0)
        for _ in range(40):
            await ctx.tick()
        done["frames"] = True

    async def scheduler_model(ctx):
        """Keeps ``free`` as the scheduler does: a slot leaves the bitmap the cycle after it is
        taken and comes back some cycles after its commit (or is held busy for a while)."""
        free = (1 << SLOTS) - 1
        returns: list[tuple[int, int]] = []
        now = 0
        held: dict[int, int] = {}
        ctx.set(dut.free, free)
        while not done["frames"]:
            _, _, alloc, slot, commit, rslot = await ctx.tick().sample(
                it.alloc, it.alloc_slot, it.commit, it.record.slot
            )
            now += 1
            if alloc:
                assert free >> slot & 1, f"the intake took slot {slot}, which is not free"
                free &= ~(1 << slot)
            if commit:
                returns.append((now + rng.randrange(0, 6), rslot))
            for t, s in list(returns):
                if t <= now:
                    returns.remove((t, s))
                    if rng.random() < busy:
                        held[s] = now + rng.randrange(10, 80)
                    else:
                        free |= 1 << s
            for s, t in list(held.items()):
                if t <= now:
                    del held[s]
                    free |= 1 << s
            ctx.set(dut.free, free)

    async def monitor(ctx):
        cur: Seen | None = None
        writes_seen = 0
        active_since_early = False
        awaiting_slot: Seen | None = None
        while not done["frames"]:
            names = ("valid", "ready", "alloc", "aslot", "wr_en", "wr_addr", "wr_data", "early", "early_iv")
            names += ("commit", "fill_active", "fill_slot", "fill_words", "cvalid", "cconn", "cbits")
            _, _, *values = await ctx.tick().sample(
                it.jobs.valid,
                it.jobs.ready,
                it.alloc,
                it.alloc_slot,
                it.wr_en,
                it.wr_addr,
                it.wr_data,
                it.early,
                it.early_iv,
                it.commit,
                it.fill_active,
                it.fill_slot,
                it.fill_words,
                cm.contexts.valid,
                cm.contexts.payload.conn_id,
                cm.contexts.payload.context.as_value(),
            )
            v = dict(zip(names, values, strict=True))
            valid, ready, alloc, aslot = v["valid"], v["ready"], v["alloc"], v["aslot"]
            wr_en, early, commit, fill_active = v["wr_en"], v["early"], v["commit"], v["fill_active"]
            cvalid, cconn, cbits = v["cvalid"], v["cconn"], v["cbits"]
            # `alloc` is a register: it names the slot the cycle after the frame's first word
            if awaiting_slot is not None:
                assert alloc, "no alloc the cycle after a frame's first word"
                awaiting_slot.slot = aslot
                awaiting_slot = None
            else:
                assert not alloc, "alloc without a frame's first word the cycle before"
            rec_now = record_dict(it.record, ctx) if (commit or early) else None
            if cvalid and cconn < CONNS:
                pending_ctx = (cconn, cbits)
            else:
                pending_ctx = None
            if valid and ready:
                if cur is None:
                    cur = Seen()
                    awaiting_slot = cur
                    seen.append(cur)
                    writes_seen = 0
                    active_since_early = False
                    # the context as of this clock edge (a write in the same cycle counts: the
                    # read is transparent)
                    snapshot = dict(ctx_state)
                    if pending_ctx is not None:
                        snapshot[pending_ctx[0]] = pending_ctx[1]
                    cur.ctx_at_first_word = snapshot
                cur.words += 1
            if pending_ctx is not None:
                ctx_state[pending_ctx[0]] = pending_ctx[1]
            if fill_active and cur is not None:
                assert v["fill_slot"] == cur.slot
                assert v["fill_words"] == writes_seen, f"fill_words {v['fill_words']}, {writes_seen} written"
            if active_since_early and cur is not None and not fill_active and cur.record is None:
                # cut-through: once the cipher may start, fill_* must cover the job until all its
                # data words are in (the frame's commit check below finds out how many there are)
                cur.early.append((-1, {"fill_dropped_after": writes_seen}))
            if wr_en:
                assert cur is not None and fill_active
                cur.writes.append((v["wr_addr"], v["wr_data"]))
                writes_seen += 1
            if early:
                assert cur is not None
                cur.early.append((v["early_iv"], rec_now))
                active_since_early = True
            if commit:
                assert cur is not None and not (valid and ready)
                cur.record = rec_now
                cur = None

    ctx_state: dict[int, int] = {}
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(context_writer)
    sim.add_testbench(frame_driver)
    sim.add_testbench(scheduler_model, background=True)
    sim.add_testbench(monitor, background=True)
    sim.run()
    return frames, seen


def check(frames: list[Frame], seen: list[Seen]) -> list[Status]:
    assert len(seen) == len(frames), f"{len(seen)} frames seen, {len(frames)} sent"
    statuses = []
    for f, s in zip(frames, seen, strict=True):
        assert s.words == len(f.words()), f"tag {f.tag}: {s.words} words taken of {len(f.words())}"
        assert s.record is not None, f"tag {f.tag}: no commit"
        ctx_bits = s.ctx_at_first_word.get(f.conn_id) if f.conn_id < CONNS else None
        ctx = unpack(ctx_bits) if ctx_bits is not None else None
        want = model(f, ctx)
        r = s.record
        statuses.append(want["status"])
        assert r["status"] == want["status"], f"tag {f.tag}: status {r['status']!r}, want {want['status']!r}"
        assert (r["slot"], r["op"], r["tag"], r["conn_id"], r["auth_len"]) == (
            s.slot,
            f.op,
            f.tag,
            f.conn_id,
            f.auth_len,
        ), f"tag {f.tag}: header fields"
        assert r["cipher_len"] == (0 if f.one_word else f.cipher_len)
        if want["header_ok"]:
            assert r["ctx_bits"] == ctx_bits, f"tag {f.tag}: context differs from the one at its first word"
            assert r["iv"] == want["iv"], f"tag {f.tag}: IV"
            icv = 0
            for w in want["icv"]:
                icv = icv << 64 | w
            assert r["icv"] == icv, f"tag {f.tag}: ICV"
            base = s.slot * SLOT_WORDS
            assert s.writes == [(base + i, w) for i, w in enumerate(want["data"])], f"tag {f.tag}: writes"
        else:
            assert s.writes == [], f"tag {f.tag}: a bad frame wrote the input buffer"
        earlies = [e for e in s.early if e[0] != -1]
        drops = [e for e in s.early if e[0] == -1]
        if want["early"] is None:
            assert earlies == [], f"tag {f.tag}: unexpected early"
        else:
            assert len(earlies) == 1, f"tag {f.tag}: {len(earlies)} early pulses"
            iv, rec = earlies[0]
            assert iv == want["early"]
            assert (rec["slot"], rec["op"], rec["auth_len"], rec["cipher_len"], rec["ctx_bits"]) == (
                s.slot,
                f.op,
                f.auth_len,
                f.cipher_len,
                ctx_bits,
            ), f"tag {f.tag}: record at early"
            n_data = -(-(f.auth_len + f.cipher_len) // 8)
            if drops:
                assert drops[0][1]["fill_dropped_after"] >= n_data or want["status"] is not Status.OK, (
                    f"tag {f.tag}: fill_active fell before all data words were in"
                )
    return statuses


def unpack(bits: int) -> Ctx:
    from hdl.layouts import unpack_context

    u = unpack_context(bits)
    return Ctx(u["valid"], u["inbound"], u["cipher"], u["auth"], int.from_bytes(u["des_key"], "big"))


@pytest.mark.parametrize(("seed", "idle", "busy"), [(1, 0.0, 0.0), (2, 0.3, 0.5), (3, 0.1, 0.2)])
def test_intake_random_frames_against_the_contract(seed, idle, busy):
    frames, seen = run_intake(seed, 150, idle=idle, busy=busy)
    statuses = check(frames, seen)
    # the mix exercised every outcome
    assert {Status.OK, Status.BAD_CONN, Status.BAD_OP, Status.BAD_LENGTH} <= set(statuses)
    assert sum(s is Status.OK for s in statuses) > 30


if __name__ == "__main__":
    from collections import Counter

    f, s = run_intake(1, 150, idle=0.0, busy=0.0)
    print(Counter(check(f, s)))
