"""Speed of the denial worklist (issue 17): a 10,000-claim X12 835 imported in at most 5 s.

1. **In process**: ``read_remittance`` + ``worklist`` on a generated 10,000-claim remittance (ten
   transaction sets of 1,000 claims, one to three service lines each, a mix of retro, eligibility, coding
   and paid claims), best of three warm runs and the first (cold) one.
2. **The whole command**: one ``packetizer era import FILE.835 --json`` process (interpreter start,
   imports, the payer registry, reading, triage and printing the JSON), its wall time and peak resident
   memory.

Target (issue 17): the whole command <= 5 s; peak memory is reported.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from packetizer.era import read_remittance, worklist  # noqa: E402
from packetizer.policy import load_registry  # noqa: E402
from tests.support.era835 import Claim, Line, Transaction, remittance  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from peakrss import run_measured  # noqa: E402

CLAIMS = 10_000
SETS = 10
TODAY = dt.date(2026, 10, 20)
TARGET_SECONDS = 5.0
WARM_RUNS = 3

# (claim-level CAS, line CAS, remarks, status, paid)
MIX = [
    ([], [("CO", "197", "180.00")], ("N54",), "4", "0"),
    ([], [("CO", "27", "180.00")], (), "4", "0"),
    ([], [("CO", "16", "180.00")], ("M51",), "4", "0"),
    ([("CO", "45", "20.00")], [("PR", "2", "10.00")], (), "1", "150.00"),
]


def generate(claims: int = CLAIMS, sets: int = SETS) -> bytes:
    rng = random.Random(17)
    txns = []
    per_set = claims // sets
    for s in range(sets):
        batch = []
        for i in range(per_set):
            claim_cas, line_cas, remarks, status, paid = MIX[rng.randrange(len(MIX))]
            lines = [Line(code=rng.choice(["97110", "97140", "90837", "E0601"]), units=str(rng.randint(1, 4)),
                          date=f"202609{rng.randint(1, 28):02d}", cas=list(line_cas), remarks=remarks,
                          paid="0" if status == "4" else "180.00")
                     for _ in range(rng.randint(1, 3))]
            batch.append(Claim(claim_number=f"C{s:02d}{i:06d}", status=status, paid=paid,
                               charge=f"{180 * len(lines):.2f}", payer_claim_number=f"P{s:02d}{i:06d}",
                               member_id=f"M{rng.randrange(10**9):09d}", cas=list(claim_cas), lines=lines))
        txns.append(Transaction(claims=batch, control=f"{s + 1:04d}"))
    return remittance(txns)


def main() -> int:
    data = generate()
    segments = data.count(b"~")
    registry = load_registry()
    runs = []
    for _ in range(1 + WARM_RUNS):
        start = time.perf_counter()
        result = worklist(read_remittance(data, name="bench.835"), registry, today=TODAY)
        runs.append(time.perf_counter() - start)
    listed = len(result["claims"])
    own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.835"
        path.write_bytes(data)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        # Measured apart from this benchmark's own memory (see peakrss.py).
        cli_wall, cli_mb, code, error = run_measured([sys.executable, "-m", "packetizer", "era", "import", str(path),
                                                      "--json", "--today", TODAY.isoformat()], cwd=REPO, env=env)
    if code != 0:
        print(f"era import failed ({code}): {error[-500:]}")
        return 1

    print(f"remittance: {CLAIMS} claims in {SETS} transaction sets, {segments} segments, "
          f"{len(data) / 1e6:.1f} MB; {listed} listed")
    print(f"read_remittance + worklist, in process: cold {runs[0]:.2f} s, warm best {min(runs[1:]):.2f} s "
          f"({CLAIMS / min(runs[1:]):,.0f} claims/s); peak RSS of this process {own_mb:.0f} MB (the generated "
          "file and its copies included)")
    verdict = "met" if cli_wall <= TARGET_SECONDS else "MISSED"
    print(f"packetizer era import --json, whole process: {cli_wall:.2f} s <= {TARGET_SECONDS:.0f} s: {verdict}; "
          f"peak RSS {cli_mb:.0f} MB")
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    sys.exit(main())
