"""``make bench``: run every benchmark script in this folder, one after another."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = 0
    # ocr_accuracy.py measures what issue 12 promises: planted identifiers found in scans and faxes;
    # walkthrough.py counts issue 16's staff walkthrough in page loads and fields typed.
    for script in [*sorted(HERE.glob("bench_*.py")), HERE / "ocr_accuracy.py", HERE / "walkthrough.py"]:
        print(f"== {script.stem} ==", flush=True)
        failed += subprocess.run([sys.executable, str(script)], cwd=HERE.parent).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
