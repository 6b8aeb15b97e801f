"""Size checks run before a big allocation or a long Python loop: refuse what cannot fit, naming the argument.

``require(nbytes, ...)`` raises ValueError when nbytes > FRACTION x ``available()``; ``require_steps(steps, ...)``
when it would take more than MAX_STEPS steps of about 10 us (a Python loop iteration: a layer, a keyed draw,
a call; or a block of vectorised work), minutes; ``affordable`` gives the advice, how many items would fit.
"""

from __future__ import annotations

import os
import resource
import time

import torch

FRACTION = 0.8  # share of the available memory one request may take
MAX_STEPS = 10**7  # steps of ~10 us (a Python loop iteration, or a block of vectorised work) a request may take
SYSTEM_TTL = 0.5  # seconds a reading of the system's free memory is reused
_system: tuple[float, list[int]] = (-float("inf"), [])  # (when, what) _system_free read last


def _read_int(path: str, field: str | None = None) -> int | None:
    """The integer in a /proc or /sys file (kB fields of /proc/meminfo as bytes), None if absent or "max"."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    if field is None:
        return int(text) if text.strip().isdigit() else None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            value, *unit = line.split(":", 1)[1].split()
            return int(value) * (1024 if unit == ["kB"] else 1)
    return None


def _system_free() -> list[int]:
    """MemAvailable (/proc/meminfo) and the cgroup limit minus its usage, where known; read from the files at
    most every SYSTEM_TTL seconds (a read costs about 100 us, more than the small requests it would guard)."""
    global _system
    now = time.monotonic()
    if now - _system[0] > SYSTEM_TTL:
        bounds = [_read_int("/proc/meminfo", "MemAvailable")]
        for cgroup, limit, usage in (("/sys/fs/cgroup/", "memory.max", "memory.current"),
                                     ("/sys/fs/cgroup/memory/", "memory.limit_in_bytes", "memory.usage_in_bytes")):
            cap = _read_int(cgroup + limit)
            if cap is not None:
                bounds.append(cap - (_read_int(cgroup + usage) or 0))
        _system = (now, [b for b in bounds if b is not None])
    return _system[1]


def available(device=None) -> int:
    """Bytes a new allocation may take: free memory of a CUDA ``device``; else the least of MemAvailable
    (/proc/meminfo), the cgroup limit minus its usage (both as read at most SYSTEM_TTL seconds ago), and
    RLIMIT_AS minus this process's VmSize; os.sysconf's free pages where none of these is known."""
    device = torch.device("cpu" if device is None else device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    bounds = list(_system_free())
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    if soft != resource.RLIM_INFINITY:
        bounds.append(soft - (_read_int("/proc/self/status", "VmSize") or 0))
    if not bounds:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return max(0, min(bounds))


def human(nbytes: float) -> str:
    """``nbytes`` in decimal units, 3 significant digits: 1.28e11 -> '128 GB'."""
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1000


def affordable(item_bytes: float, device=None) -> int:
    """How many items of ``item_bytes`` each fit in FRACTION x available(device)."""
    return int(FRACTION * available(device) // max(item_bytes, 1))


def require(nbytes: int, what: str, argument: str, advice: str, device=None) -> None:
    """Raise ValueError "<argument> needs about <nbytes> for <what>, more than 80% of the <available> available;
    <advice>" when nbytes > FRACTION x available(device)."""
    free = available(device)
    if nbytes > FRACTION * free:
        raise ValueError(f"{argument} needs about {human(nbytes)} for {what}, more than {FRACTION:.0%} of the "
                         f"{human(free)} available; {advice}")


def require_steps(steps: int, what: str, argument: str, advice: str) -> None:
    """Raise ValueError when ``what`` takes more than MAX_STEPS steps of about 10 us."""
    if steps > MAX_STEPS:
        raise ValueError(f"{argument} needs about {steps:.3g} steps (Python loop iterations or blocks of vectorised "
                         f"work) for {what}, more than the {MAX_STEPS:.0e} allowed (about {steps * 1e-5 / 60:.3g} "
                         f"minutes at 10 us a step); {advice}")
