"""rxpresence's performance benchmark: ratios against baselines run in the same process.

Usage::

    .venv/bin/python bench/run.py            # full run (U = 100, 10k, 100k), 2-3 minutes
    .venv/bin/python bench/run.py --quick    # tiny sizes, a few seconds (what the tests run)
    .venv/bin/python bench/run.py --rounds 9 --events 50000 --sizes 100,10000

Every timing figure is the median over rounds of a per-round ratio between runs made
in the same round, each from fresh state and after ``gc.collect()``; the order of the
runs rotates from round to round. Absolute times are printed for orientation only:
on a shared machine they move from minute to minute, the ratios much less.

Exit status: 0 when every target is met, 1 when one is missed (rows marked MISS).
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import (
    ConcurrencyResult,
    MemoryResult,
    SizeResult,
    TimerResult,
    measure_concurrency,
    measure_memory,
    measure_size,
    measure_timers,
)
from rich.console import Console
from rich.table import Table
from workload import Workload

REFERENCE_SIZE = 10_000


@dataclass
class Row:
    section: str
    measure: str
    size: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: informational

    @property
    def status(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "MISS")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: runs in seconds")
    parser.add_argument("--rounds", type=int, help="timing rounds per size (default 5)")
    parser.add_argument("--events", type=int, help="measured events per run (default 20000)")
    parser.add_argument("--sizes", help="comma-separated populations (default 100,10000,100000)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (2 if quick else 5)
    args.events = args.events or (1_000 if quick else 20_000)
    raw = args.sizes or ("100,1000" if quick else "100,10000,100000")
    try:
        args.sizes = sorted({int(s.replace("_", "")) for s in raw.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--sizes must be integers separated by commas, got {raw!r}")
    if not args.sizes or min(args.sizes) < 10:
        parser.error("--sizes: every population must be at least 10")
    if args.rounds < 1 or args.events < 100:
        parser.error("--rounds must be >= 1 and --events >= 100")
    return args


# Informational contenders timed against F1: what immutable snapshots cost at the least.
_FLOORS = (
    ("store", "minimal immutables.Map store / F1 (no checks, no ordering)"),
    ("write", "one Map lookup and write per event, nothing else / F1"),
)

# Informational listeners timed in the same SDK chain (see measure._time_sdk_chain).
_CHAIN_PEERS = (
    ("sdk+f1", "F1"),
    ("sdk+store", "the minimal immutables.Map store"),
    ("sdk+write", "one Map lookup and write per event, nothing else"),
)


def _naive_budget(size: int, events: int) -> int:
    # The copying pipeline is O(U) per event: give it fewer events at large U.
    return min(events, max(200, 30_000_000 // size))


def _reference(sizes: list[int]) -> int:
    return min(sizes, key=lambda u: abs(math.log(u / REFERENCE_SIZE)))


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _rows(
    sizes: list[int],
    results: dict[int, SizeResult],
    memory: MemoryResult,
    concurrency: ConcurrencyResult,
    timers: TimerResult,
    rounds: int,
) -> list[Row]:
    ref = _reference(sizes)
    rows: list[Row] = []
    sec = f"CPU per event, ratio to F1 (median of {rounds} rounds)"
    for size in sizes:
        res = results[size]
        is_ref = size == ref
        rows.append(
            Row(
                sec,
                "default roster path / F1",
                f"{size:,}",
                _x(res.median("hub")),
                "<= 3.0" if is_ref else "",
                res.median("hub") <= 3.0 if is_ref else None,
            )
        )
    for name, label in _FLOORS:
        for size in sizes:
            rows.append(Row(sec, label, f"{size:,}", _x(results[size].median(name))))
    for size in sizes:
        res = results[size]
        rows.append(
            Row(
                sec,
                "roster(channel, grace=5) / F1",
                f"{size:,}",
                _x(res.median("grace")),
            )
        )
    for size in sizes:
        res = results[size]
        rows.append(
            Row(
                sec,
                f"naive Rx pipeline / F1 ({res.naive_events:,} events)",
                f"{size:,}",
                _x(res.median("naive")),
            )
        )
    for size in sizes:
        res = results[size]
        is_ref = size == ref
        value = res.median("hub3/hub")
        rows.append(
            Row(
                sec,
                "3 subscribers / 1 subscriber",
                f"{size:,}",
                _x(value),
                "<= 1.5" if is_ref else "",
                value <= 1.5 if is_ref else None,
            )
        )
    small, large = min(sizes), max(sizes)
    if small != large:
        scale = results[large].median("hub") / results[small].median("hub")
        judged = small == 100 and large == 100_000
        rows.append(
            Row(
                sec,
                f"ratio at U={large:,} / ratio at U={small:,}",
                f"{small:,}->{large:,}",
                _x(scale),
                "<= 1.5" if judged else "",
                scale <= 1.5 if judged else None,
            )
        )
    sec = "CPU on top of the SDK's own cost (100-message responses)"
    for size in sizes:
        res = results[size]
        is_ref = size == ref
        added = res.median("sdk+rx/sdk") - 1
        rows.append(
            Row(
                sec,
                "SDK + rxpresence vs SDK alone (parsing and worker queue)",
                f"{size:,}",
                f"{added:+.0%}",
                "<= +35%" if is_ref else "",
                added <= 0.35 if is_ref else None,
            )
        )
        parse_only = res.median("parse+rx/parse") - 1
        rows.append(
            Row(
                sec,
                "  the same against the parsing alone (no queue)",
                f"{size:,}",
                f"{parse_only:+.0%}",
            )
        )
        for name, what in _CHAIN_PEERS:
            peer = res.median(f"{name}/sdk") - 1
            rows.append(Row(sec, f"  for comparison: SDK + {what}", f"{size:,}", f"{peer:+.0%}"))
    sec = "Memory (tracemalloc)"
    judged = memory.size == 100_000
    rows.append(
        Row(
            sec,
            "bytes per member (uuid, entry, trie)",
            f"{memory.size:,}",
            f"{memory.bytes_per_member:.0f} B",
            "<= 200 B" if judged else "",
            memory.bytes_per_member <= 200 if judged else None,
        )
    )
    for part, value in memory.breakdown.items():
        rows.append(Row(sec, f"  of which {part}", f"{memory.size:,}", f"{value:.0f} B"))
    rows.append(
        Row(
            sec,
            "kept by one extra snapshot (one member changed)",
            f"{memory.size:,}",
            f"{memory.snapshot_bytes:,} B",
            "<= 4 KiB" if judged else "",
            memory.snapshot_bytes <= 4096 if judged else None,
        )
    )
    sec = "Correctness under load"
    total = concurrency.threads * concurrency.per_thread
    rows.append(
        Row(
            sec,
            f"members lost, {concurrency.threads} threads feeding {total:,} joins",
            "",
            f"{concurrency.lost}",
            "0",
            concurrency.lost == 0,
        )
    )
    rows.append(
        Row(
            sec,
            "snapshots not growing by exactly one member",
            "",
            f"{concurrency.bad_snapshots}",
            "0",
            concurrency.bad_snapshots == 0,
        )
    )
    for size in sizes:
        bad = results[size].mismatches
        rows.append(
            Row(
                sec,
                "contenders end with the same users as F1",
                f"{size:,}",
                "yes" if not bad else "differ: " + ", ".join(bad),
                "yes",
                not bad,
            )
        )
    sec = f"Held timeouts with real timers (grace 60 s, median of {timers.rounds} rounds)"
    rows.append(
        Row(
            sec,
            "a thread per timer (TimeoutScheduler) / the hub's timer thread",
            f"{timers.held:,} held",
            _x(timers.ratio),
        )
    )
    rows.append(
        Row(
            sec,
            "per held timeout: hub's timer thread / a thread per timer",
            f"{timers.held:,} held",
            f"{timers.hub_us:.1f} / {timers.per_timer_us:.1f} us",
        )
    )
    rows.append(
        Row(
            sec,
            "new threads alive after the pushes: hub's timer thread / a thread per timer",
            f"{timers.held:,} held",
            f"{timers.hub_threads:,} / {timers.per_timer_threads:,}",
        )
    )
    sec = "Absolute, for orientation only (noisy: depends on the machine's load)"
    for size in sizes:
        res = results[size]
        f1 = res.per_event_median("f1")
        hub = res.per_event_median("hub")
        sdk = res.per_event_median("sdk")
        both = res.per_event_median("sdk+rx")
        rows.append(Row(sec, "F1 per event", f"{size:,}", f"{f1 * 1e6:.2f} us"))
        rows.append(
            Row(
                sec,
                "roster path per event (events/s on one core)",
                f"{size:,}",
                f"{hub * 1e6:.2f} us ({1 / hub:,.0f}/s)",
            )
        )
        rows.append(
            Row(
                sec,
                "SDK alone / SDK + rxpresence per message (messages/s)",
                f"{size:,}",
                f"{sdk * 1e6:.1f} / {both * 1e6:.1f} us ({1 / both:,.0f}/s)",
            )
        )
    return rows


def _table(rows: list[Row]) -> Table:
    table = Table(show_lines=False, expand=False)
    table.add_column("Measure")
    table.add_column("U", justify="right")
    table.add_column("Result", justify="right")
    table.add_column("Target", justify="right")
    table.add_column("Status")
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            table.add_section()
            table.add_row(f"[bold]{section}[/bold]", "", "", "", "")
        style = {"PASS": "green", "MISS": "bold red"}.get(row.status, "")
        status = f"[{style}]{row.status}[/{style}]" if style else row.status
        table.add_row(row.measure, row.size, row.value, row.target, status)
    return table


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    out = Console(width=max(110, Console().width), highlight=False)
    err = Console(stderr=True, highlight=False)
    started = time.perf_counter()
    results: dict[int, SizeResult] = {}
    for size in args.sizes:
        err.print(f"[dim]building workload U={size:,} ...[/dim]")
        work = Workload.build(size, args.events)
        results[size] = measure_size(
            work,
            args.rounds,
            _naive_budget(size, args.events),
            lambda msg: err.print(f"[dim]{msg}[/dim]"),
        )
        del work
    err.print(f"[dim]memory at U={max(args.sizes):,} ...[/dim]")
    memory = measure_memory(max(args.sizes))
    err.print("[dim]concurrent feeds ...[/dim]")
    concurrency = measure_concurrency(min(args.events, 20_000))
    err.print("[dim]held timeouts with real timers ...[/dim]")
    timers = measure_timers(200 if args.quick else 2_000, args.rounds)
    rows = _rows(args.sizes, results, memory, concurrency, timers, args.rounds)

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out.print(
        f"rxpresence benchmark, {now}; Python {platform.python_version()}, "
        f"{platform.machine()}, {_cores()} cores; {args.events:,} events per run, "
        f"{args.rounds} rounds, sizes {', '.join(f'{s:,}' for s in args.sizes)}"
    )
    out.print(_table(rows))
    judged = [r for r in rows if r.ok is not None]
    missed = [r for r in judged if not r.ok]
    out.print(
        f"targets: {len(judged) - len(missed)} passed, {len(missed)} missed "
        f"({time.perf_counter() - started:.0f} s)"
    )
    for row in missed:
        out.print(f"MISS: {row.measure} (U={row.size}): {row.value}, target {row.target}")
    return 1 if missed else 0


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
