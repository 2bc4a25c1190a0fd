"""This test ensures a background batch that cannot run tells why in the words of the web app that started it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from packetizer.batch.background import OUT_DIR, BatchJobs, RunSettings

MANIFEST = Path(__file__).parent / "fixtures" / "batch" / "cases.csv"
NOW = dt.datetime(2026, 10, 6, 9, 0, tzinfo=dt.timezone.utc)


def test_an_output_folder_the_server_cannot_write_is_not_told_as_a_command_line_option(tmp_path):
    jobs = BatchJobs(tmp_path / "batches", lambda: NOW)
    batch_id, folder = jobs.new_folder()
    (folder / OUT_DIR).write_text("a file where the batch's output folder should be")
    settings = RunSettings(archive=None, spool=tmp_path / "spool", payers_dir=None, today=NOW.date(),
                           built_by="web:sam", workers=1)
    jobs.start(batch_id, folder, MANIFEST, created_by="sam", settings=settings, total=3)
    status = jobs.wait(batch_id, timeout=60)
    assert status.state == "failed"
    assert status.error.startswith("the server could not write the batch's packets: cannot create the folder")
    assert "--out" not in status.error and str(folder) not in status.error
