"""What a second wardgate node buys (`--storage postgresql`): lookup-self against node A alone,
then against nodes A and B at once, both on the same database, with the same total client
concurrency (two wrk runs of half the connections each, started together)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.report import Runs
from bench.wrk import WrkResult

# (url, connections) -> one measured wrk run of the configured duration
RunOne = Callable[[str, int], WrkResult]


@dataclass(slots=True)
class TwoNodes:
    alone: Runs = field(default_factory=Runs)  # node A alone, all connections
    a: Runs = field(default_factory=Runs)  # node A while B is loaded too
    b: Runs = field(default_factory=Runs)

    @property
    def together(self) -> float:
        return self.a.rps + self.b.rps


def measure(url_a: str, url_b: str, connections: int, rounds: int, run: RunOne) -> TwoNodes:
    result = TwoNodes()
    half = max(1, connections // 2)
    for _ in range(rounds):
        result.alone.rounds.append(run(url_a, connections))
        outcome: dict[str, WrkResult] = {}

        def one(name: str, url: str, into: dict[str, WrkResult] = outcome) -> None:
            into[name] = run(url, half)

        threads = [
            threading.Thread(target=one, args=("a", url_a)),
            threading.Thread(target=one, args=("b", url_b)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if set(outcome) != {"a", "b"}:
            raise RuntimeError("a wrk run against one of the two nodes failed")
        result.a.rounds.append(outcome["a"])
        result.b.rounds.append(outcome["b"])
    return result


def render(nodes: TwoNodes, connections: int) -> list[str]:
    def ms(value: float) -> str:
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"

    rows = [
        ("node A alone", connections, nodes.alone),
        ("node A, with B loaded at once", connections // 2, nodes.a),
        ("node B, with A loaded at once", connections // 2, nodes.b),
    ]
    out = [
        "**Two nodes** (PostgreSQL; lookup-self, non-root token; both nodes on one database):",
        "",
        "| setup | wrk -c | req/s | p50 / p99 (ms) |",
        "|---|---:|---:|---:|",
    ]
    for name, conns, runs in rows:
        problems = runs.problems()
        label = name + (" (" + "; ".join(problems) + ")" if problems else "")
        out.append(f"| {label} | {conns} | {runs.rps:,.0f} | {ms(runs.p50)} / {ms(runs.p99)} |")
    gain = nodes.together / nodes.alone.rps if nodes.alone.rps else 0.0
    out.append("")
    out.append(
        f"Two nodes together: {nodes.together:,.0f} req/s, {gain:.2f}x one node alone "
        "(same machine: the nodes, PostgreSQL and wrk share its cores)."
    )
    out.append("")
    return out
