"""Render a results JSON as the Markdown tables of bench/RESULTS.md, each figure beside its target.

    .venv/bin/python -m bench.report bench/results/latest.json > bench/RESULTS.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.store_sql import SEED_INDEXES_ONLY

# label in the round-trip table -> (floor it is compared with, target ratio to that floor)
ROUND_TRIP_TARGETS = {
    "memory, 1 agent": ("dict", None),
    "memory, 16 agents": ("dict", None),
    "sqlite, 1 agent": ("sqlite3_journalled", 0.5),
    "sqlite, 16 agents": ("sqlite3_journalled", 1.0),
    "postgres, 1 agent": ("asyncpg", 0.5),
    "postgres, 16 agents": ("asyncpg", 2.5),
}
MEMORY_STORE_TARGET = 50_000  # round trips per second, sequential
#: The default configuration (its logger writing a JSON line per transition) against a quiet one.
DEFAULT_OVER_QUIET_TARGET = 0.9
#: HTTP respond against the same server's GET /healthz: rate, and p99 at most this many times.
HTTP_RATE_TARGET, HTTP_P99_TARGET = 0.7, 2.0
WAKE_TARGETS_MS = {"in-process": 1.0, "in-process under load": 2.0, "across processes": 10.0}


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def round_trip_section(results: dict[str, Any]) -> str:
    floors = results["floors"]
    rows = [
        [name, f"{floors[key]['per_second']:,.0f}", f"{floors[key]['p50_ms']:.3f}", f"{floors[key]['p99_ms']:.3f}", "", ""]
        for key, name in (
            ("dict", "floor: dict insert + update"),
            ("sqlite3", "floor: sqlite3 INSERT + UPDATE, WAL, synchronous=NORMAL"),
            ("sqlite3_journalled", "floor: sqlite3, journalled (each write with its journal row, in one"
                                   " commit; the seed's indexes only)"),
            ("asyncpg", "floor: asyncpg INSERT + UPDATE, one connection"),
        )
        if key in floors
    ]
    quiet = results.get("quiet", {})
    for label, measured in results["measured"].items():
        floor_name, target = ROUND_TRIP_TARGETS[label]
        ratio = measured["ratio_to_floor"]
        versus = f"{ratio:.2f}x {floor_name}"
        goals = []
        if floor_name == "sqlite3_journalled":
            journalled = measured["ratio_to_journalled"]
            versus = f"{ratio:.2f}x sqlite3, {journalled:.2f}x journalled"
            goals.append(f"≥ {target}x journalled: {verdict(journalled >= target)}")
        elif target is not None:
            goals.append(f"≥ {target}x floor: {verdict(ratio >= target)}")
        elif label.endswith("1 agent"):
            goals.append(f"≥ {MEMORY_STORE_TARGET:,}/s: {verdict(measured['per_second'] >= MEMORY_STORE_TARGET)}")
        if label in quiet:
            of_quiet = quiet[label]["default_over_quiet"]
            goals.append(f"{of_quiet:.2f}x quiet (≥ {DEFAULT_OVER_QUIET_TARGET}x: "
                         f"{verdict(of_quiet >= DEFAULT_OVER_QUIET_TARGET)})")
        rows.append([label, f"{measured['per_second']:,.0f}", f"{measured['p50_ms']:.3f}", f"{measured['p99_ms']:.3f}",
                     versus, "; ".join(goals)])
    for label, reference in quiet.items():
        rows.append([f"reference: {label}, quiet logger", f"{reference['per_second']:,.0f}",
                     f"{reference['p50_ms']:.3f}", f"{reference['p99_ms']:.3f}", "", ""])
    for label, reference in results.get("store_sql", {}).items():
        rows.append([f"reference: the SQLite store's SQL alone, {label}", f"{reference['per_second']:,.0f}",
                     f"{reference['p50_ms']:.3f}", f"{reference['p99_ms']:.3f}",
                     f"{reference['ratio_to_floor']:.2f}x sqlite3",
                     "(no target: the ceiling of a store indexed for the seed's queries alone)"
                     if label.endswith(SEED_INDEXES_ONLY) else "(no target: the schema's ceiling)"])
    text = table(["round trip", "per second", "p50 ms", "p99 ms", "vs floor", "target"], rows)
    frames = results.get("sqlite_wal_frames")
    if frames:
        text += (
            f"\n\nSQLite WAL frames (pages) each commit writes: create {frames['jeeves']['create']},"
            f" respond {frames['jeeves']['respond']}; the floor's INSERT {frames['floor']['create']},"
            f" UPDATE {frames['floor']['respond']} (`python -m bench.wal_frames`)."
        )
    return text


def wake_section(results: dict[str, Any]) -> str:
    rows = []
    for label, timing in results.items():
        kind = ("across processes" if label.startswith("across")
                else "in-process under load" if label.endswith("loading") else "in-process")
        target = WAKE_TARGETS_MS[kind]
        rows.append([label, f"{timing['p50_ms']:.3f}", f"{timing['p99_ms']:.3f}",
                     f"p99 < {target:g} ms: {verdict(timing['p99_ms'] < target)}"])
    return table(["wake: commit heard by the responder → wait_for_response returns", "p50 ms", "p99 ms", "target"], rows)


def scale_section(results: dict[str, Any]) -> str:
    rows = []
    for kind, r in results.items():
        session, request = r["get_pending_for_session"]["p99_ms"], r["get_pending_for_request"]["p99_ms"]
        p50s = f"{r['get_pending_for_session']['p50_ms']:.3f} / {r['get_pending_for_request']['p50_ms']:.3f}"
        list_ok = session < 2 and request < 2
        nothing_target = 0.1 if kind == "memory" else None
        rows.append([
            kind, f"{r['stored']:,}", p50s, f"{session:.3f}", f"{request:.3f}", f"{r['expire_nothing_due_ms']:.3f}",
            f"{r['expire_due_seconds']:.3f} ({r['expired']:,})",
            "; ".join(filter(None, [
                f"list p99 < 2 ms: {verdict(list_ok)}",
                f"expire due < 1 s: {verdict(r['expire_due_seconds'] < 1)}",
                f"nothing due < 0.1 ms: {verdict(r['expire_nothing_due_ms'] < nothing_target)}" if nothing_target else "",
            ])),
        ])
    return table(["store", "stored", "session / request p50 ms", "session p99 ms", "request p99 ms",
                  "expire, none due, p99 ms",
                  "expire due, s (count)", "targets"], rows)


def render(results: dict[str, Any]) -> str:
    parts = [f"Measured {results['date']} on {results['machine']} ({results['mode']} run).", ""]
    if "roundtrip" in results:
        parts += ["### Round trip: `create_clarification` + `respond` through `InterruptService`", "",
                  "The headline rows are the default configuration, `InterruptService(db=...)` with its"
                  " StructuredLogger writing a JSON line per transition to a file; the quiet-logger rows"
                  " are the reference.", "",
                  round_trip_section(results["roundtrip"]), ""]
    if "wake" in results:
        parts += ["### Wake latency", "", wake_section(results["wake"]), ""]
    if "scale" in results:
        parts += ["### Scale", "", scale_section(results["scale"]), ""]
    if "memory" in results:
        per = results["memory"]["bytes_per_interrupt"]
        parts += ["### Memory store", "",
                  f"{per:,.0f} bytes of RSS per pending interrupt with {results['memory']['count']:,} held "
                  f"(target < 1,500: {verdict(per < 1500)}).", ""]
    if "http" in results:
        rows = []
        for kind, r in results["http"].items():
            floor = r["floor_healthz"]
            rows.append([f"floor: GET /healthz ({kind} server)", f"{floor['per_second']:,.0f}",
                         f"{floor['p50_ms']:.3f}", f"{floor['p99_ms']:.3f}", ""])
            p99_ratio = r["p99_ms"] / floor["p99_ms"]
            rows.append([f"respond, {kind}", f"{r['per_second']:,.0f}", f"{r['p50_ms']:.3f}", f"{r['p99_ms']:.3f}",
                         f"{r['ratio_to_floor']:.2f}x (≥ {HTTP_RATE_TARGET}x: "
                         f"{verdict(r['ratio_to_floor'] >= HTTP_RATE_TARGET)}); p99 {p99_ratio:.1f}x"
                         f" (≤ {HTTP_P99_TARGET:g}x: {verdict(p99_ratio <= HTTP_P99_TARGET)})"])
        clients = next(iter(results["http"].values()))["clients"]
        parts += [f"### HTTP: `POST /v1/interrupts/{{id}}/respond` through `jeeves serve`, {clients} keep-alive "
                  "clients on loopback", "",
                  table(["", "requests per second", "p50 ms", "p99 ms", "vs floor"], rows), ""]
    return "\n".join(parts)


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results" / "latest.json"
    print(render(json.loads(source.read_text())))
