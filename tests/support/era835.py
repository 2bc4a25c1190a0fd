"""A small generator of X12 835 (5010 X221A1) remittances for the tests and the bench.

Everything it writes is invented (names, ids, amounts) and validates with pyx12's 835 map
(:func:`pyx12_valid`), whatever separators are chosen.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field


@dataclass
class Line:
    code: str = "97110"
    modifiers: tuple[str, ...] = ("GP",)
    charge: str = "180.00"
    paid: str = "0"
    units: str | None = "2"
    date: str = "20260914"
    cas: list[tuple[str, str, str]] = field(default_factory=lambda: [("CO", "197", "180.00")])
    remarks: tuple[str, ...] = ("N54",)


@dataclass
class Claim:
    claim_number: str = "2026091400123"
    status: str = "4"
    charge: str = "180.00"
    paid: str = "0"
    payer_claim_number: str = "PCN0000001"
    member_id: str = "XJH123456789"
    first_name: str = "ANA"
    last_name: str = "ORTIZ"
    cas: list[tuple[str, str, str]] = field(default_factory=list)
    remarks: tuple[str, ...] = ()          # MOA remark codes
    lines: list[Line] = field(default_factory=lambda: [Line()])
    period: str | None = None              # DTM*232 when the claim has no lines


@dataclass
class Transaction:
    claims: list[Claim] = field(default_factory=lambda: [Claim()])
    payer_name: str = "DEMO COMMERCIAL"
    payer_id: str | None = "DEMO01"          # N1*PR*...*XV
    ref_2u: str | None = None
    trn03: str = "1999999999"
    production_date: str | None = "20261002"  # DTM*405
    payment_date: str = "20261002"            # BPR16
    control: str = "0001"


def remittance(transactions: list[Transaction] | None = None, *, seg: str = "~", ele: str = "*", comp: str = ":",
               rep: str = "^", newline: bool = True, control: str = "000000001", groups: int = 1) -> bytes:
    """One interchange holding ``transactions`` (split over ``groups`` GS groups), as bytes."""
    transactions = transactions if transactions is not None else [Transaction()]
    out: list[list[str]] = []
    isa = ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", "DEMOPAYER".ljust(15), "ZZ", "DEMOPROVIDER".ljust(15),
           "261002", "1200", rep, "00501", control, "0", "T", comp]
    out.append(isa)
    per_group = max(1, -(-len(transactions) // groups))
    chunks = [transactions[i:i + per_group] for i in range(0, len(transactions), per_group)] or [[]]
    for g, chunk in enumerate(chunks, start=1):
        out.append(["GS", "HP", "DEMOPAYER", "DEMOPROVIDER", "20261002", "1200", str(g), "X", "005010X221A1"])
        for txn in chunk:
            body = _transaction(txn, comp)
            out.append(["ST", "835", txn.control])
            out.extend(body)
            out.append(["SE", str(len(body) + 2), txn.control])
        out.append(["GE", str(len(chunk)), str(g)])
    out.append(["IEA", str(len(chunks)), control])
    end = seg + ("\n" if newline and seg != "\n" else "")
    return "".join(ele.join(s) + end for s in out).encode("ascii")


def _transaction(txn: Transaction, comp: str) -> list[list[str]]:
    total = sum(float(c.paid) for c in txn.claims)
    if total > 0:
        bpr = ["BPR", "I", f"{total:.2f}", "C", "ACH", "CCP", "01", "999999999", "DA", "123456789", "1512345678", "",
               "01", "999988880", "DA", "98765", txn.payment_date]
    else:
        bpr = ["BPR", "H", "0", "C", "NON", "", "", "", "", "", "", "", "", "", "", "", txn.payment_date]
    body = [bpr, ["TRN", "1", "12345" + txn.control, txn.trn03]]
    if txn.production_date:
        body.append(["DTM", "405", txn.production_date])
    n1 = ["N1", "PR", txn.payer_name]
    if txn.payer_id:
        n1 += ["XV", txn.payer_id]
    body += [n1, ["N3", "1 MAIN STREET"], ["N4", "MINNEAPOLIS", "MN", "55401"]]
    if txn.ref_2u:
        body.append(["REF", "2U", txn.ref_2u])
    body.append(["PER", "BL", "EDI SUPPORT", "TE", "8005550100"])
    body += [["N1", "PE", "LAKE STREET PHYSICAL THERAPY", "XX", "1234567893"], ["N3", "2 LAKE STREET"],
             ["N4", "MINNEAPOLIS", "MN", "55408"], ["LX", "1"]]
    for claim in txn.claims:
        body.append(["CLP", claim.claim_number, claim.status, claim.charge, claim.paid, "", "12",
                     claim.payer_claim_number, "11", "1"])
        body += [["CAS", g, r, a] for g, r, a in claim.cas]
        body.append(["NM1", "QC", "1", claim.last_name, claim.first_name, "", "", "", "MI", claim.member_id])
        if claim.remarks:
            body.append(["MOA", "", "", *claim.remarks])
        if claim.period:
            body.append(["DTM", "232", claim.period])
        for line in claim.lines:
            svc = ["SVC", comp.join(["HC", line.code, *line.modifiers]), line.charge, line.paid]
            if line.units is not None:
                svc += ["", line.units]
            body.append(svc)
            body.append(["DTM", "472", line.date])
            body += [["CAS", g, r, a] for g, r, a in line.cas]
            body += [["LQ", "HE", code] for code in line.remarks]
    return body


def pyx12_errors(data: bytes) -> list[str]:
    """The errors pyx12's 835 map finds in ``data`` (empty when it validates)."""
    import html
    import re

    import pyx12.params
    import pyx12.x12n_document

    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    page = io.StringIO()
    ok = pyx12.x12n_document.x12n_document(pyx12.params.params(), io.StringIO(data.decode("ascii")), None, page)
    found = [html.unescape(e).strip() for e in re.findall(r'class="error"[^>]*>([^<]*)', page.getvalue())]
    return [] if ok else (found or ["pyx12: not valid"])


def pyx12_valid(data: bytes) -> bool:
    """True when pyx12's 835 map validates ``data`` without an error."""
    return not pyx12_errors(data)
