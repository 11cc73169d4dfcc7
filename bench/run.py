"""The jeeves benchmark. Every figure is printed beside its floor, measured in the same run.

    .venv/bin/python -m bench                 # the full run (1,000,000 stored; a few minutes)
    .venv/bin/python -m bench --quick         # reduced sizes, seconds
    .venv/bin/python -m bench --only roundtrip,wake

PostgreSQL: JEEVES_BENCH_PG_DSN (default postgresql://postgres@127.0.0.1:5432/test); the run
uses its own schema `jeeves_bench`, recreated at the start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import floors, memory_rss, scale, wake
from bench.roundtrip import round_trips
from bench.stats import Timing

SECTIONS = ("roundtrip", "wake", "scale", "memory")
RESULTS = Path(__file__).resolve().parent / "results"


def pg_dsn() -> str:
    base = os.environ.get("JEEVES_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    return base + ("&" if "?" in base else "?") + "search_path=jeeves_bench"


async def reset_pg_schema() -> None:
    import asyncpg

    base = os.environ.get("JEEVES_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    connection = await asyncpg.connect(base)
    try:
        await connection.execute("DROP SCHEMA IF EXISTS jeeves_bench CASCADE")
        await connection.execute("CREATE SCHEMA jeeves_bench")
    finally:
        await connection.close()


def row(label: str, timing: Timing, floor: float | None = None) -> list[str]:
    ratio = f"{timing.per_second / floor:.2f}x" if floor else ""
    return [label, f"{timing.per_second:,.0f}/s", f"{timing.p50_ms:.3f}", f"{timing.p99_ms:.3f}", ratio]


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from jeeves_control_tower.store.postgres import PostgresDatabase
    from jeeves_control_tower.store.sqlite import SQLiteDatabase

    quick = args.quick
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    workdir = Path(tempfile.mkdtemp(prefix="jeeves-bench-"))
    dsn = pg_dsn()
    await reset_pg_schema()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "mode": "quick" if quick else "full",
    }
    n_mem, n_sqlite, n_pg = (2_000, 1_000, 300) if quick else (50_000, 10_000, 3_000)

    if "roundtrip" in only:
        floor_dict = floors.dict_floor(n_mem)
        floor_sqlite = floors.sqlite_floor(workdir / "floor.db", n_sqlite)
        floor_pg = await floors.postgres_floor(dsn, n_pg)
        measured: dict[str, tuple[Timing, int]] = {
            "memory, 1 agent": await round_trips(None, n_mem, 1),
            "memory, 16 agents": await round_trips(None, n_mem, 16),
            "sqlite, 1 agent": await round_trips(SQLiteDatabase(workdir / "rt1.db"), n_sqlite, 1),
            "sqlite, 16 agents": await round_trips(SQLiteDatabase(workdir / "rt16.db"), n_sqlite, 16),
            "postgres, 1 agent": await round_trips(PostgresDatabase(dsn), n_pg, 1),
            "postgres, 16 agents": await round_trips(PostgresDatabase(dsn, max_size=16), n_pg * 2, 16),
        }
        floor_for = {"memory": floor_dict, "sqlite": floor_sqlite, "postgres": floor_pg}
        rows = [row("floor: dict insert + update", floor_dict), row("floor: sqlite3 INSERT + UPDATE", floor_sqlite),
                row("floor: asyncpg INSERT + UPDATE", floor_pg)]
        rows += [row(label, timing, floor_for[label.split(",")[0]].per_second) for label, (timing, _) in measured.items()]
        print_table("Round trip: create_clarification + respond (ratio = rate / same-run sequential floor)",
                    ["", "rate", "p50 ms", "p99 ms", "vs floor"], rows)
        results["roundtrip"] = {
            "floors": {"dict": floor_dict.as_dict(), "sqlite3": floor_sqlite.as_dict(), "asyncpg": floor_pg.as_dict()},
            "measured": {
                label: {**timing.as_dict(), "resolved": resolved,
                        "ratio_to_floor": round(timing.per_second / floor_for[label.split(",")[0]].per_second, 3)}
                for label, (timing, resolved) in measured.items()
            },
        }

    if "wake" in only:
        count = 50 if quick else 500
        wakes = {
            "in-process, memory": await wake.in_process(None, count),
            "in-process, sqlite": await wake.in_process(SQLiteDatabase(workdir / "wake.db"), count),
            "in-process, postgres": await wake.in_process(PostgresDatabase(dsn), count),
            "across processes, postgres": await wake.across_processes_postgres(dsn, count // 2),
        }
        print_table("Wake latency: respond returns -> wait_for_response returns (targets p99: 1 ms in-process, 10 ms across processes)",
                    ["", "p50 ms", "p99 ms"], [[k, f"{t.p50_ms:.3f}", f"{t.p99_ms:.3f}"] for k, t in wakes.items()])
        results["wake"] = {k: t.as_dict() for k, t in wakes.items()}

    if "scale" in only:
        stored = 20_000 if quick else 1_000_000
        due = min(scale.DUE, stored // 10)
        probes = 200 if quick else 1_000
        outcomes = {}
        for kind in ("memory", "sqlite", "postgres"):
            if kind == "postgres":
                await reset_pg_schema()
            outcomes[kind] = await scale.scale(kind, stored, due, probes, workdir, dsn)
        print_table(f"Scale: {stored:,} stored ({due:,} due later); targets: list p99 < 2 ms, expire {due:,} due < 1 s",
                    ["", "session p99 ms", "request p99 ms", "expire none due ms", f"expire {due:,} due s"],
                    [[k, f"{r.session_query.p99_ms:.3f}", f"{r.request_query.p99_ms:.3f}",
                      f"{r.expire_nothing_due_seconds * 1000:.3f}", f"{r.expire_due_seconds:.3f}"] for k, r in outcomes.items()])
        results["scale"] = {k: r.as_dict() for k, r in outcomes.items()}

    if "memory" in only:
        count = 20_000 if quick else 1_000_000
        report = memory_rss.measure(count)
        print(f"\nMemory store: {report['bytes_per_interrupt']:,.0f} bytes of RSS per pending interrupt "
              f"({count:,} held; target < 1,500)")
        results["memory"] = report

    print("\nHTTP (respond through `jeeves serve`): not measured, the HTTP server does not exist yet.")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="reduced sizes: seconds, not minutes")
    parser.add_argument("--only", help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.output}")
