"""The environment of a fresh process with a cache folder of its own (packetizer.usercache)."""

from __future__ import annotations

import os
from pathlib import Path


def environment_with_cache(cache: Path | None) -> dict[str, str]:
    """This process's environment, the cache folder ``cache/packetizer``; None: no cache folder at all (no
    XDG_CACHE_HOME and no home)."""
    env = dict(os.environ)
    if cache is None:
        env.pop("XDG_CACHE_HOME", None)
        env["HOME"] = "relative"
    else:
        env["XDG_CACHE_HOME"] = str(cache)
    return env
