"""Channel-ready output (issue 19): the cost of splitting a 480-page packet and of its fax TIFF, against the build.

The case is the example case plus five typed logs (60, 80, 90, 120 and 126 pages: 485 pages in all), for the
demo payer, whose fax takes 100 pages and 25 MB a file. Warm, in this process, one run each:

1. the build with the channel's limits lifted (one 485-page packet): the reference;
2. the build with them (the packet written in parts), and within it the time spent cutting and writing the
   parts (``split_submission``: the cover sheets, the parts' assembly) and the extra proof;
3. ``export --format fax-tiff`` of every part (rendering, thresholding and Group 4 compression).

Each is printed as seconds and as a ratio to the reference build.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import packetizer.parts as parts  # noqa: E402
from packetizer.caseio import load_case  # noqa: E402
from packetizer.exports.fax import fax_tiff  # noqa: E402
from packetizer.pipeline import build_packet  # noqa: E402
from packetizer.policy import load_payer  # noqa: E402
from tests.support.channel_cases import case_with, typed_pdf  # noqa: E402

TODAY = dt.date(2026, 10, 6)
LOGS = (60, 80, 90, 120, 126)


def main() -> int:
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)", flush=True)
    with tempfile.TemporaryDirectory(prefix="pktz-bench-channel-") as tmp:
        root = Path(tmp)
        case_path = case_with(root, [(f"log-{n}.pdf", typed_pdf(n, f"Log{n}")) for n in LOGS])
        case = load_case(case_path)
        policy = load_payer(case.payer_id)
        unlimited = dataclasses.replace(policy, max_pages=None, max_file_mb=None)
        build_packet(case, unlimited, out_dir=root / "warm", today=TODAY)          # warm: fonts, templates

        start = time.perf_counter()
        whole = build_packet(case, unlimited, out_dir=root / "whole", today=TODAY)
        reference = time.perf_counter() - start

        spent = []
        original = parts.split_submission

        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent.append(time.perf_counter() - began)

        parts.split_submission = timed
        try:
            start = time.perf_counter()
            split = build_packet(case, policy, out_dir=root / "parts", today=TODAY)
            in_parts = time.perf_counter() - start
        finally:
            parts.split_submission = original

        start = time.perf_counter()
        for path in split.paths:
            fax_tiff(path.read_bytes())
        tiff = time.perf_counter() - start

    print(f"{'figure':52}{'seconds':>9}{'ratio':>8}")
    print(f"{'build, limits lifted (' + str(whole.pages) + ' pages, one file)':52}{reference:9.2f}{1:8.2f}")
    print(f"{'build in parts (' + str(len(split.parts)) + ' parts within 100 pages / 25 MB)':52}{in_parts:9.2f}"
          f"{in_parts / reference:8.2f}")
    print(f"{'  of which cutting and writing the parts':52}{sum(spent):9.2f}{sum(spent) / reference:8.2f}")
    pages = sum(p.pages for p in split.parts)
    print(f"{'fax TIFF of every part (' + str(pages) + ' pages)':52}{tiff:9.2f}{tiff / reference:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
