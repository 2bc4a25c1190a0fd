"""This test ensures that migration 0003 moves each recorded determination into its own table, and back, on SQLite
and PostgreSQL, keeping every submission and request."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import inspect, select, text

from packetizer.registry import Determination, Submission, current_revision, head_revision, open_registry

from browser.registry_support import NOW, insert_case_row, migrate


def _rows_before_0003(engine) -> None:
    """A decided case and an undecided one, as the tracking pages stored them before 0003."""
    with engine.begin() as conn:
        insert_case_row(conn, "RA-M-1", "f1")
        conn.execute(text(
            "INSERT INTO builds (id, case_pk, created_at, built_by, folder, file_name, report_name, report_html_name, "
            "sha256, size, pages) VALUES (1, 1, :now, 'web:sam', 'x', 'p.pdf', 'r.json', 'r.html', :sha, 1, 1)"),
            {"now": NOW, "sha": "0" * 64})
        conn.execute(text(
            "INSERT INTO submissions (id, case_pk, build_id, submitted_on, channel, follow_up_due, recorded_at, "
            "recorded_by, determination, determination_on, determination_reason, determination_by) VALUES "
            "(1, 1, 1, '2026-09-20', 'fax', '2026-09-30', :now, 'sam', 'approved', '2026-09-28', 'as asked', 'kim'), "
            "(2, 1, 1, '2026-09-22', 'fax', '2026-10-02', :now, 'sam', NULL, NULL, NULL, NULL)"), {"now": NOW})
        conn.execute(text(
            "INSERT INTO info_requests (id, submission_id, requested_on, recorded_at, recorded_by) VALUES "
            "(1, 2, '2026-09-25', :now, 'sam')"), {"now": NOW})


def test_0003_moves_determinations_to_their_table_and_back(db_url):
    reg = open_registry(db_url, migrate=False)
    migrate(reg.engine, "0002")
    _rows_before_0003(reg.engine)
    migrate(reg.engine, "0003")
    assert current_revision(reg.engine) == "0003"
    columns = {c["name"] for c in inspect(reg.engine).get_columns("submissions")}
    assert "determination" not in columns and {"superseded_at", "corrects_id", "correction_reason"} <= columns
    unique = {(table, i["name"]) for table in ("submissions", "info_requests", "determinations")
              for i in inspect(reg.engine).get_indexes(table) if i["unique"]}
    assert unique == {("submissions", "uq_submissions_corrects_id"), ("info_requests", "uq_info_requests_corrects_id"),
                      ("determinations", "uq_determinations_corrects_id"),
                      ("determinations", "uq_determinations_current")}
    with reg.session() as session:
        moved = session.scalars(select(Determination)).all()
        assert [(d.submission_id, d.determination, d.decided_on, d.reason, d.recorded_by, d.current)
                for d in moved] == [(1, "approved", dt.date(2026, 9, 28), "as asked", "kim", True)]
        first, second = session.scalars(select(Submission).order_by(Submission.id))
        assert first.current_determination is moved[0] and second.current_determination is None
        assert [r.requested_on for r in second.current_info_requests] == [dt.date(2026, 9, 25)]

        # A corrected submission and request: after a downgrade only the records as they stand remain.
        correction = Submission(id=3, case_pk=1, build_id=1, submitted_on=dt.date(2026, 9, 23), channel="portal",
                                follow_up_due=dt.date(2026, 10, 3), recorded_at=NOW, recorded_by="kim",
                                corrects_id=2, correction_reason="sent a day later")
        second.superseded_at = NOW
        session.add(correction)
        session.flush()
        for request in list(second.info_requests):
            request.submission = correction

    migrate(reg.engine, "0002", down=True)
    with reg.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, determination, determination_on, determination_reason, determination_by "
                                 "FROM submissions ORDER BY id")).all()
        assert [tuple(str(v) if isinstance(v, dt.date) else v for v in row) for row in rows] == [
            (1, "approved", "2026-09-28", "as asked", "kim"), (3, None, None, None, None)]
        assert conn.execute(text("SELECT submission_id FROM info_requests")).all() == [(3,)]
    assert "determinations" not in inspect(reg.engine).get_table_names()
    migrate(reg.engine, "head")  # and forward again, to whatever comes after
    assert current_revision(reg.engine) == head_revision()
    reg.close()


def test_0004_adds_the_jobs_table_with_its_partial_unique_index_and_takes_it_away(db_url):
    reg = open_registry(db_url, migrate=False)
    migrate(reg.engine, "0003")
    migrate(reg.engine, "0004")
    assert current_revision(reg.engine) == "0004"
    unique = {i["name"] for i in inspect(reg.engine).get_indexes("jobs") if i["unique"]}
    assert unique == {"uq_jobs_active"}
    migrate(reg.engine, "0003", down=True)
    assert "jobs" not in inspect(reg.engine).get_table_names()
    reg.close()
