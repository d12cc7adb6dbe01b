"""The end-of-run summary: per flow, packets sent, delivered and dropped (with the reasons), the
replies, and round-trip times; as a table for people and as the ``summary`` event for scripts."""

from __future__ import annotations

from typing import Any

from .lab import LabResult
from .ledger import FlowTally

__all__ = ["summary_event", "summary_text"]


def _rtt(t: FlowTally) -> dict[str, float] | None:
    if not t.rtts:
        return None
    return {
        "min_ms": round(min(t.rtts) * 1000, 3),
        "avg_ms": round(sum(t.rtts) / len(t.rtts) * 1000, 3),
        "max_ms": round(max(t.rtts) * 1000, 3),
    }


def summary_event(result: LabResult) -> dict[str, Any]:
    """The ``summary`` event: ``flows`` (name -> counts), ``expectations_failed``, totals."""
    flows = {}
    for name, spec in result.specs.items():
        t, r = result.flows[name], result.replies[name]
        flows[name] = {
            "protocol": spec.protocol,
            "from": spec.src,
            "to": spec.dst,
            "sent": t.sent,
            "delivered": t.delivered,
            "dropped": t.dropped,
            "drop_reasons": t.reasons,
            "replies_sent": r.sent,
            "replies_delivered": r.delivered,
            "replies_dropped": r.dropped,
            "reply_drop_reasons": r.reasons,
            "rtt": _rtt(r),
            "expect": spec.expect,
        }
    return {
        "event": "summary",
        "time": round(result.end_time, 9),
        "flows": flows,
        "esp_sas": len(result.esp_sas),
        "captures": [str(p) for p in result.captures],
        "expectations_failed": result.expectation_failures(),
    }


def summary_text(result: LabResult) -> str:
    """The summary table and notes, as ``esa lab run`` prints them."""
    lines = [f"--- summary at t={result.end_time:.3f}s ---"]
    head = (
        f"{'flow':<16} {'proto':<5} {'sent':>5} {'deliv':>5} {'drop':>5}  {'replies':>13}  rtt min/avg/max ms"
    )
    lines.append(head)
    for name, spec in result.specs.items():
        t, r = result.flows[name], result.replies[name]
        replies = f"{r.delivered}/{r.sent}" if r.sent or spec.reply else "-"
        rtt = _rtt(r)
        rtt_text = f"{rtt['min_ms']:.3f}/{rtt['avg_ms']:.3f}/{rtt['max_ms']:.3f}" if rtt else "-"
        lines.append(
            f"{name:<16} {spec.protocol:<5} {t.sent:>5} {t.delivered:>5} {t.dropped:>5}  "
            f"{replies:>13}  {rtt_text:<22}"
        )
        for reason, n in sorted({**t.reasons}.items()):
            lines.append(f"{'':<16}   dropped {n}: {reason}")
        for reason, n in sorted(r.reasons.items()):
            lines.append(f"{'':<16}   reply dropped {n}: {reason}")
    if result.captures:
        lines.append("captures: " + ", ".join(str(p) for p in result.captures))
        lines.append(f"ESP SAs for Wireshark: {len(result.esp_sas)} (in esp_sa)")
    failures = result.expectation_failures()
    for f in failures:
        lines.append(f"EXPECTATION FAILED: {f}")
    if not failures and any(s.expect for s in result.specs.values()):
        lines.append("all expectations met")
    return "\n".join(line.rstrip() for line in lines) + "\n"
