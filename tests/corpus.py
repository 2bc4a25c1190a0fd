"""Where the shared corpus of real, externally authored documents is.

The corpus sits beside the repository (``../shared/corpus``) and is not copied
into it (licences). A clean clone elsewhere (CI) finds it through
``PACKETIZER_CORPUS`` or the team's standard checkout location.
"""

import os
from pathlib import Path


def corpus_dir() -> Path:
    candidates = [
        os.environ.get("PACKETIZER_CORPUS", ""),
        Path(__file__).resolve().parents[2] / "shared" / "corpus",
        "/work/shared/corpus",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return Path(candidates[1])


CORPUS = corpus_dir()
