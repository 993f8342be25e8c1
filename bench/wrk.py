"""Running wrk and reading its output.

Each load shape is a generated Lua script:
- `fixed`: the same request every time (method, path, headers, optional body);
- `rotate`: the same request to a path that cycles through names (`role/w<thread>-<k>`);
- `feed`: request bodies (or request paths) read from a file, one per line, each wrk thread
  taking every Nth line so no line is sent twice within a run as long as the file has more
  lines than the run sends. The script reports how often a thread wrapped around
  (`BENCH_WRAPS`), so a run that reused a line is flagged rather than silently counted.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass(slots=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    seconds: float
    non_2xx: int = 0
    socket_errors: int = 0
    wraps: int = 0
    raw: str = field(default="", repr=False)

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors

    def problem(self) -> str | None:
        """Why this run's numbers cannot be trusted as they are, or None."""
        parts = []
        if self.non_2xx:
            parts.append(f"{self.non_2xx} non-2xx responses")
        if self.socket_errors:
            parts.append(f"{self.socket_errors} socket errors")
        if self.wraps:
            parts.append("request feed exhausted (signed bodies reused)")
        return ", ".join(parts) or None


def lua_string(text: str) -> str:
    """A Lua long-bracket-free string literal for `text`."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 32 or ord(ch) > 126:
            out.extend(f"\\{b}" for b in ch.encode())
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _headers_lua(headers: dict[str, str]) -> str:
    return "\n".join(
        f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in sorted(headers.items())
    )


def fixed_script(method: str, headers: dict[str, str], body: str | None = None) -> str:
    lines = [f"wrk.method = {lua_string(method)}", _headers_lua(headers)]
    if body is not None:
        lines.append(f"wrk.body = {lua_string(body)}")
    return "\n".join(lines) + "\n"


_FEED_TEMPLATE = """
{headers}
local feed_file = {file}
local feed_method = {method}
local feed_path = {path}
local feed_is_path = {is_path}
local thread_count = {threads}
local next_id = 0
local all_threads = {{}}

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(all_threads, thread)
end

local items = {{}}
local count = 0
local pos = 0
wraps = 0

function init(args)
  local k = 0
  for line in io.lines(feed_file) do
    if k % thread_count == tid and #line > 0 then
      count = count + 1
      items[count] = line
    end
    k = k + 1
  end
  if count == 0 then error("empty feed " .. feed_file) end
end

function request()
  pos = pos + 1
  if pos > count then
    pos = 1
    wraps = wraps + 1
  end
  if feed_is_path then
    return wrk.format(feed_method, items[pos], nil, nil)
  end
  return wrk.format(feed_method, feed_path, nil, items[pos])
end

function done(summary, latency, requests)
  for _, t in ipairs(all_threads) do
    io.write(string.format("BENCH_WRAPS %d\\n", t:get("wraps") or 0))
  end
end
"""


_ROTATE_TEMPLATE = """
{fixed}
local path_prefix = {prefix}
local names = {names}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

local n = 0

function request()
  n = n + 1
  return wrk.format(nil, path_prefix .. tid .. "-" .. (n % names))
end
"""


def rotate_script(
    method: str, headers: dict[str, str], body: str | None, prefix: str, names: int
) -> str:
    """The same request to `<prefix><thread>-<k>`, k cycling through `names` values, so that
    no two in-flight requests target the same path (a thread has far fewer connections)."""
    return _ROTATE_TEMPLATE.format(
        fixed=fixed_script(method, headers, body), prefix=lua_string(prefix), names=names
    )


def feed_script(
    feed: Path, method: str, headers: dict[str, str], threads: int, *, path: str | None
) -> str:
    """Lines of `feed` are bodies sent to `path`, or, with `path=None`, the request paths."""
    return _FEED_TEMPLATE.format(
        headers=_headers_lua(headers),
        file=lua_string(str(feed)),
        method=lua_string(method),
        path=lua_string(path or "/"),
        is_path="true" if path is None else "false",
        threads=threads,
    )


def run_wrk(
    wrk: str,
    url: str,
    script: str,
    script_path: Path,
    *,
    threads: int,
    connections: int,
    duration: float,
    timeout: float = 10.0,
) -> WrkResult:
    script_path.write_text(script)
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={max(1, round(timeout))}s",
        "--latency",
        "-s",
        str(script_path),
        url,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}")
    return parse_wrk(proc.stdout)


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value)
    if match is None:
        raise ValueError(f"cannot read wrk duration {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(text: str) -> WrkResult:
    """Requests/sec, the 50% and 99% latency, totals and error counts from wrk's output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    total = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text, re.M)
    if rps is None or p50 is None or p99 is None or total is None:
        raise ValueError(f"unexpected wrk output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    wraps = sum(int(n) for n in re.findall(r"^BENCH_WRAPS (\d+)", text, re.M))
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=_ms(p50.group(1)),
        p99_ms=_ms(p99.group(1)),
        requests=int(total.group(1)),
        seconds=_ms(total.group(2) + total.group(3)) / 1000,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sock.groups()) if sock else 0,
        wraps=wraps,
        raw=text,
    )
