"""Shared by tests/test_web_*.py and the browser tests: a configured app, accounts, a case, real documents.

Every app gets its own instance folder, SQLite database and archive folder
under the test's tmp_path, and a clock the test can move. The fixtures built on
these helpers (``app``, ``client``, ``staff``, ...) are in ``tests/conftest.py``.
"""

from __future__ import annotations

import datetime as dt
import os
import functools
import re
import secrets
import shutil
import time
from pathlib import Path

from argon2 import PasswordHasher, profiles
from docx import Document

from packetizer.registry import Build, CaseRecord, Determination, Submission, User
from packetizer.registry.users import hash_password
from packetizer.web import create_app

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "lake-street"
EXAMPLE_PDF = EXAMPLE / "notes" / "2026-09-18-progress-note.pdf"
EXAMPLE_DOCX = EXAMPLE / "notes" / "2026-09-14-evaluation.docx"
PASSWORD = "correct horse battery staple"
# The example's fictional patient: none of this may reach a log or the audit log.
MEMBER_NAME = ("Ana", "Ortiz")
MEMBER_ID = "XJH123456789"
MEMBER_SSN = "512-44-9021"
# 11 days after the first date of service: demo-commercial's 30-day window leaves 19 days.
START = dt.datetime(2026, 9, 25, 15, 0, tzinfo=dt.timezone.utc)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime = START):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


def web_config(root: Path, clock: Clock, **overrides) -> dict:
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(root / "instance"),
        "DATABASE_URL": f"sqlite:///{root / 'registry.db'}",
        "ARCHIVE": str(root / "archive"),
        "SECRET_KEY": "test-secret-key",
        "CLOCK": clock,
        "PASSWORD_HASHER": CHEAP_HASHER,
    }
    config.update(overrides)
    return config


def make_app(root: Path, clock: Clock | None = None, **overrides):
    return create_app(web_config(root, clock or Clock(), **overrides))


# The registry's real argon2id code with the cheapest parameters: tests sign in hundreds of times.
CHEAP_HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)


@functools.lru_cache(maxsize=None)
def _password_hash(password: str) -> str:
    return hash_password(password, CHEAP_HASHER)


def add_account(app, username: str, role: str, password: str = PASSWORD) -> None:
    """Create an account directly in the registry (each password is hashed once per test run)."""
    services = app.extensions["packetizer"]
    now = services.now()
    with services.registry.session() as session:
        session.add(User(username=username, role=role, password_hash=_password_hash(password), active=True,
                         created_at=now, created_by="test", password_changed_at=now))


def csrf_token(html: str | bytes) -> str:
    text = html.decode() if isinstance(html, bytes) else html
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', text)
    assert match, "page has no CSRF token"
    return match[1] or match[2]


def sign_in(client, username: str, password: str = PASSWORD, **kwargs):
    token = csrf_token(client.get("/login").data)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token}, **kwargs)


def page_token(client, url: str = "/") -> str:
    """A CSRF token for the signed-in session (one token serves every form of the session)."""
    return csrf_token(client.get(url, follow_redirects=True).data)


def case_form(case_id: str = "RA-WEB-0001", **changes) -> dict:
    """The case form as a person fills it in: the example case with two service lines and an SSN on file."""
    form = {
        "case_id": case_id, "payer_id": "demo-commercial",
        "member.member_id": MEMBER_ID, "member.first_name": MEMBER_NAME[0], "member.last_name": MEMBER_NAME[1],
        "member.dob": "1971-04-09", "member.ssn": MEMBER_SSN,
        "claim.claim_number": "2026091400123", "claim.denial_codes": "CO-197, N54", "claim.denial_date": "2026-09-22",
        "services[0].date_of_service": "2026-09-14", "services[0].place_of_service": "11",
        "services[0].code": "97162", "services[0].modifiers": "GP", "services[0].units": "1",
        "services[0].diagnosis_codes": "M54.16",
        "services[1].date_of_service": "2026-09-18", "services[1].place_of_service": "11",
        "services[1].code": "97110", "services[1].modifiers": "GP", "services[1].units": "3",
        "services[1].diagnosis_codes": "M54.16, M62.81",
        "rendering_provider.name": "Lake Street Physical Therapy", "rendering_provider.npi": "1234567893",
        "referring_provider.name": "Dr. Jane Roe", "referring_provider.npi": "1003000126",
        "late_reason.category": "payer_portal_outage",
        "late_reason.explanation": "The payer portal returned HTTP 503 on September 11-13, 2026; ticket INC-5521.",
        "timeline": "2026-09-11 Portal submission failed with HTTP 503\n2026-09-13 Payer confirmed the outage",
        "medical_necessity": "Acute left lumbar radiculopathy with functional decline; skilled PT required.",
        "contact.name": "Billing desk", "contact.phone": "612-555-0100",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


#: Earlier decided cases, so the outcome charts have patterns to show:
#: (case id, payer, service codes, late-reason category, determination, days to decision).
HISTORY = (
    ("HIST-01", "demo-commercial", "97110 97140", "payer_portal_outage", "approved", 9),
    ("HIST-02", "demo-commercial", "97110", "emergency", "approved", 12),
    ("HIST-03", "demo-commercial", "97162", "coverage_discovered_after_service", "denied", 33),
    ("HIST-04", "priority-health", "97110", "eligibility_unverifiable", "partially_approved", 21),
    ("HIST-05", "priority-health", "97140", "payer_portal_outage", "approved", 6),
    ("HIST-06", "hometown-health", "97162 97110", "coverage_discovered_after_service", "denied", 45),
    ("HIST-07", "hometown-health", "97110", "emergency", "approved", 15),
)


def seed_history(app) -> None:
    """Record :data:`HISTORY` in the registry as the tracking pages would have (case rows, builds, submissions)."""
    services = app.extensions["packetizer"]
    now = services.now()
    submitted = dt.date(2026, 6, 1)
    with services.registry.session() as session:
        for case_id, payer, codes, reason, outcome, days in HISTORY:
            case = CaseRecord(case_id=case_id, payer_id=payer, folder=secrets.token_hex(8),
                              first_date_of_service=dt.date(2026, 5, 20), deadline=dt.date(2026, 6, 19), ready=True,
                              late_reason_category=reason, service_codes=codes, status=outcome,
                              created_at=now, created_by="sam", updated_at=now, updated_by="sam")
            build = Build(created_at=now, built_by="web:sam", folder="history", file_name=f"{case_id}.pdf",
                          report_name="r.json", report_html_name="r.html", sha256="0" * 64, size=1, pages=1)
            case.builds.append(build)
            case.submissions.append(Submission(
                build=build, submitted_on=submitted, channel="fax", reference=None,
                follow_up_due=submitted + dt.timedelta(days=10), recorded_at=now, recorded_by="sam",
                determinations=[Determination(determination=outcome, decided_on=submitted + dt.timedelta(days=days),
                                              recorded_at=now, recorded_by="sam")]))
            session.add(case)


def ssn_docx(folder: Path) -> Path:
    """The example evaluation (a real DOCX) with the patient's SSN typed into it, as intake notes often have."""
    target = folder / "evaluation-with-ssn.docx"
    document = Document(str(EXAMPLE_DOCX))
    document.add_paragraph(f"Insurance intake: SSN {MEMBER_SSN} on file.")
    document.save(str(target))
    return target


def example_pdf(folder: Path) -> Path:
    target = folder / "progress-note.pdf"
    shutil.copyfile(EXAMPLE_PDF, target)
    return target


JOB_STATE = re.compile(r'<section id="job" data-state="(\w+)">')


def follow_job(client, started, *, patience: float = 120.0):
    """Follow a build or preview job from the response that started it to its end, as its page's refresh would.

    ``started`` is the 302 to the job page. Returns the last response: the job page of a build that ended
    (done or failed), or the redirect a finished preview answers with. ``patience`` only bounds a hung job.
    """
    assert started.status_code == 302, started.status_code
    url = started.headers["Location"]
    assert "/jobs/" in url, url
    give_up = time.monotonic() + patience
    while True:
        page = client.get(url)
        if page.status_code == 302:
            return page
        state = JOB_STATE.search(page.get_data(as_text=True))[1]
        if state in ("done", "failed"):
            return page
        assert time.monotonic() < give_up, f"job at {url} still {state}"
        time.sleep(0.1)


def keep_screenshot(page, name: str) -> None:
    """Save a full-page screenshot as ``name`` in $PACKETIZER_SCREENSHOTS (the README's pictures), if set."""
    folder = os.environ.get("PACKETIZER_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def remove_document(client, token: str, pk: int, index: int):
    """Remove a case's document as staff do: the confirmation page names it, the post confirms that one."""
    page = client.get(f"/cases/{pk}/documents/{index}/remove").get_data(as_text=True)
    stored = re.search(r'<input type="hidden" name="file" value="([^"]+)">', page)[1]
    return client.post(f"/cases/{pk}/documents/{index}/remove", data={"csrf_token": token, "file": stored})


def sign_in_page(page, base: str, username: str = "sam") -> None:
    """Sign ``username`` in through the real login form of the server at ``base`` (a Playwright page)."""
    page.goto(f"{base}/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    with page.expect_navigation():
        page.click('button:has-text("Sign in")')
