"""Regenerate the example's clinical notes (the committed files were made with this script).

    .venv/bin/python examples/lake-street/make_notes.py

The notes are written by the Packetizer team for the example; every person and number is fictional.
"""

from pathlib import Path

from docx import Document
from docx.shared import Pt
import weasyprint

HERE = Path(__file__).resolve().parent / "notes"

PROGRESS_NOTE = """<!DOCTYPE html><html><head><meta charset="utf-8"><style>
@page { size: Letter; margin: 0.7in; }
body { font-family: "DejaVu Serif", serif; font-size: 10.5pt; line-height: 1.35; }
h1 { font-size: 14pt; margin: 0; } .hdr { border-bottom: 1pt solid #000; margin-bottom: 10pt; }
table { border-collapse: collapse; width: 100%; } td, th { border: 0.5pt solid #444; padding: 3pt; }
</style></head><body>
<div class="hdr"><h1>Lake Street Physical Therapy &mdash; Progress Note</h1>
<p>Patient: Ana Ortiz &nbsp; DOB: 04/09/1971 &nbsp; Member ID: XJH123456789<br>
Date of visit: 09/18/2026 &nbsp; Visit 2 of 8 &nbsp; Therapist: Lena Voss, PT, DPT</p></div>
<h2>Subjective</h2>
<p>Patient reports left-sided low back pain radiating to the posterior thigh, now 5/10 (was 7/10 at
evaluation on 09/14). Sitting tolerance improved to 35 minutes. Sleeping through the night twice
this week. Still unable to lift more than 10 lb at work. Home exercise program done daily.</p>
<h2>Objective</h2>
<table>
<tr><th>Measure</th><th>09/14/2026</th><th>09/18/2026</th></tr>
<tr><td>Pain (NPRS)</td><td>7/10</td><td>5/10</td></tr>
<tr><td>Straight-leg raise, left</td><td>positive at 40&deg;</td><td>positive at 55&deg;</td></tr>
<tr><td>Lumbar flexion</td><td>fingertips to knee</td><td>fingertips to mid-shin</td></tr>
<tr><td>Oswestry Disability Index</td><td>46%</td><td>38%</td></tr>
</table>
<h2>Treatment</h2>
<p>97110 Therapeutic exercise x3 units: nerve glides, prone press-ups, core stabilisation progression,
hip hinge training. 97140 Manual therapy x1 unit: grade III PA mobilisation L4-L5, soft-tissue work to
left lumbar paraspinals.</p>
<h2>Assessment</h2>
<p>Improving centralisation of symptoms with directional preference for extension. Functional limits
in sitting, lifting and work duties persist. Skilled PT remains necessary to progress loading safely and
prevent chronicity.</p>
<h2>Plan</h2>
<p>Continue plan of care 2x/week for 3 more weeks. Progress lifting mechanics toward 30 lb work demand.
Re-assess ODI at visit 6.</p>
<p>Electronically signed: Lena Voss, PT, DPT &mdash; 09/18/2026 17:42</p>
<div style="break-before: page"></div>
<h2>Flowsheet (continued)</h2>
<table>
<tr><th>Exercise</th><th>Sets x reps</th><th>Load</th><th>Response</th></tr>
<tr><td>Prone press-up</td><td>3 x 10</td><td>body weight</td><td>centralised to buttock</td></tr>
<tr><td>Sciatic nerve glide, left</td><td>2 x 15</td><td>&mdash;</td><td>no peripheralisation</td></tr>
<tr><td>Bird-dog</td><td>3 x 8 each</td><td>&mdash;</td><td>good control</td></tr>
<tr><td>Hip hinge with dowel</td><td>3 x 10</td><td>&mdash;</td><td>cues for neutral spine</td></tr>
<tr><td>Deadlift from blocks</td><td>2 x 8</td><td>10 lb</td><td>pain 4/10, settled in 2 min</td></tr>
</table>
</body></html>"""


def progress_note() -> None:
    pdf = weasyprint.HTML(string=PROGRESS_NOTE).write_pdf()
    (HERE / "2026-09-18-progress-note.pdf").write_bytes(pdf)


def evaluation() -> None:
    doc = Document()
    doc.styles["Normal"].font.size = Pt(10.5)
    section = doc.sections[0]
    section.header.paragraphs[0].text = "Lake Street Physical Therapy - Uptown clinic - Initial Evaluation"
    section.footer.paragraphs[0].text = "Confidential clinical record"
    doc.add_heading("Physical Therapy Initial Evaluation", level=1)
    doc.add_paragraph("Patient: Ana Ortiz    DOB: 04/09/1971    Member ID: XJH123456789")
    doc.add_paragraph("Date of evaluation: 09/14/2026    Referring: Dr. Jane Roe    Therapist: Lena Voss, PT, DPT")
    doc.add_heading("History", level=2)
    doc.add_paragraph(
        "55-year-old warehouse supervisor with left low back and posterior thigh pain for 3 weeks "
        "after lifting a 40 lb box on 08/22/2026. Pain worse with sitting and bending; numbness in "
        "the lateral left calf intermittently. No bowel or bladder change. MRI not yet performed."
    )
    doc.add_heading("Examination", level=2)
    table = doc.add_table(rows=1, cols=3)
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, ("Test", "Result", "Comment")):
        cell.text = text
    for row in (
        ("Pain (NPRS)", "7/10", "worst 9/10 after sitting 20 min"),
        ("Straight-leg raise, left", "positive at 40 degrees", "reproduces thigh pain"),
        ("Slump test, left", "positive", "eased by cervical extension"),
        ("Myotomes L4-S1", "4+/5 left EHL", "otherwise 5/5"),
        ("Oswestry Disability Index", "46%", "severe disability band"),
    ):
        cells = table.add_row().cells
        for cell, text in zip(cells, row):
            cell.text = text
    doc.add_heading("Assessment", level=2)
    doc.add_paragraph(
        "Signs and symptoms consistent with left L5 radiculopathy (M54.16) with muscle weakness "
        "(M62.81). Good rehabilitation potential. Skilled PT indicated to reduce radicular symptoms, "
        "restore sitting and lifting tolerance and return to full work duties."
    )
    doc.add_heading("Plan of care", level=2)
    for item in (
        "Therapeutic exercise (97110): directional preference, nerve glides, core stabilisation",
        "Manual therapy (97140): lumbar mobilisation, soft-tissue techniques",
        "Frequency 2x/week for 4 weeks; re-evaluate at visit 8",
        "Goals: pain <= 2/10, ODI <= 20%, sit 60 minutes, lift 30 lb floor to waist",
    ):
        doc.add_paragraph(item, style="List Bullet")
    doc.add_paragraph("Patient contact on file: home (612) 555-0147. MRN LS-0048812.")
    doc.add_paragraph("Signed: Lena Voss, PT, DPT - 09/14/2026")
    doc.core_properties.author = "Packetizer example"
    doc.core_properties.title = "Initial evaluation"
    doc.save(HERE / "2026-09-14-evaluation.docx")


if __name__ == "__main__":
    progress_note()
    evaluation()
