"""The packet as a fax server takes it: one multi-page TIFF, CCITT Group 4, 204x196 dpi, 1728 pixels wide.

Each page is rendered by PDFium (as the OCR path renders pages) so that it is
1728 pixels wide (the ITU-T T.4 scan line of an A4/Letter fax), at 196 lines per
inch (fine mode), then thresholded to one bit: no dithering, which would blur
small type. A page wider than tall is turned a quarter so it fills the width.
"""

from __future__ import annotations

import io

FAX_WIDTH = 1728          # pixels per scan line (ITU-T T.4)
FAX_DPI = (204, 196)      # fine mode: horizontal, vertical
#: Grey levels at or above this become white. Anti-aliased glyph edges are kept dark enough to stay joined.
THRESHOLD = 176


def fax_tiff(pdf: bytes) -> bytes:
    """Every page of ``pdf`` as one multi-page Group 4 TIFF (bytes)."""
    import pypdfium2 as pdfium
    from PIL import Image

    frames: list[Image.Image] = []
    document = pdfium.PdfDocument(pdf)
    try:
        for index in range(len(document)):
            page = document[index]
            try:
                width, height = page.get_size()
                rotation = 90 if width > height else 0
                shown_w, shown_h = (height, width) if rotation else (width, height)
                scale = FAX_WIDTH / shown_w
                bitmap = page.render(scale=scale, rotation=rotation, grayscale=True)
                image = bitmap.to_pil().convert("L")
            finally:
                page.close()
            lines = round(shown_h / 72.0 * FAX_DPI[1])
            if image.size != (FAX_WIDTH, lines):
                image = image.resize((FAX_WIDTH, lines), Image.Resampling.LANCZOS)
            frames.append(image.point(lambda v: 255 if v >= THRESHOLD else 0, mode="1"))
    finally:
        document.close()
    out = io.BytesIO()
    frames[0].save(out, format="TIFF", save_all=True, append_images=frames[1:], compression="group4",
                   dpi=FAX_DPI)
    return out.getvalue()


__all__ = ["FAX_DPI", "FAX_WIDTH", "fax_tiff"]
