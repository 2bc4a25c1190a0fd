"""``packetizer build --kind appeal``: the appeal of a denied retro request, read back from its PDF (SPEC section 10).

One appeal of the example case is built for the module (with a denial letter dated outside the relevance window
and carrying the member's phone number); the blocking tests stop before anything is converted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from packetizer.cli import main
from packetizer.render import html_to_pdf
from tests.packet_checks import assert_packet_consistent, index_rows, page_texts

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "lake-street"
TODAY = "2026-10-25"
REASON = "Documentation does not show the portal outage"
POINTS = ("The payer's own outage notice dated September 13, 2026 shows the portal was down for three days.",
          "Ticket INC-5521, opened by the payer's provider line, confirms the outage before the first visit.")
MEMBER_PHONE = "(612) 555-0147"      # withheld in the example case (member.phone)


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def denial_letter_pdf() -> bytes:
    """A one-page denial letter as a payer sends it, made with the packet's own renderer."""
    html = ("<html><body><h1>Notice of adverse determination</h1>"
            "<p>Reference FAX-7781. Your request for retroactive authorization is DENIED.</p>"
            f"<p>Reason: {REASON}.</p><p>Member phone on file: {MEMBER_PHONE}.</p>"
            "<p>You may appeal within 60 days of this notice.</p></body></html>")
    return html_to_pdf(html).pdf


def appeal_case(folder: Path, *, level: int = 1, decision_date: str = "2026-10-20") -> Path:
    """The example case with the payer's decision, the argument and the denial letter."""
    shutil.copytree(EXAMPLE, folder)
    (folder / "notes" / "2026-10-20-denial.pdf").write_bytes(denial_letter_pdf())
    path = folder / "case.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["prior_request"] = {"submitted": "2026-10-06", "reference": "FAX-7781", "decision": "denied",
                            "decision_date": decision_date, "reason": REASON, "denial_codes": ["CO-197"]}
    doc["appeal"] = {"argument": "\n\n".join(POINTS), "level": level}
    doc["attachments"].append({"file": "notes/2026-10-20-denial.pdf", "kind": "denial_letter",
                               "date": decision_date, "title": "Payer decision letter"})
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def appeal(tmp_path_factory):
    """The built appeal: (build --json result, page texts, out folder, env)."""
    root = tmp_path_factory.mktemp("appeal")
    case = appeal_case(root / "case")
    env = {"PACKETIZER_ARCHIVE": str(root / "archive"), "PACKETIZER_SPOOL": str(root / "spool"),
           "SOURCE_DATE_EPOCH": "1761393600"}     # 2026-10-25 12:00 UTC: the letter is dated "today"
    result = run("build", str(case), "--kind", "appeal", "--out", str(root / "out"), "--today", TODAY,
                 "--json", "--archive", env=env)
    assert result.exit_code == 0, result.output + result.stderr
    built = json.loads(result.stdout)
    return built, page_texts(Path(built["packet"])), root, env


def flat(text: str) -> str:
    return " ".join(text.split())


def test_appeal_letter_names_the_decision_quotes_the_reason_and_rebuts_it(appeal):
    """This test ensures the appeal letter (page 1 on) gives the level, the reference, the quoted reason,
    each point of the argument, what is asked and the appeal deadline, in a file named APPEAL_..."""
    built, texts, _, _ = appeal
    assert Path(built["packet"]).name == "APPEAL_demo-commercial_RA-2026-0001_2026-09-14.pdf"
    assert built["kind"] == "appeal"
    assert built["sections"][0]["title"] == "Appeal letter"
    letter = flat(" ".join(texts[: built["sections"][0]["last_page"]]))
    assert "Level 1 appeal of a retroactive authorization decision" in letter
    assert "reference FAX-7781" in letter and "Denied on October 20, 2026" in letter
    assert f"\u201c{REASON}\u201d" in letter
    for point in POINTS:
        assert flat(point) in letter
    assert "reverse its decision" in letter
    # 60 calendar days from the decision (demo-commercial's appeal window)
    assert "which ends on December 19, 2026" in letter
    assert built["appeal_deadline"] == "2026-12-19" and built["appeal_days_left"] == 55
    assert "mail (Demo Commercial Health Plan, Appeals Unit" in letter


def test_denial_letter_is_exhibit_a_and_the_index_matches_the_pages(appeal):
    """This test ensures the denial letter, dated outside the relevance window, is the first exhibit (redacted),
    the request's narrative and summary follow the letter, and every printed page number is right."""
    built, texts, _, _ = appeal
    sections = built["sections"]
    titles = [s["title"] for s in sections]
    assert titles[1:3] == ["Request narrative", "Service summary"]
    assert titles[3] == "Exhibit A \u2014 Payer decision letter, October 20, 2026"
    assert len(titles) == 7   # the example's three exhibits follow the denial letter
    exhibit_a = texts[sections[3]["first_page"] - 1]
    assert "Notice of adverse determination" in exhibit_a and "FAX-7781" in exhibit_a
    everything = "\n".join(texts)
    assert MEMBER_PHONE not in everything and "555-0147" not in everything
    letter_text = "\n".join(texts[: sections[0]["last_page"]])
    assert [(a, b) for _, a, b in index_rows(letter_text)] == [(s["first_page"], s["last_page"]) for s in sections]
    assert_packet_consistent(Path(built["packet"]), "RA-2026-0001", sections, {
        "Appeal letter": "Level 1 appeal", "Request narrative": "1. Services delivered",
        "Service summary": "Diagnoses (ICD-10-CM)", "Exhibit A": "Notice of adverse determination",
        "Exhibit B": "Physical Therapy Initial Evaluation"})
    report = json.loads(Path(built["report"]).read_text())
    included = [a["kind"] for a in report["included"]["attachments"]]
    assert included[0] == "denial_letter"
    assert {"prior_request", "appeal"} <= set(report["included"]["fields"])
    assert not any(w["field"].startswith(("prior_request", "appeal")) for w in report["withheld"]["fields"])


def test_narrative_adds_the_request_and_the_decision_to_the_chronology(appeal):
    """This test ensures the request narrative of an appeal tells when the request went and when it was denied."""
    built, texts, _, _ = appeal
    narrative = flat(" ".join(texts[sections_range(built, "Request narrative")]))
    assert "October 6, 2026 \u2014 Retroactive authorization request sent (reference FAX-7781)." in narrative
    assert "October 20, 2026 \u2014 Denied by the payer" in narrative


def sections_range(built: dict, title: str) -> slice:
    s = next(s for s in built["sections"] if s["title"] == title)
    return slice(s["first_page"] - 1, s["last_page"])


def test_the_archive_records_the_appeal_kind(appeal):
    """This test ensures the archived manifest says the version is an appeal, and verify finds it intact."""
    built, _, _, env = appeal
    listed = run("archive", "list", "--json", env=env)
    assert listed.exit_code == 0
    assert built["sha256"] in listed.stdout
    verify = run("archive", "verify", "RA-2026-0001", env=env)
    assert verify.exit_code == 0, verify.output
    manifest = json.loads(next(Path(env["PACKETIZER_ARCHIVE"]).rglob("manifest.json")).read_text())
    assert manifest["kind"] == "appeal"
    assert manifest["packet"]["file_name"].startswith("APPEAL_")


def test_appeal_blocked_once_the_window_has_passed(tmp_path):
    """This test ensures build --kind appeal stops after the appeal deadline, writes nothing, and an override
    reason is what lets it through (like a late request)."""
    case = appeal_case(tmp_path / "case")
    result = run("build", str(case), "--kind", "appeal", "--out", str(tmp_path / "out"), "--today", "2026-12-20")
    assert result.exit_code == 1
    assert "appeal_deadline_passed" in result.stderr and "2026-12-19" in result.stderr
    assert "--override-reason" in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    # the request's own window is not what blocks an appeal: on the last day the appeal is ready
    check = run("check", str(case), "--today", "2026-12-19", "--json")
    assert json.loads(check.stdout)["appeal_days_left"] == 0


def test_appeal_blocked_when_the_policy_allows_none_or_not_that_level(tmp_path):
    """This test ensures a payer whose policy allows no appeal, or fewer levels, blocks the appeal build."""
    payers = tmp_path / "payers"
    payers.mkdir()
    policy = yaml.safe_load((REPO / "payers" / "demo-commercial.yaml").read_text())
    policy["appeal"] = {"allowed": False}
    (payers / "demo-commercial.yaml").write_text(yaml.safe_dump(policy))
    case = appeal_case(tmp_path / "case")
    result = run("build", str(case), "--kind", "appeal", "--out", str(tmp_path / "out"), "--today", TODAY,
                 "--payers", str(payers))
    assert result.exit_code == 1 and "does not accept appeals" in result.stderr

    level3 = appeal_case(tmp_path / "case3", level=3)
    result = run("build", str(level3), "--kind", "appeal", "--out", str(tmp_path / "out"), "--today", TODAY)
    assert result.exit_code == 1
    assert "appeal_level_not_allowed" in result.stderr and "allows 2 levels" in result.stderr


def test_check_json_reports_the_appeal_deadline_only_for_a_decided_request(tmp_path):
    """This test ensures check --json adds appeal_deadline and appeal_days_left when prior_request.decision is
    set, the readable check names the appeal channel, and a case without a decision has no appeal keys."""
    case = appeal_case(tmp_path / "case")
    out = json.loads(run("check", str(case), "--today", "2026-10-10", "--json").stdout)
    assert out["appeal_deadline"] == "2026-12-19" and out["appeal_days_left"] == 70
    assert out["deadline"] == "2026-10-14"   # the request's own deadline is still reported
    text = run("check", str(case), "--today", "2026-10-10").stdout
    assert "appeal:   deadline 2026-12-19 (70 days left" in text and "by mail (Demo Commercial" in text
    plain = json.loads(run("check", str(EXAMPLE / "case.yaml"), "--today", "2026-10-10", "--json").stdout)
    assert "appeal_deadline" not in plain and "appeal_days_left" not in plain


def test_case_without_a_decision_cannot_be_appealed(tmp_path):
    """This test ensures an appeal build of a case with no recorded decision says what to add, in field terms."""
    shutil.copytree(EXAMPLE, tmp_path / "case")
    result = run("build", str(tmp_path / "case" / "case.yaml"), "--kind", "appeal", "--out", str(tmp_path / "o"),
                 "--today", TODAY)
    assert result.exit_code == 1
    assert "prior_request.decision" in result.stderr


def test_the_argument_is_split_into_points_by_paragraph_or_numbered_list():
    """This test ensures the rebuttal is point by point however staff typed the points: paragraphs, or a list."""
    from packetizer.model import Appeal

    assert Appeal(argument="First point\ncontinues here.\n\nSecond point.").points == (
        "First point continues here.", "Second point.")
    assert Appeal(argument="1. The notice shows it.\n2) The ticket confirms it.\n- A third.").points == (
        "The notice shows it.", "The ticket confirms it.", "A third.")
    assert Appeal(argument="One paragraph\nover two lines.").points == ("One paragraph over two lines.",)


def test_an_appeal_built_into_the_requests_folder_keeps_the_request_packet_and_its_report(appeal, tmp_path):
    """The appeal's files are named for the appeal: building it where the request was built removes nothing
    of the request and writes its own disclosure report."""
    built, _, root, env = appeal
    out = root / "out"
    request = run("build", str(root / "case" / "case.yaml"), "--out", str(out), "--today", "2026-10-06",
                  "--json", "--override-reason", "request packet rebuilt for the record", env=env)
    assert request.exit_code == 0, request.output + request.stderr
    names = sorted(p.name for p in out.iterdir())
    assert Path(built["packet"]).name in names and Path(json.loads(request.stdout)["packet"]).name in names
    assert any(n.startswith("APPEAL_") and n.endswith(".disclosure.json") for n in names)
    assert any(n.startswith("RETRO-AUTH_") and n.endswith(".disclosure.json") for n in names)
