"""The benchmark's results and their markdown rendering (stdout and bench/README.md)."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from bench.wrk import WrkResult

README = Path(__file__).resolve().parent / "README.md"
START_MARK = "<!-- bench:results:start -->"
END_MARK = "<!-- bench:results:end -->"


@dataclass(slots=True)
class Runs:
    """The measured rounds of one server on one workload; each figure is the median over the
    rounds (the mean for two), so one round disturbed by another program counts less."""

    rounds: list[WrkResult] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.rounds) if self.rounds else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(r.p50_ms for r in self.rounds) if self.rounds else 0.0

    @property
    def p99(self) -> float:
        return statistics.median(r.p99_ms for r in self.rounds) if self.rounds else 0.0

    def problems(self) -> list[str]:
        return [f"round {i}: {p}" for i, r in enumerate(self.rounds, 1) if (p := r.problem())]


@dataclass(slots=True)
class Comparison:
    key: str
    title: str
    min_ratio: float | None  # wardgate/OpenBao requests/s must reach this
    p99_no_worse: bool  # wardgate p99 <= OpenBao p99
    wardgate: Runs = field(default_factory=Runs)
    openbao: Runs = field(default_factory=Runs)
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.wardgate.rps / self.openbao.rps if self.openbao.rps else 0.0

    def target_text(self) -> str:
        parts = []
        if self.min_ratio is not None:
            parts.append(f"≥ {self.min_ratio:g}x req/s")
        if self.p99_no_worse:
            parts.append("p99 ≤ OpenBao")
        return ", ".join(parts) or "(none)"

    def met(self) -> bool | None:
        if self.min_ratio is None and not self.p99_no_worse:
            return None
        ok = True
        if self.min_ratio is not None:
            ok = ok and self.ratio >= self.min_ratio
        if self.p99_no_worse:
            ok = ok and self.wardgate.p99 <= self.openbao.p99
        return ok


@dataclass(slots=True)
class LoginLatency:
    """Login at one connection: wardgate, the emulator alone, OpenBao AppRole."""

    wardgate: Runs = field(default_factory=Runs)
    emulator: Runs = field(default_factory=Runs)
    openbao: Runs = field(default_factory=Runs)
    emulator_loaded: Runs = field(default_factory=Runs)  # the emulator alone, full load

    # The emulator's own round trip is taken from its fastest round, not the median: one
    # disturbed emulator round (seen: p99 22 ms against 0.7 ms in the other) would otherwise
    # be subtracted from wardgate's figure and make its overhead look smaller, even negative.
    # This way the overhead can only be overstated.

    @property
    def overhead_p50(self) -> float:
        return self.wardgate.p50 - min((r.p50_ms for r in self.emulator.rounds), default=0.0)

    @property
    def overhead_p99(self) -> float:
        return self.wardgate.p99 - min((r.p99_ms for r in self.emulator.rounds), default=0.0)


@dataclass(slots=True)
class ScalePoint:
    tokens: int
    runs: Runs
    rss_bytes: int
    fill_seconds: float


@dataclass(slots=True)
class Report:
    date: str
    machine: str
    command: str
    setup: list[str]
    comparisons: list[Comparison] = field(default_factory=list)
    login: LoginLatency | None = None
    scale: list[ScalePoint] = field(default_factory=list)
    scale_requested: list[int] = field(default_factory=list)
    memory: dict[str, int] = field(default_factory=dict)
    fallback: str = ""
    notes: list[str] = field(default_factory=list)
    # Lines of extra sections (e.g. bench/two_nodes.py), rendered before the notes.
    sections: list[str] = field(default_factory=list)


def _yes(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**NO**")


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _mb(value: int) -> str:
    return f"{value / 1e6:.0f} MB"


def tokens_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}K"
    return str(n)


def render(report: Report) -> str:
    out: list[str] = []
    out.append(f"Measured {report.date} on {report.machine}.")
    out.append("")
    out.append(f"Command: `{report.command}`")
    out.append("")
    out.extend(f"- {line}" for line in report.setup)
    out.append("")
    if report.fallback:
        out.append(f"> **FALLBACK REPORT:** {report.fallback}")
        out.append("")
    out.append(
        "| workload | wardgate req/s | OpenBao req/s | ratio | wardgate p50 / p99 (ms) "
        "| OpenBao p50 / p99 (ms) | target | met? |"
    )
    out.append("|---|---:|---:|---:|---:|---:|---|---|")
    footnotes: list[str] = []
    for c in report.comparisons:
        title = c.title
        problems = [f"wardgate {p}" for p in c.wardgate.problems()]
        problems += [f"OpenBao {p}" for p in c.openbao.problems()]
        if problems or c.note:
            footnotes.append(f"{c.title}: " + "; ".join([*([c.note] if c.note else []), *problems]))
            title += f" [{len(footnotes)}]"
        out.append(
            f"| {title} | {c.wardgate.rps:,.0f} | {c.openbao.rps:,.0f} | {c.ratio:.2f}x "
            f"| {_ms(c.wardgate.p50)} / {_ms(c.wardgate.p99)} "
            f"| {_ms(c.openbao.p50)} / {_ms(c.openbao.p99)} | {c.target_text()} | {_yes(c.met())} |"
        )
    out.append("")
    for i, text in enumerate(footnotes, 1):
        out.append(f"[{i}] {text}")
    if footnotes:
        out.append("")

    if report.login is not None:
        lg = report.login
        ok = lg.overhead_p99 < 3.0
        out.append(
            f"**Login overhead** (one connection; wardgate login minus the emulator's own round "
            f"trip): p50 {_ms(lg.overhead_p50)} ms, p99 {_ms(lg.overhead_p99)} ms — target p99 "
            f"< 3 ms: {_yes(ok)}. wardgate login p50/p99 {_ms(lg.wardgate.p50)}/"
            f"{_ms(lg.wardgate.p99)} ms ({lg.wardgate.rps:,.0f} req/s); the emulator alone "
            f"{_ms(lg.emulator.p50)}/{_ms(lg.emulator.p99)} ms ({lg.emulator.rps:,.0f} req/s; "
            f"{lg.emulator_loaded.rps:,.0f} req/s at full load); OpenBao AppRole login "
            f"{_ms(lg.openbao.p50)}/{_ms(lg.openbao.p99)} ms ({lg.openbao.rps:,.0f} req/s)."
        )
        problems = [
            f"{name} {p}"
            for name, runs in (
                ("wardgate", lg.wardgate),
                ("emulator", lg.emulator),
                ("OpenBao", lg.openbao),
                ("emulator (full load)", lg.emulator_loaded),
            )
            for p in runs.problems()
        ]
        if problems:
            out.append("")
            out.append("Problems in the login latency runs: " + "; ".join(problems))
        out.append("")

    if report.memory:
        parts = [f"{name} {_mb(value)}" for name, value in report.memory.items()]
        out.append("Server memory (RSS, all processes) after the load above: " + ", ".join(parts))
        out.append("")

    if report.scale:
        out.append(
            "**Scale** (wardgate alone; lookup-self with a non-root token among N live tokens):"
        )
        out.append("")
        out.append(
            "| live tokens | lookup-self req/s | p50 (ms) | p99 (ms) | RSS (all processes) |"
        )
        out.append("|---:|---:|---:|---:|---:|")
        for point in report.scale:
            label = tokens_label(point.tokens)
            problems = point.runs.problems()
            if problems:
                label += " (" + "; ".join(problems) + ")"
            out.append(
                f"| {label} | {point.runs.rps:,.0f} | {_ms(point.runs.p50)} "
                f"| {_ms(point.runs.p99)} | {_mb(point.rss_bytes)} |"
            )
        out.append("")
        out.extend(_scale_targets(report))
        out.append("")
    out.extend(report.sections)
    for note in report.notes:
        out.append(f"- {note}")
    return "\n".join(out).rstrip() + "\n"


def _scale_targets(report: Report) -> list[str]:
    by_n = {p.tokens: p for p in report.scale}
    small = by_n.get(1000)
    big = by_n.get(1_000_000)
    if big is None:
        largest = max(by_n)
        lines = [
            f"Targets at 1M tokens (p50 within 10% of 1K, RSS < 200 MB): not measured in this run "
            f"(largest: {tokens_label(largest)}; run with `--scale 1k,100k,1m`)."
        ]
        if small is not None and largest != 1000:
            top = by_n[largest]
            change = (top.runs.p50 / small.runs.p50 - 1) * 100 if small.runs.p50 else 0.0
            lines.append(
                f"At {tokens_label(largest)}: p50 {change:+.0f}% vs 1K, RSS {_mb(top.rss_bytes)}."
            )
        return lines
    lines = []
    if small is not None and small.runs.p50:
        change50 = (big.runs.p50 / small.runs.p50 - 1) * 100
        change99 = (big.runs.p99 / small.runs.p99 - 1) * 100 if small.runs.p99 else 0.0
        lines.append(
            f"Lookup latency at 1M vs 1K: p50 {change50:+.1f}%, p99 {change99:+.1f}% — target "
            f"p50 within 10%: {_yes(change50 <= 10)}."
        )
    lines.append(
        f"RSS at 1M: {_mb(big.rss_bytes)} — target < 200 MB: {_yes(big.rss_bytes < 200e6)}."
    )
    return lines


def update_readme(text: str, path: Path = README) -> None:
    """Replace the "Latest results" block of bench/README.md (between the markers)."""
    current = path.read_text() if path.exists() else ""
    block = f"{START_MARK}\n{text}{END_MARK}"
    if START_MARK in current and END_MARK in current:
        pattern = re.compile(re.escape(START_MARK) + r".*?" + re.escape(END_MARK), re.S)
        updated = pattern.sub(lambda _: block, current, count=1)
    else:
        updated = current.rstrip() + "\n\n## Latest results\n\n" + block + "\n"
    path.write_text(updated)
