"""Resident memory per pending interrupt in the memory store, measured in a fresh process."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def child(count: int) -> None:
    from bench.scale import load_memory
    from jeeves_control_tower.services import InterruptService

    service = InterruptService(sweep_interval=0)
    gc.collect()
    before = rss_bytes()
    load_memory(service, count, due=max(count // 100, 1))
    gc.collect()
    after = rss_bytes()
    print(json.dumps({"count": count, "rss_before": before, "rss_after": after}))


def measure(count: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.memory_rss", str(count)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    report = json.loads(out.strip().splitlines()[-1])
    report["bytes_per_interrupt"] = round((report["rss_after"] - report["rss_before"]) / count, 1)
    return report


if __name__ == "__main__":
    child(int(sys.argv[1]))
