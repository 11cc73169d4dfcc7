"""The jeeves benchmark. Every figure is printed beside its floor, measured in the same run.

    .venv/bin/python -m bench                 # the full run (1,000,000 stored; a few minutes)
    .venv/bin/python -m bench --quick         # reduced sizes, seconds
    .venv/bin/python -m bench --only roundtrip,wake   # sections: roundtrip, wake, scale, memory, http
    .venv/bin/python -m bench.report > bench/RESULTS.md   # the Markdown tables, each beside its target

PostgreSQL: JEEVES_BENCH_PG_DSN (default postgresql://postgres@127.0.0.1:5432/test); the run
uses its own schema `jeeves_bench`, recreated at the start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import floors, http_serve, memory_rss, scale, store_sql, wake, wal_frames
from bench.roundtrip import round_trips
from bench.stats import Timing

SECTIONS = ("roundtrip", "wake", "scale", "memory", "http")
RESULTS = Path(__file__).resolve().parent / "results"
HTTP_CLIENTS = 16
PG_BASE = os.environ.get("JEEVES_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Sizes:
    """How much work each section does. FULL is the documented run; 1,000,000 stored only there."""

    name: str
    memory_round_trips: int
    sqlite_round_trips: int
    postgres_round_trips: int
    wakes: int
    stored: int
    probes: int
    memory_held: int
    http_requests: int = 0
    rounds: int = 1


FULL = Sizes("full", 50_000, 10_000, 3_000, 500, 1_000_000, 1_000, 1_000_000, 3_000, rounds=3)
QUICK = Sizes("quick", 2_000, 1_000, 300, 50, 20_000, 200, 20_000, 300)


def pg_dsn(schema: str) -> str:
    return PG_BASE + ("&" if "?" in PG_BASE else "?") + f"search_path={schema}"


async def reset_pg_schema(schema: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_BASE)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.execute(f'CREATE SCHEMA "{schema}"')
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


async def run(sizes: Sizes, only: set[str], workdir: Path, schema: str = "jeeves_bench") -> dict[str, Any]:
    """Run the selected sections, print their tables, return everything measured.

    PostgreSQL work happens in `schema`, dropped and recreated first.
    """
    from jeeves_control_tower.store.postgres import PostgresDatabase
    from jeeves_control_tower.store.sqlite import SQLiteDatabase

    dsn = pg_dsn(schema)
    await reset_pg_schema(schema)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "mode": sizes.name,
    }
    n_mem, n_sqlite, n_pg = sizes.memory_round_trips, sizes.sqlite_round_trips, sizes.postgres_round_trips

    if "roundtrip" in only:
        # The machine is shared: each floor and each measurement runs `rounds` times, interleaved,
        # and the best of each is kept (the run least disturbed by other load). Every round
        # uses fresh files, so no round benefits from an earlier one's data.
        floor_runs: dict[str, list[Timing]] = {"dict": [], "sqlite3": [], "sqlite3_journalled": [], "asyncpg": []}
        # Not a floor: the SQLite store's own write functions on a bare connection (bench/store_sql.py),
        # which shows how much of the gap to the sqlite3 floor is the schema's SQL itself; then the
        # same on a schema with only the indexes the seed's queries use, the least such a store writes.
        store_sql_runs: dict[str, list[Timing]] = {}
        store_sql_checks: dict[str, dict[str, int]] = {}
        measured_runs: dict[str, list[tuple[Timing, int, int]]] = {}
        quiet_runs: dict[str, list[tuple[Timing, int, int]]] = {}
        log_file = open(workdir / "service.log", "w")  # noqa: SIM115 (closed after the section)
        for r in range(sizes.rounds):
            if r:
                await reset_pg_schema(schema)  # like the files: no round inherits an earlier one's rows
            floor_runs["dict"].append(floors.dict_floor(n_mem))
            floor_runs["sqlite3"].append(floors.sqlite_floor(workdir / f"floor{r}.db", n_sqlite))
            floor_runs["sqlite3_journalled"].append(
                floors.sqlite_journalled_floor(workdir / f"floor-journalled{r}.db", n_sqlite))
            floor_runs["asyncpg"].append(await floors.postgres_floor(dsn, n_pg))
            for seed_indexes_only in (False, True):
                for per_commit in (1, 16):
                    label = store_sql.label(per_commit, seed_indexes_only)
                    sql_timing, sql_resolved, sql_events = await store_sql.store_sql(
                        workdir / f"sql{per_commit}-{seed_indexes_only}-{r}.db", n_sqlite, per_commit,
                        seed_indexes_only=seed_indexes_only)
                    store_sql_runs.setdefault(label, []).append(sql_timing)
                    store_sql_checks[label] = {"resolved": sql_resolved, "journal_events": sql_events}
            # The headline: the default configuration (a JSON log line per transition); then the
            # same with a quiet logger. Interleaved, so both meet the same machine.
            for runs, log_to, tag in ((measured_runs, log_file, "d"), (quiet_runs, None, "q")):
                for label, db, count, agents in (
                    ("memory, 1 agent", None, n_mem, 1),
                    ("memory, 16 agents", None, n_mem, 16),
                    ("sqlite, 1 agent", SQLiteDatabase(workdir / f"rt1-{tag}{r}.db"), n_sqlite, 1),
                    ("sqlite, 16 agents", SQLiteDatabase(workdir / f"rt16-{tag}{r}.db"), n_sqlite, 16),
                    ("postgres, 1 agent", PostgresDatabase(dsn), n_pg, 1),
                    ("postgres, 16 agents", PostgresDatabase(dsn, max_size=16), n_pg * 2, 16),
                ):
                    runs.setdefault(label, []).append(await round_trips(db, count, agents, log_to=log_to))
        log_file.close()
        default_log_lines = len((workdir / "service.log").read_text().splitlines())
        floor_dict, floor_sqlite, floor_journalled, floor_pg = (
            max(floor_runs[k], key=lambda t: t.per_second)
            for k in ("dict", "sqlite3", "sqlite3_journalled", "asyncpg"))
        measured = {label: max(runs, key=lambda m: m[0].per_second) for label, runs in measured_runs.items()}
        quiet = {label: max(runs, key=lambda m: m[0].per_second) for label, runs in quiet_runs.items()}
        floor_for = {"memory": floor_dict, "sqlite": floor_sqlite, "postgres": floor_pg}

        def measured_row(label: str, timing: Timing, reference: Timing | None = None) -> list[str]:
            store = label.split(",", maxsplit=1)[0]
            journalled = f"{timing.per_second / floor_journalled.per_second:.2f}x" if store == "sqlite" else ""
            of_quiet = f"{timing.per_second / reference.per_second:.2f}x" if reference else ""
            return [*row(label, timing, floor_for[store].per_second), journalled, of_quiet]

        rows = [[*row(name, timing), "", ""] for name, timing in (
            ("floor: dict insert + update", floor_dict), ("floor: sqlite3 INSERT + UPDATE", floor_sqlite),
            ("floor: sqlite3, journalled", floor_journalled), ("floor: asyncpg INSERT + UPDATE", floor_pg))]
        rows += [measured_row(label, timing, quiet[label][0]) for label, (timing, _, _) in measured.items()]
        rows += [measured_row(f"{label}, quiet logger", timing) for label, (timing, _, _) in quiet.items()]
        store_sql_best = {k: max(v, key=lambda t: t.per_second) for k, v in store_sql_runs.items()}
        rows += [[*row(f"reference: the SQLite store's SQL alone, {k}", t, floor_sqlite.per_second),
                  f"{t.per_second / floor_journalled.per_second:.2f}x", ""]
                 for k, t in store_sql_best.items()]
        print_table("Round trip: create_clarification + respond, as a user gets it (default logger, JSON lines to"
                    " a file), then with a quiet logger (ratios: rate / same-run sequential floor)",
                    ["", "rate", "p50 ms", "p99 ms", "vs floor", "vs journalled", "default/quiet"], rows)
        frames = await wal_frames.measure(workdir)
        print(f"\nSQLite WAL frames (pages written) per commit: jeeves create {frames['jeeves']['create']},"
              f" respond {frames['jeeves']['respond']}; floor INSERT {frames['floor']['create']},"
              f" UPDATE {frames['floor']['respond']}")
        results["roundtrip"] = {
            "sqlite_wal_frames": frames,
            "default_log_lines": default_log_lines,
            "rounds": sizes.rounds,
            "all_rounds_per_second": {**{k: [round(t.per_second) for t in v] for k, v in floor_runs.items()},
                                      **{k: [round(m[0].per_second) for m in v] for k, v in measured_runs.items()},
                                      **{f"{k}, quiet": [round(m[0].per_second) for m in v]
                                         for k, v in quiet_runs.items()},
                                      **{f"store's SQL, {k}": [round(t.per_second) for t in v]
                                         for k, v in store_sql_runs.items()}},
            "floors": {"dict": floor_dict.as_dict(), "sqlite3": floor_sqlite.as_dict(),
                       "sqlite3_journalled": floor_journalled.as_dict(), "asyncpg": floor_pg.as_dict()},
            "store_sql": {
                k: {**t.as_dict(), **store_sql_checks[k],
                                    "ratio_to_floor": round(t.per_second / floor_sqlite.per_second, 3)}
                for k, t in store_sql_best.items()
            },
            "measured": {
                label: {**timing.as_dict(), "resolved": resolved, "journal_events": events,
                        "ratio_to_floor": round(timing.per_second / floor_for[label.split(",")[0]].per_second, 3),
                        **({"ratio_to_journalled": round(timing.per_second / floor_journalled.per_second, 3)}
                           if label.startswith("sqlite") else {})}
                for label, (timing, resolved, events) in measured.items()
            },
            "quiet": {
                label: {**timing.as_dict(), "resolved": resolved, "journal_events": events,
                        "default_over_quiet": round(measured[label][0].per_second / timing.per_second, 3)}
                for label, (timing, resolved, events) in quiet.items()
            },
        }

    if "wake" in only:
        count = sizes.wakes
        wakes = {
            "in-process, memory": await wake.in_process(None, count),
            "in-process, sqlite": await wake.in_process(SQLiteDatabase(workdir / "wake.db"), count),
            "in-process, postgres": await wake.in_process(PostgresDatabase(dsn), count),
            "in-process, sqlite, 16 agents loading": await wake.in_process(
                SQLiteDatabase(workdir / "wake-loaded.db"), count, load_agents=16),
            "in-process, postgres, 16 agents loading": await wake.in_process(
                PostgresDatabase(dsn, max_size=16), count, load_agents=16),
            "across processes, postgres": await wake.across_processes_postgres(dsn, count // 2),
        }
        print_table("Wake latency: commit heard by the responder -> wait_for_response returns (targets p99: 1 ms in-process, 2 ms in-process under load, 10 ms across processes)",
                    ["", "p50 ms", "p99 ms"], [[k, f"{t.p50_ms:.3f}", f"{t.p99_ms:.3f}"] for k, t in wakes.items()])
        results["wake"] = {k: t.as_dict() for k, t in wakes.items()}

    if "scale" in only:
        stored = sizes.stored
        due = min(scale.DUE, stored // 10)
        probes = sizes.probes
        outcomes = {}
        for kind in ("memory", "sqlite", "postgres"):
            if kind == "postgres":
                await reset_pg_schema(schema)
            outcomes[kind] = await scale.scale(kind, stored, due, probes, workdir, dsn)
        print_table(f"Scale: {stored:,} stored ({due:,} due later); targets: list p99 < 2 ms, expire {due:,} due < 1 s",
                    ["", "session p99 ms", "request p99 ms", "expire none due p99 ms", f"expire {due:,} due s"],
                    [[k, f"{r.session_query.p99_ms:.3f}", f"{r.request_query.p99_ms:.3f}",
                      f"{r.expire_nothing_due.p99_ms:.3f}", f"{r.expire_due_seconds:.3f}"] for k, r in outcomes.items()])
        results["scale"] = {k: r.as_dict() for k, r in outcomes.items()}

    if "memory" in only:
        count = sizes.memory_held
        report = memory_rss.measure(count)
        print(f"\nMemory store: {report['bytes_per_interrupt']:,.0f} bytes of RSS per pending interrupt "
              f"({count:,} held; target < 1,500)")
        results["memory"] = report

    if "http" in only:
        await reset_pg_schema(schema)
        rates = {
            "sqlite": await http_serve.respond_rate(str(workdir / "http.db"), SQLiteDatabase(workdir / "http.db"),
                                                    sizes.http_requests, HTTP_CLIENTS),
            "postgres": await http_serve.respond_rate(dsn, PostgresDatabase(dsn), sizes.http_requests, HTTP_CLIENTS),
        }
        print_table(f"HTTP: POST /v1/interrupts/{{id}}/respond through `jeeves serve`, {HTTP_CLIENTS} keep-alive clients on loopback",
                    ["", "rate", "p50 ms", "p99 ms", "vs floor"],
                    [r for k, (t, _, floor) in rates.items()
                     for r in (row(f"floor: GET /healthz ({k} server)", floor), row(f"respond, {k}", t, floor.per_second))])
        results["http"] = {k: {**t.as_dict(), "resolved": resolved, "clients": HTTP_CLIENTS,
                               "floor_healthz": floor.as_dict(), "ratio_to_floor": round(t.per_second / floor.per_second, 3)}
                           for k, (t, resolved, floor) in rates.items()}
    return results


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="reduced sizes: seconds, not minutes")
    parser.add_argument("--only", help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    workdir = Path(tempfile.mkdtemp(prefix="jeeves-bench-"))
    try:
        results = asyncio.run(run(QUICK if args.quick else FULL, only, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.output}")
