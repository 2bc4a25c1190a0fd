"""Read an X12 835 (5010, X221A1) remittance into claims, service lines and adjustments.

The X12 layer is pyx12's: :class:`pyx12.rawx12file.RawX12File` reads each interchange's ISA (its
version and the segment, element and component separators it declares) and splits the text into
segments with them. Elements are split on the declared element separator, composites (SVC01) on the
declared component separator, and the walk below keeps the envelope: ISA/GS/ST nesting, SE01 segment
counts, GE01 and IEA01 counts, and the SE/ST, GE/GS and IEA/ISA control numbers.

Why not more of pyx12, measured on this machine (2 shared cores) with a 10,000-claim remittance of
92,529 segments (``bench/bench_era.py``; the budget for the whole ``era import`` is 5 s):

* pyx12's map walker (``x12n_document``, full X221A1 validation) reads about 8,000 segments a second
  (1.33 s for the 10,764 segments of the corpus's ``emedny-156-interchanges.835``), some 11 s for this
  file. Its findings are also not reasons to refuse a remittance staff must work: a payee state code it
  does not know, a missing PER*BL technical contact, an impossible BPR16 date, all in files payers send.
  The tests validate every generated fixture with it instead.
* :class:`pyx12.x12file.X12Reader` builds a ``Segment`` with ``Composite`` and ``Element`` objects for
  every segment: 0.60-0.73 s for this file against 0.14-0.22 s for ``RawX12File`` and ``str.split``,
  and the whole command measured 4.0 s and 6.6 s on two runs while other jobs loaded both cores. Its
  envelope counts are the few lines in :meth:`_Walk.segment`; counting them here keeps the reader at
  the speed the budget needs.

So the walk follows the X221A1 loop structure (header, 1000A payer, 1000B payee, 2000 LX, 2100 CLP,
2110 SVC, PLB summary) itself, strictly for the envelope and for the segments that carry what the
worklist uses.

What refuses the whole file (:class:`~packetizer.errors.EraError`) is a problem with its shape: no ISA,
an ISA that is not fixed-width, a version other than 5010, a transaction set other than 835, a segment
without a valid id or one that does not belong in an 835, loops out of order, wrong counts or control
numbers, missing trailers, no BPR/TRN/payer/payee. What one claim gets wrong (an amount that is not a
number, a broken SVC composite, an impossible date, an unknown CAS group) puts that claim in
:attr:`Remittance.errors` and the others are still read.

Messages name the segment by its number in the file (the first ISA is segment 1) and never quote a
value from the file: names, member ids and claim values are PHI or close to it.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field
from functools import cached_property
from decimal import ROUND_HALF_UP, Decimal

from ..errors import EraError

# ISA elements after "ISA" and their fixed widths (ISA01..ISA16).
_ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
ISA_LENGTH = 106

# Every segment the X221A1 835 uses; anything else is not an 835.
SEGMENTS_835 = frozenset({
    "ISA", "IEA", "GS", "GE", "ST", "SE", "BPR", "TRN", "CUR", "REF", "DTM", "N1", "N3", "N4", "PER", "RDM",
    "LX", "TS3", "TS2", "CLP", "CAS", "NM1", "MIA", "MOA", "AMT", "QTY", "SVC", "LQ", "PLB",
})
CLAIM_STATUS_CODES = frozenset({"1", "2", "3", "4", "19", "20", "21", "22", "23", "25"})
CAS_GROUPS = frozenset({"CO", "PR", "OA", "PI", "CR"})
# SVC01-1 product/service id qualifiers of X221A1.
SVC_QUALIFIERS = frozenset({"AD", "ER", "HC", "HP", "IV", "N4", "N6", "NU", "UI", "WK"})

# Reasons that adjust what a paid claim pays (deductible, coinsurance, copay, contractual and fee-schedule
# reductions, prior payer, sequestration): a claim whose adjustments are all of these was paid as agreed.
PAYMENT_REASONS = frozenset({
    "1", "2", "3", "23", "42", "45", "59", "66", "85", "94", "100", "104", "118", "131", "144", "161", "237",
    "253", "A2",
})

_SEG_ID = re.compile(r"^[A-Z][A-Z0-9]{1,2}$")
# X12 "R" values are at most 18 digits long; an amount with more digits before its decimal point is refused
# (it is no amount a payer pays, and two-decimal arithmetic on it would overflow).
MAX_AMOUNT_DIGITS = 18
_AMOUNT = re.compile(r"^-?(?:\d+\.?\d*|\.\d+)$")
_CARC = re.compile(r"^[A-Z0-9]{1,5}$")
_RARC = re.compile(r"^[A-Z]{1,2}[0-9]{1,4}$")
_CENT = Decimal("0.01")
# A refused file's message tells this many of its problems (in file order), then counts the rest.
MAX_PROBLEMS_TOLD = 3


class _Refused(Exception):
    """Raised inside the walk; becomes one :class:`EraError` naming the file."""

    def __init__(self, segment: int | None, detail: str):
        super().__init__(detail)
        self.segment = segment
        self.detail = detail


class _BadClaim(Exception):
    """One claim cannot be read; the rest of the file can."""

    def __init__(self, segment: int, detail: str):
        super().__init__(detail)
        self.segment = segment
        self.detail = detail


@dataclass(frozen=True)
class Adjustment:
    """One CAS triplet: group (CO, PR, OA, PI, CR), reason (CARC) and amount."""

    group: str
    reason: str
    amount: Decimal

    @property
    def code(self) -> str:
        """``CO-197``, as ``claim.denial_codes`` spells it."""
        return f"{self.group}-{self.reason}"


@dataclass(frozen=True)
class RemitLine:
    """One service line (loop 2110): SVC with its dates, adjustments and remark codes."""

    segment: int
    qualifier: str
    code: str
    modifiers: tuple[str, ...]
    charge: Decimal
    paid: Decimal
    units: Decimal | None             # None when the 835 gives no count above 0
    start: dt.date | None = None
    end: dt.date | None = None
    adjustments: tuple[Adjustment, ...] = ()
    remarks: tuple[str, ...] = ()

    @property
    def denial_codes(self) -> list[str]:
        """Group-CARC of the line's CAS, once each (SPEC section 9 shows a line's CARCs only; its LQ remarks
        are listed with the claim's codes)."""
        return list(dict.fromkeys(a.code for a in self.adjustments))


@dataclass(frozen=True)
class RemitClaim:
    """One claim (loop 2100) as the payer adjudicated it, with the payer facts of its transaction set."""

    position: int                     # 1-based among every CLP of the file
    segment: int                      # the CLP's segment number in the file
    claim_number: str                 # CLP01, the provider's claim id
    status_code: str                  # CLP02
    charge: Decimal                   # CLP03
    paid: Decimal                     # CLP04
    payer_claim_number: str | None    # CLP07
    member_id: str | None
    first_name: str | None
    last_name: str | None
    payer_name: str | None
    payer_ids: tuple[str, ...]        # N1*PR (XV or PI), REF*2U, TRN03, in that order
    denial_date: dt.date | None       # DTM*405, else BPR16
    period_start: dt.date | None = None   # DTM*232
    period_end: dt.date | None = None     # DTM*233
    adjustments: tuple[Adjustment, ...] = ()
    remarks: tuple[str, ...] = ()     # MIA/MOA remark codes
    lines: tuple[RemitLine, ...] = ()
    # The rendering provider: NM1*82 when the payer names one, else the payee (N1*PE), which X221A1 says
    # rendered the service when no NM1*82 is sent; the NPI only when the qualifier is XX.
    rendering_name: str | None = None
    rendering_npi: str | None = None

    @property
    def adjusted(self) -> bool:
        """True when a CAS sits on the claim or any of its lines (only those are listed)."""
        return bool(self.adjustments) or any(line.adjustments for line in self.lines)

    @cached_property
    def all_adjustments(self) -> list[Adjustment]:
        return [*self.adjustments, *(a for line in self.lines for a in line.adjustments)]

    @cached_property
    def denial_codes(self) -> list[str]:
        """Group-CARC of every CAS of the claim and its lines, then the RARCs (MIA/MOA, then LQ), once each."""
        carcs = [a.code for a in self.all_adjustments]
        rarcs = [*self.remarks, *(r for line in self.lines for r in line.remarks)]
        return list(dict.fromkeys(carcs + rarcs))

    @cached_property
    def status(self) -> str:
        """``reversed``, ``denied``, ``partially_paid`` or ``paid``, by this rule:

        * ``reversed``: CLP02 = 22 (a reversal of an earlier payment).
        * ``denied``: CLP02 = 4 (denied), or nothing paid (CLP04 <= 0) while at least one adjustment of the
          claim or its lines is not one of :data:`PAYMENT_REASONS`: a reason the payer refused to pay for.
        * ``paid``: every adjustment is one of :data:`PAYMENT_REASONS` (deductible, coinsurance, copay,
          contractual reductions, the prior payer's payment), even when nothing was paid. So a secondary or
          tertiary claim (CLP02 = 2 or 3) paying 0 with only OA-23 (the prior payer's adjudication) is
          ``paid``: the prior payer covered it and nothing is denied; so is a claim whose whole charge went
          to the deductible.
        * ``partially_paid``: something paid, and some adjustment is not one of :data:`PAYMENT_REASONS`.
        """
        if self.status_code == "22":
            return "reversed"
        refused = any(a.reason not in PAYMENT_REASONS for a in self.all_adjustments)
        if self.status_code == "4" or (self.paid <= 0 and refused):
            return "denied"
        if refused:
            return "partially_paid"
        return "paid"


@dataclass(frozen=True)
class ClaimProblem:
    """A claim that could not be read: its position among the file's claims, the segment and the problem."""

    position: int
    segment: int
    problem: str

    def to_dict(self) -> dict:
        return {"claim": self.position, "segment": self.segment, "problem": self.problem}


@dataclass(frozen=True)
class Remittance:
    """What one 835 file holds: every readable claim, the claims that could not be read, and counts."""

    name: str
    claims: tuple[RemitClaim, ...]
    errors: tuple[ClaimProblem, ...] = ()
    transactions: int = 0
    segments: int = 0


def amount_text(value: Decimal | None) -> str | None:
    """An amount as the worklist prints it: two decimals (``180.00``)."""
    if value is None:
        return None
    return str(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def read_remittance(data: bytes, *, name: str) -> Remittance:
    """Read an 835 file's bytes.

    Args:
        data: The whole file.
        name: The file's name as the user gave it (for messages only).

    Raises:
        EraError: The file is not a well-formed 835 (the message names the segment and the problem).
    """
    walk = _Walk()
    try:
        return _read(data, name, walk)
    except _Refused as exc:
        problems = sorted({(exc.segment or 0, exc.detail), *walk.deferred})
        told = [f"segment {n}: {detail}" if n else detail for n, detail in problems[:MAX_PROBLEMS_TOLD]]
        more = len(problems) - MAX_PROBLEMS_TOLD
        detail = "; ".join(told) + (f" (and {more} more problem(s))" if more > 0 else "")
        raise EraError(detail, segment=problems[0][0] or None, subject=name, noun="remittance") from None


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _read(data: bytes, name: str, walk: "_Walk") -> Remittance:
    if not data.strip():
        raise _Refused(None, "the file is empty")
    if b"\x00" in data:
        raise _Refused(None, "the file is not text (it holds NUL bytes)")
    text = _decode(data)
    for chunk, separators in _interchanges(text, walk):
        walk.interchange(chunk, separators)
    walk.finish()
    return Remittance(name, tuple(walk.claims), tuple(walk.errors), walk.transactions, walk.number)


def _interchanges(text: str, walk: "_Walk"):
    """Each interchange (ISA to IEA) of ``text`` with its separators (segment, element, component)."""
    pos, size = 0, len(text)
    while True:
        while pos < size and text[pos] in " \t\r\n":
            pos += 1
        if pos >= size:
            return
        number = walk.number + 1
        if not text.startswith("ISA", pos):
            if number == 1:
                raise _Refused(1, "the file does not start with an ISA interchange header, so it declares no "
                                  "separators (an 835 must come in its ISA/GS envelope)")
            raise _Refused(number, "text after the interchange trailer (IEA) that does not start a new ISA")
        separators = _isa_separators(text[pos:pos + ISA_LENGTH], number)
        seg_term, ele = separators[0], separators[1]
        trailer = re.compile(re.escape(seg_term) + r"[\r\n]*IEA" + re.escape(ele) + "[^" + re.escape(seg_term)
                             + "]*" + re.escape(seg_term))
        found = trailer.search(text, pos + ISA_LENGTH - 1)
        end = found.end() if found else size
        chunk = text[pos:end]
        if seg_term == "\n":
            chunk = chunk.replace("\r\n", "\n")
        yield chunk, separators
        pos = end


def _isa_separators(isa: str, number: int) -> tuple[str, str, str]:
    """Check that the ISA is fixed-width (106 characters) and return its separators."""
    if len(isa) < ISA_LENGTH:
        raise _Refused(number, f"the ISA interchange header is shorter than its fixed {ISA_LENGTH} characters")
    ele = isa[3]
    if ele.isalnum() or ele in " \r\n":
        raise _Refused(number, "the ISA does not declare a usable element separator (its 4th character)")
    at = 4
    for i, width in enumerate(_ISA_WIDTHS, start=1):
        value = isa[at:at + width]
        if ele in value:
            raise _Refused(number, f"the ISA is not fixed-width: ISA{i:02d} is not {width} characters long, so "
                                   "its separators cannot be found")
        at += width
        if i < 16 and isa[at] != ele:
            raise _Refused(number, f"the ISA is not fixed-width: ISA{i:02d} is not {width} characters long, so "
                                   "its separators cannot be found")
        at += 1 if i < 16 else 0
    component, seg_term = isa[104], isa[105]
    if component.isalnum() or component == ele or component == " ":
        raise _Refused(number, "ISA16 does not declare a usable component separator")
    if seg_term.isalnum() or seg_term in (ele, component, " "):
        raise _Refused(number, "the ISA does not end with a usable segment terminator")
    if isa[84:89] != "00501":
        raise _Refused(number, "ISA12 version is not 00501: only 5010 remittances (X221A1) are read")
    return seg_term, ele, component


def _value(els: list[str], n: int) -> str:
    """Element ``n`` (1-based) as one stripped string ('' when absent)."""
    return els[n - 1].strip() if len(els) >= n else ""


def _amount(text: str, segment: int, what: str, *, required: bool = True) -> Decimal | None:
    if not text:
        if required:
            raise _BadClaim(segment, f"{what} is missing")
        return None
    if not _AMOUNT.match(text):
        raise _BadClaim(segment, f"{what} is not an amount")
    whole, _, fraction = text.lstrip("-").partition(".")
    if len(whole) > MAX_AMOUNT_DIGITS or len(fraction) > MAX_AMOUNT_DIGITS:
        raise _BadClaim(segment, f"{what} has more than {MAX_AMOUNT_DIGITS} digits before or after its decimal point")
    return Decimal(text)


def _date(text: str) -> dt.date | None:
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


@dataclass
class _ClaimDraft:
    """A claim while its segments are read."""

    position: int
    segment: int
    values: dict = field(default_factory=dict)
    adjustments: list = field(default_factory=list)
    remarks: list = field(default_factory=list)
    lines: list = field(default_factory=list)
    line: dict | None = None
    problem: tuple[int, str] | None = None


class _Walk:
    """Walks the segments of every interchange, keeping the envelope and the 835 loops in order."""

    def __init__(self) -> None:
        self.number = 0           # segments read so far in the file
        self.claims: list[RemitClaim] = []
        self.errors: list[ClaimProblem] = []
        self.transactions = 0
        self.positions = 0        # CLPs seen
        self.component = ":"
        self.deferred: list[tuple[int, str]] = []   # envelope count problems, told with the first hard one
        self.in_set = self.sets = self.groups = 0    # segments in the open ST, STs in the GS, GSs in the ISA
        self.isa_control = self.gs_control = self.st_control = ""

    # -- envelope -------------------------------------------------------------------------------------
    def interchange(self, chunk: str, separators: tuple[str, str, str]) -> None:
        import pyx12.errors
        import pyx12.rawx12file

        seg_term, ele, self.component = separators
        # A last segment without its terminator would be dropped by the tokeniser: end the text with one.
        body = chunk.rstrip(" \r\n\t")
        chunk = body if body.endswith(seg_term) else body + seg_term
        self.level = []          # ISA, GS, ST open
        try:
            raw = pyx12.rawx12file.RawX12File(io.StringIO(chunk))
        except pyx12.errors.X12Error:
            raise _Refused(self.number + 1, "the interchange header (ISA) cannot be read as X12") from None
        for line in raw:
            self.number += 1
            self.segment(line.strip("\r\n ").split(ele))
        # pyx12's tokeniser stops at an empty segment (two terminators in a row), or at a segment longer than
        # its read window (it reads on only once when its buffer holds no terminator); what follows is unread.
        rest = raw.buffer + raw.fd.read()
        if rest.strip(" \r\n\t" + seg_term):
            stop = rest.find(seg_term)
            if 0 <= stop < pyx12.rawx12file.DEFAULT_BUFSIZE:
                raise _Refused(self.number + 1, "the segment is empty (two segment terminators in a row)")
            raise _Refused(self.number + 1, f"the segment is longer than {pyx12.rawx12file.DEFAULT_BUFSIZE:,} "
                                            "characters, more than any segment of an 835 holds (is its segment "
                                            "terminator missing?)")
        if self.level:
            raise _Refused(self.number, f"the file ends inside an open {self.level[-1]} without its trailer")

    def _count(self, got: str, expected: int | str, words: str) -> None:
        """A count or control number of a trailer that does not match: told, but the walk goes on, so a
        later broken segment is told too."""
        if isinstance(expected, int):
            matches = got.isdigit() and int(got) == expected
        else:
            matches = got == expected
        if not matches:
            self.deferred.append((self.number, words))

    def segment(self, parts: list[str]) -> None:
        n = self.number
        seg_id = parts[0]
        if seg_id not in SEGMENTS_835:
            if not _SEG_ID.match(seg_id):
                raise _Refused(n, "the segment has no valid segment id")
            # Its id is not quoted: text that is not a known segment id may be anything, even a name.
            raise _Refused(n, "the segment is not a segment an 835 remittance (X221A1) may hold here")
        els = parts[1:]
        level = self.level
        self.in_set += 1
        if seg_id == "ISA":
            if level:
                raise _Refused(n, "ISA inside an open interchange")
            level.append("ISA")
            self.isa_control, self.groups = _value(els, 13), 0
        elif seg_id == "GS":
            if level != ["ISA"]:
                raise _Refused(n, "GS outside an interchange or inside an open group")
            self.gs_control, self.sets, self.groups = _value(els, 6), 0, self.groups + 1
            if _value(els, 1) != "HP":
                raise _Refused(n, "GS01 functional id is not HP (health care claim payment/advice)")
            version = _value(els, 8)
            if not version.startswith("005010X221"):
                raise _Refused(n, "GS08 version is not 005010X221A1 (the 5010 835)")
            level.append("GS")
        elif seg_id == "ST":
            if level != ["ISA", "GS"]:
                raise _Refused(n, "ST outside a functional group or inside an open transaction set")
            if _value(els, 1) != "835":
                raise _Refused(n, "ST01 transaction set is not an 835 remittance")
            level.append("ST")
            self.st_control, self.in_set, self.sets = _value(els, 2), 1, self.sets + 1
            self._start_transaction()
        elif seg_id == "SE":
            if level != ["ISA", "GS", "ST"]:
                raise _Refused(n, "SE without its ST")
            self._end_transaction()
            self._count(_value(els, 1), self.in_set, "SE01 does not match the number of segments in the "
                                                    "transaction set")
            self._count(_value(els, 2), self.st_control, "SE02 does not match the control number of its ST")
            level.pop()
        elif seg_id == "GE":
            if level != ["ISA", "GS"]:
                raise _Refused(n, "GE without its GS, or inside an open transaction set")
            self._count(_value(els, 1), self.sets, "GE01 does not match the number of transaction sets in the "
                                                   "group")
            self._count(_value(els, 2), self.gs_control, "GE02 does not match the control number of its GS")
            level.pop()
        elif seg_id == "IEA":
            if level != ["ISA"]:
                raise _Refused(n, "IEA without its ISA, or inside an open functional group")
            self._count(_value(els, 1), self.groups, "IEA01 does not match the number of functional groups in "
                                                     "the interchange")
            self._count(_value(els, 2), self.isa_control, "IEA02 does not match the control number of its ISA")
            level.pop()
        else:
            if level != ["ISA", "GS", "ST"]:
                raise _Refused(n, f"{seg_id} outside a transaction set (ST/SE)")
            self._body(seg_id, els)

    def finish(self) -> None:
        if self.transactions == 0:
            raise _Refused(None, "the file holds no 835 transaction set (ST/SE)")
        if self.deferred:
            raise _Refused(*self.deferred[0])

    # -- one transaction set ----------------------------------------------------------------------------
    def _start_transaction(self) -> None:
        self.transactions += 1
        self.loop = "start"
        self.t = {"bpr_date": None, "production_date": None, "payer_name": None, "n1_id": None,
                  "ref_2u": None, "trn03": None, "trn": False, "payer": False, "payee": False}
        self.claim: _ClaimDraft | None = None

    def _end_transaction(self) -> None:
        self._close_claim()
        self._require_header(self.number)

    def _require_header(self, n: int) -> None:
        t = self.t
        for key, words in (("trn", "TRN (reassociation trace number)"), ("payer", "N1*PR (payer identification)"),
                           ("payee", "N1*PE (payee identification)")):
            if not t[key]:
                raise _Refused(n, f"the transaction set has no {words} before its claims")

    def _body(self, seg_id: str, els: list[list[str]]) -> None:
        n, t = self.number, self.t
        if self.loop == "start":
            if seg_id != "BPR":
                raise _Refused(n, "the transaction set does not begin with BPR (financial information)")
            t["bpr_date"] = _date(_value(els, 16))
            self.loop = "header"
            return
        if seg_id == "BPR":
            raise _Refused(n, "a second BPR in one transaction set")
        if self.loop in ("header", "payer", "payee"):
            self._header(seg_id, els)
            return
        if seg_id == "LX":
            self._close_claim()
            self.loop = "lx"
        elif seg_id in ("TS3", "TS2"):
            if self.loop != "lx" or self.claim is not None:
                raise _Refused(n, f"{seg_id} outside a header number loop (LX)")
        elif seg_id == "CLP":
            self._close_claim()
            self.positions += 1
            self.claim = _ClaimDraft(self.positions, n)
            self.loop = "claim"
            self._guard(self._clp, els)
        elif seg_id == "PLB":
            self._close_claim()
            self.loop = "summary"
        elif self.loop == "summary":
            raise _Refused(n, f"{seg_id} after the provider adjustments (PLB)")
        elif self.claim is None:
            raise _Refused(n, f"{seg_id} outside a claim (CLP)")
        else:
            self._guard(self._in_claim, seg_id, els)

    def _header(self, seg_id: str, els: list[list[str]]) -> None:
        n, t = self.number, self.t
        if seg_id == "TRN":
            t["trn"] = True
            t["trn03"] = _value(els, 3) or None
        elif seg_id == "DTM" and self.loop == "header":
            if _value(els, 1) == "405":
                t["production_date"] = _date(_value(els, 2))
        elif seg_id == "N1":
            who = _value(els, 1)
            if who == "PR" and self.loop == "header":
                t["payer"] = True
                t["payer_name"] = _value(els, 2) or None
                if _value(els, 3) in ("XV", "PI"):
                    t["n1_id"] = _value(els, 4) or None
                self.loop = "payer"
            elif who == "PE" and self.loop == "payer":
                t["payee"] = True
                t["payee_name"] = _value(els, 2) or None
                t["payee_npi"] = _value(els, 4) if _value(els, 3) == "XX" else None
                self.loop = "payee"
            else:
                raise _Refused(n, "N1 out of order: the payer (N1*PR) comes first, then the payee (N1*PE)")
        elif seg_id == "REF" and self.loop == "payer":
            if _value(els, 1) == "2U" and not t["ref_2u"]:
                t["ref_2u"] = _value(els, 2) or None
        elif seg_id in ("LX", "CLP", "PLB"):
            self._require_header(n)
            self.loop = "detail"
            self._body(seg_id, els)
        elif seg_id in ("CUR", "REF", "DTM", "N3", "N4", "PER", "RDM"):
            pass
        else:
            raise _Refused(n, f"{seg_id} in the remittance header, before any claim")

    # -- one claim ------------------------------------------------------------------------------------------
    def _guard(self, step, *args) -> None:
        claim = self.claim
        if claim.problem is not None:
            return  # the claim is already broken; its segments are still walked for the envelope
        try:
            step(*args)
        except _BadClaim as exc:
            claim.problem = (exc.segment, exc.detail)

    def _clp(self, els: list[list[str]]) -> None:
        n, v = self.number, self.claim.values
        v["claim_number"] = _value(els, 1)
        if not v["claim_number"]:
            raise _BadClaim(n, "CLP01 (claim id) is missing")
        v["status_code"] = _value(els, 2)
        if v["status_code"] not in CLAIM_STATUS_CODES:
            raise _BadClaim(n, "CLP02 is not a claim status code")
        v["charge"] = _amount(_value(els, 3), n, "CLP03 (total charge)")
        v["paid"] = _amount(_value(els, 4), n, "CLP04 (payment)")
        _amount(_value(els, 5), n, "CLP05 (patient responsibility)", required=False)
        v["payer_claim_number"] = _value(els, 7) or None

    def _in_claim(self, seg_id: str, els: list[list[str]]) -> None:
        n, claim = self.number, self.claim
        line = claim.line
        if seg_id == "CAS":
            found = self._cas(els)
            (line["adjustments"] if line is not None else claim.adjustments).extend(found)
        elif seg_id == "SVC":
            self._close_line()
            claim.line = self._svc(els)
        elif seg_id == "NM1":
            if line is not None:
                raise _BadClaim(n, "NM1 inside a service line")
            who = _value(els, 1)
            if who in ("QC", "IL"):
                claim.values[who] = (_value(els, 3), _value(els, 4), _value(els, 9))
            elif who == "82":
                name = " ".join(p for p in (_value(els, 4), _value(els, 3)) if p)
                claim.values["82"] = (name, _value(els, 9) if _value(els, 8) == "XX" else "")
        elif seg_id == "DTM":
            qualifier, day = _value(els, 1), _value(els, 2)
            wanted = ("472", "150", "151") if line is not None else ("232", "233")
            if qualifier in wanted:
                date = _date(day)
                if date is None:
                    raise _BadClaim(n, f"DTM*{qualifier} is not a date (CCYYMMDD)")
                (line if line is not None else claim.values)[qualifier] = date
        elif seg_id == "LQ":
            if line is None:
                raise _BadClaim(n, "LQ outside a service line")
            if _value(els, 1) == "HE":
                code = _value(els, 2)
                if not _RARC.match(code):
                    raise _BadClaim(n, "LQ02 is not a remark code")
                line["remarks"].append(code)
        elif seg_id in ("MIA", "MOA"):
            if line is not None:
                raise _BadClaim(n, f"{seg_id} inside a service line")
            places = (5, 20, 21, 22, 23) if seg_id == "MIA" else (3, 4, 5, 6, 7)
            for place in places:
                code = _value(els, place)
                if code:
                    if not _RARC.match(code):
                        raise _BadClaim(n, f"{seg_id}{place:02d} is not a remark code")
                    claim.remarks.append(code)
        # REF, AMT, QTY, PER: nothing the worklist uses.

    def _cas(self, els: list[list[str]]) -> list[Adjustment]:
        n = self.number
        group = _value(els, 1)
        if group not in CAS_GROUPS:
            raise _BadClaim(n, "CAS01 is not a claim adjustment group code (CO, PR, OA, PI, CR)")
        found = []
        for first in (2, 5, 8, 11, 14, 17):
            reason = _value(els, first)
            if not reason:
                if _value(els, first + 1):
                    raise _BadClaim(n, f"CAS{first + 1:02d} has an amount without a reason code")
                continue
            if not _CARC.match(reason):
                raise _BadClaim(n, f"CAS{first:02d} is not a claim adjustment reason code")
            amount = _amount(_value(els, first + 1), n, f"CAS{first + 1:02d} (adjustment amount)")
            _amount(_value(els, first + 2), n, f"CAS{first + 2:02d} (quantity)", required=False)
            found.append(Adjustment(group, reason, amount))
        if not found:
            raise _BadClaim(n, "CAS carries no reason code")
        return found

    def _svc(self, els: list[list[str]]) -> dict:
        n = self.number
        parts = [p.strip() for p in els[0].split(self.component)] if els else []
        if len(parts) < 2 or not parts[1]:
            raise _BadClaim(n, f"SVC01 has no procedure code after its qualifier (component separator "
                               f"{self.component!r}, as ISA16 declares)")
        if parts[0] not in SVC_QUALIFIERS:
            raise _BadClaim(n, "SVC01-1 is not a product/service id qualifier")
        # SVC07 (original units) when the payer changed the count, else SVC05 (units paid); X221A1: an absent
        # SVC05 means one unit. A count of 0 (a denied line may say so) is no count: the units stay unknown.
        original = _amount(_value(els, 7), n, "SVC07 (original units)", required=False)
        paid_units = _amount(_value(els, 5), n, "SVC05 (units)", required=False)
        if original is not None and original > 0:
            units = original
        elif paid_units is None:
            units = Decimal(1) if original is None else None
        else:
            units = paid_units if paid_units > 0 else None
        return {
            "segment": n, "qualifier": parts[0], "code": parts[1],
            "modifiers": tuple(m for m in parts[2:6] if m),
            "charge": _amount(_value(els, 2), n, "SVC02 (line charge)"),
            "paid": _amount(_value(els, 3), n, "SVC03 (line payment)"),
            "units": units,
            "adjustments": [], "remarks": [],
        }

    def _close_line(self, claim: _ClaimDraft | None = None) -> None:
        claim = claim or self.claim
        line = claim.line
        if line is None:
            return
        claim.line = None
        start = line.get("472") or line.get("150")
        end = line.get("472") or line.get("151") or start
        claim.lines.append(RemitLine(
            segment=line["segment"], qualifier=line["qualifier"], code=line["code"], modifiers=line["modifiers"],
            charge=line["charge"], paid=line["paid"], units=line["units"], start=start, end=end,
            adjustments=tuple(line["adjustments"]), remarks=tuple(dict.fromkeys(line["remarks"])),
        ))

    def _close_claim(self) -> None:
        claim = self.claim
        if claim is None:
            return
        self.claim = None
        if claim.problem is None:
            try:
                self._close_line(claim)
                if "QC" not in claim.values and "IL" not in claim.values:
                    raise _BadClaim(claim.segment, "the claim names no patient (NM1*QC)")
            except _BadClaim as exc:
                claim.problem = (exc.segment, exc.detail)
        if claim.problem is not None:
            self.errors.append(ClaimProblem(claim.position, *claim.problem))
            return
        v, t = claim.values, self.t
        last, first, qc_id = v.get("QC", ("", "", ""))
        il_id = v.get("IL", ("", "", ""))[2]
        ids = tuple(dict.fromkeys(i for i in (t["n1_id"], t["ref_2u"], t["trn03"]) if i))
        rendering = v.get("82") or (t.get("payee_name") or "", t.get("payee_npi") or "")
        self.claims.append(RemitClaim(
            position=claim.position, segment=claim.segment, claim_number=v["claim_number"],
            status_code=v["status_code"], charge=v["charge"], paid=v["paid"],
            payer_claim_number=v["payer_claim_number"], member_id=qc_id or il_id or None,
            first_name=first or None, last_name=last or None, payer_name=t["payer_name"], payer_ids=ids,
            denial_date=t["production_date"] or t["bpr_date"], period_start=v.get("232"), period_end=v.get("233"),
            adjustments=tuple(claim.adjustments), remarks=tuple(dict.fromkeys(claim.remarks)),
            lines=tuple(claim.lines),
            rendering_name=rendering[0] or None, rendering_npi=rendering[1] or None,
        ))
