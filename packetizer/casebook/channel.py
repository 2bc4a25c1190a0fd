"""What the case page tells about the packet before and after a build: the payer channel's limits, stale builds.

* :func:`channel_limits`: the pages and megabytes the payer's channel accepts, the
  pages of the documents going into the packet (counted when each was uploaded,
  :meth:`~.folders.CaseFolder.page_counts`), and the newest build's pages and
  size, each against those limits.
* :func:`build_currency`: which of a case's builds were built from the case as it
  is now (the same :func:`~packetizer.pipeline.input_fingerprint`), and the one a
  submission form should offer first.

The case page asks for the fingerprint on every view, and it hashes every
document (a 229 MB case takes a noticeable part of a second):
:func:`current_fingerprint` remembers it in the process for as long as the case
mapping, the policy and each file's identity, size and modification time stay the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from ..checks import Finding, channel_limit_findings
from ..checks.rules import channel_words
from ..checks.validation import consent_missing, is_relevant
from ..model import Case, PayerPolicy
from ..pipeline import input_fingerprint
from ..registry import Build, CaseRecord
from .folders import CaseFolder

_MB = 1024 * 1024


@dataclass(frozen=True)
class ChannelLimits:
    """The payer channel's limits and what is known so far against them."""

    channel: str
    max_pages: int | None
    max_mb: float | None
    document_pages: int
    """Pages of the documents that go into the packet, as counted on upload."""
    uncounted: int
    """Documents going into the packet with no page count recorded (added by a batch, or before counts were kept)."""
    withheld: int
    """Documents the packet will not include (no consent, or dated outside the payer's relevance window)."""
    build: Build | None = None
    """The newest build, if any."""
    build_findings: list[Finding] = field(default_factory=list)
    """The newest build over the channel's limits (empty when it fits, or when there is no build)."""

    @property
    def any(self) -> bool:
        """The payer states a page or size limit."""
        return bool(self.max_pages or self.max_mb)

    @property
    def documents_over(self) -> bool:
        """The documents alone already have more pages than the channel accepts (before a cover or index)."""
        return bool(self.max_pages) and self.document_pages > self.max_pages

    @property
    def build_mb(self) -> str | None:
        return megabytes(self.build.size) if self.build is not None else None

    @property
    def problems(self) -> bool:
        """Anything over a limit: the case page must not say 'No problems found'."""
        return self.documents_over or bool(self.build_findings)


def megabytes(size: int) -> str:
    """``size`` bytes in MB as the payer's limits are given, precise enough to compare with a small limit."""
    mb = size / _MB
    return f"{mb:.1f} MB" if mb >= 0.1 else f"{mb:.3f} MB"


def channel_limits(folder: CaseFolder, case: Case, policy: PayerPolicy, builds: list[Build]) -> ChannelLimits:
    """The payer channel's limits for ``case``, its documents' pages and the newest of ``builds`` against them."""
    counts = folder.page_counts()
    pages = uncounted = withheld = 0
    for att in case.attachments:
        if consent_missing(att, case) or not is_relevant(att, case, policy):
            withheld += 1
        elif att.file in counts:
            pages += counts[att.file]
        else:
            uncounted += 1
    newest = max(builds, key=lambda b: (b.created_at, b.id)) if builds else None
    findings = channel_limit_findings(policy, newest.pages, newest.size) if newest is not None else []
    return ChannelLimits(channel=channel_words(policy), max_pages=policy.max_pages, max_mb=policy.max_file_mb,
                         document_pages=pages, uncounted=uncounted, withheld=withheld, build=newest,
                         build_findings=findings)


@dataclass(frozen=True)
class BuildCurrency:
    """Which builds of a case are out of date, and the build a submission form preselects."""

    out_of_date: frozenset[int]
    """Ids of builds whose inputs differ from the case and its payer policy as they are now."""
    preselected: int | None
    """The newest build that is not out of date; ``None`` when every build is."""

    def is_stale(self, build: Build) -> bool:
        return build.id in self.out_of_date


_REMEMBERED = 512
_fingerprints: OrderedDict[str, str] = OrderedDict()
_fingerprints_lock = threading.Lock()


def _file_identity(path: Path | None) -> list:
    if path is None:
        return ["none"]
    try:
        st = os.stat(path)
    except OSError:
        return [str(path), "missing"]
    return [str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _inputs_key(case: Case, policy: PayerPolicy) -> str:
    """What :func:`~packetizer.pipeline.input_fingerprint` reads, with each file named by its identity, not bytes."""
    inputs = {
        "case": case.raw,
        "attachments": [[att.file, *_file_identity(att.path)] for att in case.attachments],
        "policy": _file_identity(Path(policy.path)) if policy.path is not None else policy.raw,
    }
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def current_fingerprint(case: Case, policy: PayerPolicy) -> str:
    """``input_fingerprint(case, policy)``, hashed again only when the case, a document or the policy changed."""
    key = _inputs_key(case, policy)
    with _fingerprints_lock:
        known = _fingerprints.get(key)
        if known is not None:
            _fingerprints.move_to_end(key)
            return known
    value = input_fingerprint(case, policy)
    with _fingerprints_lock:
        _fingerprints[key] = value
        while len(_fingerprints) > _REMEMBERED:
            _fingerprints.popitem(last=False)
    return value


def build_currency(record: CaseRecord, case: Case, policy: PayerPolicy) -> BuildCurrency:
    """Compare each build's input fingerprint with the case's now (a build with none recorded is out of date)."""
    if not record.builds:
        return BuildCurrency(frozenset(), None)
    now = current_fingerprint(case, policy)
    stale = frozenset(b.id for b in record.builds if b.input_fingerprint != now)
    current = [b for b in record.builds if b.id not in stale]
    newest = max(current, key=lambda b: (b.created_at, b.id)) if current else None
    return BuildCurrency(stale, newest.id if newest is not None else None)
