"""Batch throughput with 1 and 2 local workers, the scaling ratio, and peak memory per worker (issue 7).

The manifest holds copies of the example case (examples/lake-street) under
different case ids. Throughput is packets built divided by the batch's wall
time, which includes validating the manifest and starting the pool, as a user
would see it. Peak memory is the largest peak resident set (VmHWM) of any pool
worker process, sampled from /proc while the batch runs.

Also a whole ``packetizer batch`` process on the same 40 cases with 2 workers, start-up included
(issue 13), before the pool is warm, and the CPU time the machine was busy for during that run, per
packet (for information: a rate of R packets/s on N cores leaves at most N/R CPU seconds per packet;
read from /proc/stat, since the pool's fork server is not a child the batch process waits for, so
the batch's own accounting misses its workers; other processes on the machine count too).

Targets on the 2-core reference machine: >= 6 packets/s for the whole process (issue 13); >= 4
packets/s with 2 workers, 2 workers >= 1.8x one worker, <= 300 MB per worker (issue 7).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from packetizer.batch import run_batch  # noqa: E402

CASES = int(os.environ.get("BENCH_BATCH_CASES", "40"))
TODAY = dt.date(2026, 10, 6)
TARGET_RATE = 4.0
TARGET_CLI_RATE = 6.0        # issue 13: a `packetizer batch` process of 40 cases, 2 workers, start-up included
TARGET_SCALING = 1.8
TARGET_WORKER_MB = 300


def make_manifest(root: Path, cases: int) -> Path:
    """A JSONL manifest of ``cases`` copies of the example case, beside a copy of its notes."""
    shutil.copytree(REPO / "examples" / "lake-street", root / "lake-street")
    base = yaml.safe_load((REPO / "examples" / "lake-street" / "case.yaml").read_text())
    lines = []
    for n in range(cases):
        case = json.loads(json.dumps(base, default=str))
        case["case_id"] = f"BENCH-{n:04d}"
        case["attachments"] = [dict(a, file=f"lake-street/{a['file']}") for a in case["attachments"]]
        lines.append(json.dumps(case))
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


class WorkerMemory:
    """Samples the peak RSS (VmHWM) of the pool workers: the children of our fork server."""

    def __init__(self) -> None:
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "WorkerMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for pid in _pool_workers(os.getpid()):
                peak = _vm_hwm(pid)
                if peak:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), peak)

    @property
    def peak_mb(self) -> float:
        return max(self.peaks.values(), default=0) / 1024 / 1024


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _pool_workers(me: int) -> list[int]:
    tree = _children()
    workers = []
    for child in tree.get(me, []):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"forkserver" in cmdline:
            workers += tree.get(child, [])
    return workers


def _vm_hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measure(manifest: Path, out: Path, workers: int) -> tuple[float, float, int]:
    """(packets per second, peak MB per worker, packets built)."""
    with WorkerMemory() as memory:
        report = run_batch(manifest, out_dir=out, workers=workers, today=TODAY)
    if report.failed:
        first = next(r for r in report.rows if r.status == "failed")
        raise SystemExit(f"bench batch failed: {first.error}")
    return report.built / report.elapsed, memory.peak_mb, report.built


def cli_batch(manifest: Path, out: Path) -> tuple[float, float]:
    """Packets per second of a whole `packetizer batch` process with 2 workers, start-up included, and the CPU
    seconds per packet the machine was busy for meanwhile."""
    before = _busy_cpu_seconds()
    start = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).with_name("packetizer")), "batch", str(manifest), "--out", str(out),
                           "--workers", "2", "--today", TODAY.isoformat()], capture_output=True, text=True)
    wall = time.perf_counter() - start
    busy = _busy_cpu_seconds() - before
    if done.returncode != 0:
        raise SystemExit(f"bench batch (CLI) failed: {done.stderr[-500:]}")
    return CASES / wall, busy / CASES


def _busy_cpu_seconds() -> float:
    """The CPU time every CPU of the machine has spent not idle since boot (/proc/stat: all but idle and
    iowait)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        manifest = make_manifest(tmp, CASES)
        cli_rate, cli_cpu = cli_batch(manifest, tmp / "cli")
        run_batch(make_manifest(tmp / "warm", 2), out_dir=tmp / "warm-out", workers=2, today=TODAY)  # fork server up
        one_rate, one_mb, built = measure(manifest, tmp / "one", 1)
        two_rate, two_mb, _ = measure(manifest, tmp / "two", 2)
    scaling = two_rate / one_rate
    print(f"{'workers':>7} {'packets/s':>10} {'peak MB/worker':>15}   ({built} copies of the example case)")
    print(f"{1:>7} {one_rate:>10.2f} {one_mb:>15.0f}")
    print(f"{2:>7} {two_rate:>10.2f} {two_mb:>15.0f}")
    print(f"scaling 2 vs 1 workers: {scaling:.2f}x")
    print(f"`packetizer batch`, 2 workers, whole process (start-up included): {cli_rate:.2f} packets/s")
    cores = os.cpu_count() or 1
    print(f"  CPU time the machine was busy for, per packet, start-up included: {cli_cpu:.2f} s "
          f"({TARGET_CLI_RATE:g} packets/s on {cores} CPUs leaves at most {cores / TARGET_CLI_RATE:.2f} s)")
    checks = [
        (f">= {TARGET_CLI_RATE} packets/s for the whole process", cli_rate >= TARGET_CLI_RATE),
        (f">= {TARGET_RATE} packets/s with 2 workers", two_rate >= TARGET_RATE),
        (f"2 workers >= {TARGET_SCALING}x one", scaling >= TARGET_SCALING),
        (f"<= {TARGET_WORKER_MB} MB per worker", max(one_mb, two_mb) <= TARGET_WORKER_MB),
    ]
    print("targets: " + "; ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
