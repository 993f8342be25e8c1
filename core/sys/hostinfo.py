"""`GET sys/host-info`: the host's CPU, memory, disk and OS, in gopsutil's field names (as
Vault answers), read with psutil. A section that cannot be read is left out with a warning."""

from __future__ import annotations

import platform
import socket
import time
from typing import Any

from core.audit.record import rfc3339_nano
from core.framework.path import Request, Response


def _cpu(psutil: Any) -> list[dict[str, Any]]:
    freq = psutil.cpu_freq()
    model = ""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return [
        {
            "cpu": index,
            "modelName": model,
            "mhz": freq.current if freq else 0,
            "cores": 1,
        }
        for index in range(psutil.cpu_count() or 1)
    ]


def _cpu_times(psutil: Any) -> list[dict[str, Any]]:
    out = []
    for index, times in enumerate(psutil.cpu_times(percpu=True)):
        fields = times._asdict()
        entry: dict[str, Any] = {"cpu": f"cpu{index}"}
        for name in ("user", "system", "idle", "nice", "iowait", "irq", "softirq", "steal"):
            entry[name] = fields.get(name, 0.0)
        entry["guest"] = fields.get("guest", 0.0)
        entry["guestNice"] = fields.get("guest_nice", 0.0)
        out.append(entry)
    return out


def _disk(psutil: Any) -> list[dict[str, Any]]:
    usage = psutil.disk_usage("/")
    return [
        {
            "path": "/",
            "total": usage.total,
            "free": usage.free,
            "used": usage.used,
            "usedPercent": usage.percent,
        }
    ]


def _host(psutil: Any) -> dict[str, Any]:
    boot = int(psutil.boot_time())
    uname = platform.uname()
    return {
        "hostname": socket.gethostname(),
        "uptime": int(time.time()) - boot,
        "bootTime": boot,
        "procs": len(psutil.pids()),
        "os": uname.system.lower(),
        "platform": "",
        "kernelVersion": uname.release,
        "kernelArch": uname.machine,
    }


def _memory(psutil: Any) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    return {
        "total": memory.total,
        "available": memory.available,
        "used": memory.used,
        "usedPercent": memory.percent,
        "free": memory.free,
    }


async def host_info(req: Request[Any]) -> Response:
    import psutil

    data: dict[str, Any] = {}
    warnings: list[str] = []
    sections = {
        "cpu": _cpu,
        "cpu_times": _cpu_times,
        "disk": _disk,
        "host": _host,
        "memory": _memory,
    }
    for name, read in sections.items():
        try:
            data[name] = read(psutil)
        except (OSError, AttributeError, RuntimeError) as exc:
            warnings.append(f"{name}: {type(exc).__name__} reading host information")
    data["timestamp"] = rfc3339_nano(time.time())
    return Response(data=data, warnings=warnings)
