"""``make bench``: run every benchmark script in this folder, one after another."""

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROBE_ADDITIONS = 10_000_000


def speed_probe() -> float:
    """Seconds for a fixed pure-Python loop: figures from machines (or moments) whose probes differ are not
    comparable as they stand; the ratios each benchmark prints are."""
    start = time.perf_counter()
    total = 0
    for number in range(PROBE_ADDITIONS):
        total += number
    return time.perf_counter() - start


def report_probe(when: str) -> None:
    probe = min(speed_probe() for _ in range(3))
    print(f"(speed probe {when}: {PROBE_ADDITIONS:,} Python additions in {probe:.2f} s, best of 3; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)", flush=True)


def main() -> int:
    report_probe("before")
    failed = 0
    # ocr_accuracy.py measures what issue 12 promises: planted identifiers found in scans and faxes;
    # walkthrough.py counts issue 16's staff walkthrough in page loads and fields typed.
    for script in [*sorted(HERE.glob("bench_*.py")), HERE / "ocr_accuracy.py", HERE / "walkthrough.py"]:
        print(f"== {script.stem} ==", flush=True)
        failed += subprocess.run([sys.executable, str(script)], cwd=HERE.parent).returncode != 0
    report_probe("after")   # a shared machine's speed drifts within a run
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
