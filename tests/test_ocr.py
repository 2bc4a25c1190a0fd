"""The Tesseract runner: words, boxes and confidence as a reader of the page would have them."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from packetizer.ocr import read_pictures

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = ["Referral for physical therapy", "Follow up in two weeks"]


def page(path: Path, turn: int = 0) -> dict[str, tuple[int, int, int, int]]:
    """A 1275 x 1650 picture (Letter at 150 dpi) of LINES, turned counterclockwise by ``turn`` degrees;
    returns where each word is drawn, in the coordinates of the picture as saved."""
    font = ImageFont.truetype(FONT, 36)
    image = Image.new("L", (1275, 1650), 255)
    draw = ImageDraw.Draw(image)
    boxes = {}
    for number, line in enumerate(LINES):
        x, y = 150, 200 + number * 80
        for word in line.split():
            boxes[word] = draw.textbbox((x, y), word, font=font)
            draw.text((x, y), word, font=font, fill=0)
            x = boxes[word][2] + 18
    width, height = image.size
    turned = {0: lambda b: b,
              90: lambda b: (b[1], width - b[2], b[3], width - b[0]),
              180: lambda b: (width - b[2], height - b[3], width - b[0], height - b[1]),
              270: lambda b: (height - b[3], b[0], height - b[1], b[2])}[turn]
    if turn:
        image = image.transpose({90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
                                 270: Image.Transpose.ROTATE_270}[turn])
    image.save(path, dpi=(150, 150))
    return {word: turned(box) for word, box in boxes.items()}


def overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_words_come_with_their_boxes_and_a_confidence(tmp_path):
    """This test ensures each word read has a box over where it is drawn, and the page a high confidence."""
    drawn = page(tmp_path / "upright.png")
    (reading,) = read_pictures([tmp_path / "upright.png"], dpi=150)
    text, _ = reading.text()
    assert " ".join(text.split()) == " ".join(LINES)
    assert reading.confidence > 80 and reading.turn == 0
    for word in reading.words:
        assert overlap(word.box, drawn[word.text])


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_a_turned_page_is_read_as_a_reader_turns_it(tmp_path, turn):
    """This test ensures a page scanned sideways or upside down is read upright, with its word boxes still
    pointing at the words in the picture as it is (so that burning hits the right pixels). Tesseract reads
    some sideways lines by itself; a page it reads poorly is turned and read again."""
    drawn = page(tmp_path / "turned.png", turn)
    (reading,) = read_pictures([tmp_path / "turned.png"], dpi=150)
    if turn == 180:
        assert reading.turn == 180
    assert " ".join(reading.text()[0].split()) == " ".join(LINES)
    for word in reading.words:
        assert overlap(word.box, drawn[word.text]), (word.text, word.box, drawn[word.text])


def test_a_known_turn_is_kept_when_a_page_is_read_again(tmp_path):
    """This test ensures a re-reading uses the turn found before, reading the same words."""
    page(tmp_path / "turned.png", 180)
    (again,) = read_pictures([tmp_path / "turned.png"], dpi=150, turns=[180])
    assert again.turn == 180 and "Referral" in again.text()[0]


def test_a_blank_page_is_not_turned_and_read_again(tmp_path):
    """This test ensures a page with no ink reads as nothing, with no confidence figure, and unturned."""
    Image.new("L", (1275, 1650), 255).save(tmp_path / "blank.png", dpi=(150, 150))
    (reading,) = read_pictures([tmp_path / "blank.png"], dpi=150)
    assert reading.words == () and reading.confidence is None and reading.turn == 0
