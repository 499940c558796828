"""The benchmark's table: rows of per-round values, judged on their median.

A row holds one value per round (a ratio measured within the round, most often) and is
printed as its median with its spread (the smallest and largest value). Its kind says
how it is judged:

* ``target``: a figure the project set out to reach;
* ``guard``: a figure met with room today, kept so that it does not regress;
* ``check``: a correctness count that must be exactly met;
* ``info``: printed for orientation, never judged.

Targets, guards and checks pass when the median is at most the limit; any miss makes
the run exit with status 1. A timing row whose largest round is more than
:data:`WIDE` times its smallest is marked: the machine was too busy for that row to be
trusted, and the run should be repeated on a quiet machine.
"""

from __future__ import annotations

import os
import platform
import statistics
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from rich.table import Table

WIDE = 1.5  # max/min of a timing row's rounds above which it is marked
KINDS = ("target", "guard", "check", "info")


@dataclass
class Row:
    """One printed figure.

    Attributes:
        section: The heading it is printed under.
        measure: What it measures.
        where: The population or sizes it was measured at.
        values: One value per round (or a single value).
        show: Formats a value for printing.
        kind: One of :data:`KINDS`.
        limit: The largest median that passes (None for ``info``).
        limit_text: How the limit is printed.
        timed: Whether the values are timings (only those can have a wide spread).
        text: Printed instead of the median (e.g. "yes"), if set.
    """

    section: str
    measure: str
    where: str
    values: list[float]
    show: Callable[[float], str]
    kind: str = "info"
    limit: float | None = None
    limit_text: str = ""
    timed: bool = True
    text: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if (self.kind == "info") != (self.limit is None):
            raise ValueError(f"{self.measure!r}: a limit goes with a judged kind, and only there")
        if not self.values:
            raise ValueError(f"{self.measure!r}: no values")

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def wide(self) -> bool:
        """Whether the rounds disagree too much to trust the median (timings only)."""
        low, high = min(self.values), max(self.values)
        if not self.timed or len(self.values) < 2 or low <= 0:
            return False
        return high / low > WIDE

    @property
    def ok(self) -> bool | None:
        """PASS (True), MISS (False), or None for ``info``."""
        return None if self.limit is None else self.median <= self.limit

    @property
    def status(self) -> str:
        return {None: "", True: "PASS", False: "MISS"}[self.ok]

    def spread_text(self) -> str:
        if len(self.values) < 2:
            return ""
        spread = f"{self.show(min(self.values))} - {self.show(max(self.values))}"
        return spread + " !" if self.wide else spread


def ratio(value: float) -> str:
    return f"{value:.2f}x"


def added_percent(value: float) -> str:
    """A ratio shown as what it adds: 1.24 -> "+24%"."""
    return f"{value - 1:+.0%}"


def added_times(value: float) -> str:
    """A ratio shown as what it adds, in units of the base: 1.85 -> "+0.85x"."""
    return f"{value - 1:+.2f}x"


def byte_count(value: float) -> str:
    return f"{value:,.0f} B"


def micros(value: float) -> str:
    return f"{value * 1e6:.2f} us"


def millis(value: float) -> str:
    return f"{value * 1e3:.2f} ms"


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def count(value: float) -> str:
    return f"{value:,.0f}"


def table(rows: list[Row], width: int) -> Table:
    out = Table(show_lines=False, expand=False, width=width)
    out.add_column("Measure", ratio=5)
    out.add_column("U", justify="right")
    out.add_column("Median", justify="right")
    out.add_column("Spread (min - max)", justify="right")
    out.add_column("Limit", justify="right")
    out.add_column("Kind")
    out.add_column("Status")
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            out.add_section()
            out.add_row(f"[bold]{section}[/bold]", "", "", "", "", "", "")
        style = {"PASS": "green", "MISS": "bold red"}.get(row.status, "")
        status = f"[{style}]{row.status}[/{style}]" if style else row.status
        value = row.text if row.text is not None else row.show(row.median)
        spread = row.spread_text()
        if row.wide:
            spread = f"[yellow]{spread}[/yellow]"
        kind = "" if row.kind == "info" else row.kind
        out.add_row(row.measure, row.where, value, spread, row.limit_text, kind, status)
    return out


def markdown(rows: list[Row]) -> str:
    """The rows as a Markdown table (for ``docs/performance.md``), sections in bold."""
    lines = [
        "| Measure | U | Median | Spread (min - max) | Limit | Kind | Status |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            lines.append(f"| **{section}** | | | | | | |")
        value = row.text if row.text is not None else row.show(row.median)
        kind = "" if row.kind == "info" else row.kind
        cells = [row.measure.strip(), row.where, value, row.spread_text(), row.limit_text]
        cells = [cell.replace("|", "\\|") for cell in cells]
        lines.append("| " + " | ".join([*cells, kind, row.status]) + " |")
    return "\n".join(lines) + "\n"


# -- the machine ------------------------------------------------------------------------


def cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> tuple[float, float, float]:
    """The load average over 1, 5 and 15 minutes (zeros where unknown)."""
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def describe_machine() -> str:
    """Cores, CPU, OS, Python (and how it was built) and the versions that matter."""
    config = sysconfig.get_config_var("CONFIG_ARGS") or ""
    pgo = "with" if "--enable-optimizations" in config else "without"
    versions = ", ".join(
        f"{name} {_version(name)}" for name in ("rxpresence", "pubnub", "reactivex", "immutables")
    )
    return (
        f"{cores()} cores ({cpu_model()}, {platform.machine()}), {platform.system()}; "
        f"{platform.python_implementation()} {platform.python_version()} "
        f"({pgo} profile-guided optimisation); {versions}"
    )


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def describe_load(when: str, values: tuple[float, float, float]) -> str:
    one, five, fifteen = values
    return f"load average {when}: {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def warnings_for(
    rows: list[Row], loads: list[tuple[float, float, float]], ncores: int
) -> list[str]:
    """The warnings to print under the table (empty on a quiet machine)."""
    out = []
    busiest = max((sample[0] for sample in loads), default=0.0)
    if busiest > ncores:
        out.append(
            f"the 1-minute load average reached {busiest:.2f} during the run, above the "
            f"{ncores} cores: other work competed for the CPU. Rerun on a quiet machine "
            "before trusting these figures."
        )
    wide = [row for row in rows if row.wide]
    judged = [row for row in wide if row.ok is not None]
    if wide:
        names = "".join(f"\n  - {row.measure.strip()} (U={row.where})" for row in judged)
        judged_text = f", {len(judged)} of them judged:{names}\n" if judged else " (none judged). "
        out.append(
            f"{len(wide)} row(s) marked ! have rounds more than {WIDE}x apart{judged_text}"
            "Rerun on a quiet machine before trusting them."
        )
    return out


def exit_status(rows: list[Row]) -> int:
    """1 when a target, guard or check is missed, else 0."""
    return 1 if any(row.ok is False for row in rows) else 0
