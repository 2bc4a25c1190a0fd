"""Word (.docx) notes -> escaped HTML fragments for the exhibit template.

python-docx opens the package; the body is then read straight from its XML in
document order, because python-docx's paragraph and table lists lose the
interleaving, skip text inside tracked insertions and content controls, and
repeat the text of merged cells. Every piece of text is HTML-escaped; the only
markup added is a fixed set of tags whose attributes hold numbers we computed.
Pictures are re-encoded from pixels (no metadata) and inlined as data: URIs.
Footnotes and endnotes follow the body, as notes; comments, deleted text and
hidden text are not shown, as in print.
"""

from __future__ import annotations

import base64
import html
import io
import re
import zipfile

import docx
from docx.oxml.parser import parse_xml

from ..errors import IngestError, LimitExceeded
from ..limits import (
    MAX_DOCX_IMAGES,
    MAX_DOCX_PARAGRAPHS,
    MAX_DOCX_TABLE_NESTING,
    MAX_DOCX_UNCOMPRESSED_BYTES,
    MAX_DOCX_XML_PART_BYTES,
)
from .image import clean_image

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_A = "http://schemas.openxmlformats.org/drawingml/2006/main"
_V = "urn:schemas-microsoft-com:vml"
_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"


def _w(tag: str) -> str:
    return f"{{{_W}}}{tag}"


_P, _TBL, _TR, _TC, _R_RUN = _w("p"), _w("tbl"), _w("tr"), _w("tc"), _w("r")
_VAL = _w("val")
# Elements whose children continue the surrounding block or run sequence.
_BLOCK_WRAPPERS = {_w("sdt"): _w("sdtContent"), _w("customXml"): None}
_RUN_WRAPPERS = {
    _w("hyperlink"), _w("ins"), _w("smartTag"), _w("fldSimple"), _w("customXml"),
    _w("moveTo"), _w("dir"), _w("bdo"), _w("sdtContent"),
}
_FALSE = {"0", "false", "off", "none"}
_HEADING_TAGS = {1: "h2", 2: "h3"}   # Heading 3 to 6 share h4
# Legacy Wingdings check boxes (w:sym) that carry meaning on forms.
_WINGDINGS = {"F0FE": "\u2612", "F078": "\u2612", "F0A8": "\u2610", "F06F": "\u2610", "F0FC": "\u2713", "F0FB": "\u2717"}
_LIST_STYLE_LEVEL = re.compile(r"^list(?: bullet| number| continue)?\s*(\d)$", re.I)
_OL_CLASSES = {
    "lowerLetter": "docx-lower-alpha", "upperLetter": "docx-upper-alpha",
    "lowerRoman": "docx-lower-roman", "upperRoman": "docx-upper-roman",
}
_MAX_LIST_LEVEL = 8   # Word's own maximum ilvl
# Marks a manual page break inside run content; NUL cannot occur in XML text.
_PAGE_BREAK = "\x00page\x00"
_PAGE_BREAK_HTML = '<div class="page-break"></div>'


EMPTY_NOTICE = '<p class="muted">[This document has no visible content.]</p>'


def docx_to_html(data: bytes, *, name: str) -> str:
    """Convert a DOCX file to an HTML fragment: header, body in document order, footer.

    Raises:
        LimitExceeded: uncompressed size, XML part size, paragraph and row
            count, image count or table nesting over their limits.
        IngestError: not a readable Word document.
    """
    _check_package(data, name)
    try:
        document = docx.Document(io.BytesIO(data))
        body = document.element.body
    except Exception:  # noqa: BLE001 - missing parts, bad XML, wrong content type: never a traceback
        raise IngestError("is damaged and cannot be read", subject=name) from None

    count = sum(1 for _ in body.iter(_P, _TR))
    if count > MAX_DOCX_PARAGRAPHS:
        raise LimitExceeded(
            f"{count} paragraphs and table rows > MAX_DOCX_PARAGRAPHS ({MAX_DOCX_PARAGRAPHS})", subject=name
        )
    converter = _Converter(document, name)
    parts = []
    header, footer = converter.header_footer()
    if header:
        parts.append(f'<div class="docx-header">{header}</div>')
    main = converter.blocks(body, document.part, depth=0)
    # An empty document still becomes a page, saying so, rather than a blank one.
    parts.append(main if main.strip() else EMPTY_NOTICE)
    notes = converter.notes_html()
    if notes:
        parts.append(f'<div class="docx-notes">{notes}</div>')
    if footer:
        parts.append(f'<div class="docx-footer">{footer}</div>')
    return "\n".join(parts)


def _check_package(data: bytes, name: str) -> None:
    """Refuse zip bombs before python-docx inflates anything.

    zipfile stops inflating a member at its declared size (and then fails the
    CRC check), so the declared sizes are a real bound.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            members = package.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise IngestError("is damaged and cannot be read", subject=name) from None
    total = sum(member.file_size for member in members)
    if total > MAX_DOCX_UNCOMPRESSED_BYTES:
        raise LimitExceeded(
            f"{total} bytes uncompressed > MAX_DOCX_UNCOMPRESSED_BYTES ({MAX_DOCX_UNCOMPRESSED_BYTES})", subject=name
        )
    for member in members:
        if member.filename.endswith((".xml", ".rels")) and member.file_size > MAX_DOCX_XML_PART_BYTES:
            raise LimitExceeded(
                f"one XML part is {member.file_size} bytes > MAX_DOCX_XML_PART_BYTES ({MAX_DOCX_XML_PART_BYTES})", subject=name
            )


def _on(element) -> bool:
    """A WordprocessingML toggle (w:b, w:i, ...): present and not switched off."""
    return element is not None and element.get(_VAL, "true").lower() not in _FALSE


def _attr(element, path: str, default=None):
    found = element.find(path) if element is not None else None
    return found.get(_VAL, default) if found is not None else default


class _Converter:
    """Holds what the whole document shares: styles, numbering, list counters, image budget."""

    def __init__(self, document, name: str):
        self.name = name
        self.document = document
        self.styles = self._read_styles(document)
        self.numbering = self._read_numbering(document)
        self.counters: dict[tuple[str, int], int] = {}
        self.images = 0
        self.image_cache: dict[tuple[int, str], str] = {}
        self.notes = {kind: self._read_notes(document, kind) for kind in ("footnote", "endnote")}
        self.cited: list[tuple[str, str, str]] = []   # (kind, note id, mark) in citation order
        self.marks: dict[tuple[str, str], str] = {}
        self.current_mark = ""

    # -- document-wide tables ------------------------------------------------

    @staticmethod
    def _read_styles(document) -> dict[str, dict]:
        """styleId -> {name, based_on, num_id, ilvl, outline}."""
        styles: dict[str, dict] = {}
        try:
            root = document.styles.element
        except Exception:  # noqa: BLE001 - a broken styles part only loses headings and lists
            return styles
        for style in root.iter(_w("style")):
            style_id = style.get(_w("styleId"))
            if not style_id:
                continue
            ppr = style.find(_w("pPr"))
            styles[style_id] = {
                "name": (_attr(style, _w("name"), "") or "").strip().lower(),
                "based_on": _attr(style, _w("basedOn")),
                "num_id": _attr(ppr, f"{_w('numPr')}/{_w('numId')}"),
                "ilvl": _attr(ppr, f"{_w('numPr')}/{_w('ilvl')}"),
                "outline": _attr(ppr, _w("outlineLvl")),
            }
        return styles

    @staticmethod
    def _read_numbering(document) -> dict[str, dict[int, tuple[str, int]]]:
        """numId -> {ilvl: (numFmt, start)}, with level overrides applied."""
        try:
            root = document.part.numbering_part.element
        except Exception:  # noqa: BLE001 - no numbering part: lists fall back to style names
            return {}
        abstract: dict[str, dict[int, tuple[str, int]]] = {}
        for node in root.iter(_w("abstractNum")):
            levels = {}
            for lvl in node.iter(_w("lvl")):
                levels[_int(lvl.get(_w("ilvl")), 0)] = (
                    _attr(lvl, _w("numFmt"), "decimal"),
                    _int(_attr(lvl, _w("start")), 1),
                )
            abstract[node.get(_w("abstractNumId"))] = levels
        numbering = {}
        for num in root.iter(_w("num")):
            levels = dict(abstract.get(_attr(num, _w("abstractNumId")), {}))
            for override in num.iter(_w("lvlOverride")):
                level = _int(override.get(_w("ilvl")), 0)
                start = _attr(override, _w("startOverride"))
                if start is not None and level in levels:
                    levels[level] = (levels[level][0], _int(start, 1))
            numbering[num.get(_w("numId"))] = levels
        return numbering

    @staticmethod
    def _read_notes(document, kind: str) -> dict[str, tuple[object, object]]:
        """Note id -> (w:footnote or w:endnote element, its part); separators left out.

        python-docx has no footnote API, so the part is found by relationship
        type and parsed with python-docx's own (entity-safe) parser.
        """
        notes = {}
        try:
            for rel in document.part.rels.values():
                if rel.is_external or not rel.reltype.endswith(f"/{kind}s"):
                    continue
                part = rel.target_part
                root = parse_xml(part.blob)
                for note in root.iter(_w(kind)):
                    if note.get(_w("type")) in (None, "normal"):
                        notes[note.get(_w("id"))] = (note, part)
        except Exception:  # noqa: BLE001 - unreadable notes part: the body still converts
            return {}
        return notes

    def _cite(self, kind: str, note_id: str | None) -> str:
        """The mark for a note reference (1, 2... for footnotes; i, ii... for endnotes)."""
        if note_id not in self.notes[kind]:
            return ""
        key = (kind, note_id)
        if key not in self.marks:
            number = sum(1 for k in self.marks if k[0] == kind) + 1
            self.marks[key] = str(number) if kind == "footnote" else _roman(number)
            self.cited.append((kind, note_id, self.marks[key]))
        return f"<sup>{self.marks[key]}</sup>"

    def notes_html(self) -> str:
        """The cited notes, in order of first citation (a note may cite another)."""
        blocks = []
        index = 0
        while index < len(self.cited):
            kind, note_id, mark = self.cited[index]
            index += 1
            element, part = self.notes[kind][note_id]
            self.current_mark = mark
            blocks.append(self.blocks(element, part, depth=0))
        return "\n".join(blocks)

    def _style_chain(self, style_id: str | None):
        """The style and its ancestors (basedOn), guarding against loops."""
        seen = set()
        while style_id and style_id not in seen and style_id in self.styles:
            seen.add(style_id)
            yield self.styles[style_id]
            style_id = self.styles[style_id]["based_on"]

    # -- header and footer -----------------------------------------------------

    def header_footer(self) -> tuple[str, str]:
        """The first section's default header and footer, as HTML (empty when absent)."""
        try:
            section = self.document.sections[0]
        except IndexError:
            return "", ""
        result = []
        for part_holder in (section.header, section.footer):
            # is_linked_to_previous on the first section means "none"; asking
            # for .part would create an empty definition.
            if part_holder.is_linked_to_previous:
                result.append("")
                continue
            part = part_holder.part
            result.append(self.blocks(part.element, part, depth=0))
        return result[0], result[1]

    # -- blocks ------------------------------------------------------------------

    def blocks(self, container, part, depth: int) -> str:
        """Paragraphs, lists and tables of one container (body, cell, header) in document order."""
        out: list[str] = []
        lists = _Lists(out)
        last_empty = False
        for element in _block_children(container):
            if element.tag == _TBL:
                lists.close()
                out.append(self.table(element, part, depth))
                last_empty = False
            elif element.tag == _P:
                kind, level, tag, value, content = self.paragraph(element, part)
                if kind == "item":
                    lists.item(level, tag, value, content)
                    last_empty = False
                    continue
                lists.close()
                if kind == "page":
                    if out:   # a break before any content would only add a blank page
                        out.append(content)
                    last_empty = True   # no spacer paragraph at the top of the new page
                    continue
                if kind == "empty":
                    # Word users space text with empty paragraphs; keep one, not a run of them.
                    if not last_empty and out:
                        out.append('<p class="docx-empty"></p>')
                    last_empty = True
                    continue
                out.append(content)
                last_empty = False
        lists.close()
        while out and out[-1] in ('<p class="docx-empty"></p>', _PAGE_BREAK_HTML):
            out.pop()
        return "\n".join(out)

    def paragraph(self, p, part):
        """Classify one paragraph: ("item" | "block" | "empty" | "page", level, list tag, number, html)."""
        ppr = p.find(_w("pPr"))
        style_id = _attr(ppr, _w("pStyle"))
        content = self.inline(p, part)
        if _PAGE_BREAK in content:
            # A paragraph holding only a page break (Word's Ctrl+Enter) starts a
            # new page; a break in the middle of text becomes a line break.
            if not re.sub(r"<br>|\s", "", content.replace(_PAGE_BREAK, "")):
                return "page", 0, "", None, _PAGE_BREAK_HTML
            content = content.replace(_PAGE_BREAK, "<br>")
        if not content.strip():
            return "empty", 0, "", None, ""

        num_id, ilvl = _attr(ppr, f"{_w('numPr')}/{_w('numId')}"), _attr(ppr, f"{_w('numPr')}/{_w('ilvl')}")
        outline = _attr(ppr, _w("outlineLvl"))
        style_name = ""
        for index, style in enumerate(self._style_chain(style_id)):
            if index == 0:
                style_name = style["name"]
            num_id = num_id if num_id is not None else style["num_id"]
            ilvl = ilvl if ilvl is not None else style["ilvl"]
            outline = outline if outline is not None else style["outline"]
            heading = re.fullmatch(r"heading ([1-9])", style["name"])
            if heading and outline is None:
                outline = str(int(heading.group(1)) - 1)
            if style["name"] == "title" and outline is None:
                outline = "0"

        level = _int(outline, 9)
        if level < 9:   # 9 is "body text"
            tag = _HEADING_TAGS.get(level + 1, "h4")
            return "block", 0, "", None, f"<{tag}>{content}</{tag}>"

        if num_id is not None and num_id != "0":
            level = min(max(_int(ilvl, 0), 0), _MAX_LIST_LEVEL)
            named = _LIST_STYLE_LEVEL.match(style_name)
            if named and level == 0:
                # "List Bullet 2" is its own single-level list, indented one step.
                level = min(int(named.group(1)) - 1, _MAX_LIST_LEVEL)
            fmt, start = self.numbering.get(num_id, {}).get(_int(ilvl, 0), (None, 1))
            if fmt is None:
                fmt = "decimal" if "number" in style_name else "bullet"
            if fmt in ("bullet", "none"):
                return "item", level, "ul", None, content
            value = self._count(num_id, _int(ilvl, 0), start)
            return "item", level, f"ol:{_OL_CLASSES.get(fmt, '')}", value, content

        jc = _attr(ppr, _w("jc"))
        css = {"center": ' class="docx-center"', "right": ' class="docx-right"', "end": ' class="docx-right"'}.get(jc or "", "")
        return "block", 0, "", None, f"<p{css}>{content}</p>"

    def _count(self, num_id: str, ilvl: int, start: int) -> int:
        """Word numbering: continues across interruptions, restarts deeper levels."""
        key = (num_id, ilvl)
        self.counters[key] = self.counters.get(key, start - 1) + 1
        for other in [k for k in self.counters if k[0] == num_id and k[1] > ilvl]:
            del self.counters[other]
        return self.counters[key]

    # -- tables ------------------------------------------------------------------

    def table(self, tbl, part, depth: int) -> str:
        """A table with colspan/rowspan from gridSpan/vMerge, so merged text appears once."""
        if depth >= MAX_DOCX_TABLE_NESTING:
            raise LimitExceeded(
                f"{self.name}: tables nested {depth + 1} deep > MAX_DOCX_TABLE_NESTING ({MAX_DOCX_TABLE_NESTING})"
            )
        rows = []
        columns = 0   # grid columns the rows use
        for tr in _children(tbl, _TR):
            column = _int(_attr(tr.find(_w("trPr")), _w("gridBefore")), 0)
            cells = []
            for tc in _children(tr, _TC):
                tcpr = tc.find(_w("tcPr"))
                span = max(_int(_attr(tcpr, _w("gridSpan")), 1), 1)
                merge = tcpr.find(_w("vMerge")) if tcpr is not None else None
                vmerge = None if merge is None else ("restart" if merge.get(_VAL) == "restart" else "continue")
                cells.append({"col": column, "span": span, "vmerge": vmerge, "tc": tc, "rowspan": 1})
                column += span
            columns = max(columns, column)
            header = tr.find(f"{_w('trPr')}/{_w('tblHeader')}")
            rows.append((cells, _on(header)))

        # Attach each "continue" cell to the open merge above it in the same column.
        open_merges: dict[int, dict] = {}
        for cells, _ in rows:
            seen = set()
            for cell in cells:
                seen.add(cell["col"])
                owner = open_merges.get(cell["col"])
                if cell["vmerge"] == "continue" and owner is not None:
                    owner["rowspan"] += 1
                    cell["merged"] = True
                elif cell["vmerge"] in ("restart", "continue"):
                    open_merges[cell["col"]] = cell   # a stray "continue" starts its own cell
                else:
                    open_merges.pop(cell["col"], None)
            for col in [c for c in open_merges if c not in seen]:
                del open_merges[col]

        html_rows = []
        for cells, is_header in rows:
            tag = "th" if is_header else "td"
            html_cells = []
            for cell in cells:
                if cell.get("merged"):
                    continue
                attrs = ""
                if cell["span"] > 1:
                    attrs += f' colspan="{cell["span"]}"'
                if cell["rowspan"] > 1:
                    attrs += f' rowspan="{cell["rowspan"]}"'
                inner = self.blocks(cell["tc"], part, depth + 1)
                html_cells.append(f"<{tag}{attrs}>{inner}</{tag}>")
            html_rows.append("<tr>" + "".join(html_cells) + "</tr>")
        return _table_open(tbl, columns) + "".join(html_rows) + "</table>"

    # -- runs --------------------------------------------------------------------

    def inline(self, p, part) -> str:
        """The paragraph's visible text with bold/italic/underline, line breaks and pictures."""
        pieces: list[str] = []
        for run in _runs(p):
            rpr = run.find(_w("rPr"))
            if rpr is not None and _on(rpr.find(_w("vanish"))):
                continue   # hidden text does not print
            text = self.run_content(run, part)
            if not text:
                continue
            if rpr is not None:
                if _on(rpr.find(_w("b"))):
                    text = f"<strong>{text}</strong>"
                if _on(rpr.find(_w("i"))):
                    text = f"<em>{text}</em>"
                underline = rpr.find(_w("u"))
                if underline is not None and underline.get(_VAL, "single") not in _FALSE:
                    text = f"<u>{text}</u>"
                if _on(rpr.find(_w("strike"))) or _on(rpr.find(_w("dstrike"))):
                    text = f"<s>{text}</s>"
                vertical = _attr(rpr, _w("vertAlign"))
                if vertical == "superscript":
                    text = f"<sup>{text}</sup>"
                elif vertical == "subscript":
                    text = f"<sub>{text}</sub>"
            pieces.append(text)
        return "".join(pieces)

    def run_content(self, run, part) -> str:
        pieces = []
        for child in _run_children(run):
            tag = child.tag
            if tag == _w("t"):
                # Word keeps every space (column-aligned text); HTML would collapse a run of them.
                pieces.append(html.escape(_SPACE_AFTER_SPACE.sub("\u00a0", child.text or "")))
            elif tag == _w("tab"):
                pieces.append("\u2003")
            elif tag == _w("br") and child.get(_w("type")) == "page":
                pieces.append(_PAGE_BREAK)
            elif tag in (_w("br"), _w("cr")):
                pieces.append("<br>")
            elif tag == _w("noBreakHyphen"):
                pieces.append("-")
            elif tag == _w("sym"):
                pieces.append(_WINGDINGS.get((child.get(_w("char")) or "").upper(), ""))
            elif tag == _w("footnoteReference"):
                pieces.append(self._cite("footnote", child.get(_w("id"))))
            elif tag == _w("endnoteReference"):
                pieces.append(self._cite("endnote", child.get(_w("id"))))
            elif tag in (_w("footnoteRef"), _w("endnoteRef")):
                pieces.append(f"<sup>{self.current_mark}</sup>")   # the mark at the start of a note
            elif tag in (_w("drawing"), _w("pict"), _w("object")):
                pieces.append(self.drawing(child, part))
        return "".join(pieces)

    def drawing(self, element, part) -> str:
        """Pictures (DrawingML blips, VML image data) and text-box text inside a drawing."""
        pieces = []
        for node in element.iter(f"{{{_A}}}blip", f"{{{_V}}}imagedata", _w("txbxContent")):
            if node.tag == _w("txbxContent"):
                text = " ".join(self.inline(p, part) for p in node.iter(_P))
                if text.strip():
                    pieces.append(f" {text} ")
                continue
            # r:embed only: r:link points outside the file and is never fetched.
            rid = node.get(f"{{{_R}}}embed") if node.tag.endswith("blip") else node.get(f"{{{_R}}}id")
            if rid:
                pieces.append(self.picture(part, rid, _extent_inches(element)))
        return "".join(pieces)

    def picture(self, part, rid: str, width_in: float | None) -> str:
        key = (id(part), rid)
        if key not in self.image_cache:
            self.images += 1
            if self.images > MAX_DOCX_IMAGES:
                raise LimitExceeded(f"{self.name}: more than MAX_DOCX_IMAGES ({MAX_DOCX_IMAGES}) pictures")
            try:
                blob = part.related_parts[rid].blob
            except (KeyError, AttributeError):
                self.image_cache[key] = ""
                return ""
            if not blob.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
                # EMF, WMF, GIF, SVG...: only PNG and JPEG are embedded; say so rather than drop silently.
                self.image_cache[key] = '<span class="muted">[picture not shown]</span>'
            else:
                mime, clean = clean_image(blob, name=self.name)
                uri = f"data:{mime};base64,{base64.b64encode(clean).decode('ascii')}"
                self.image_cache[key] = uri
        uri = self.image_cache[key]
        if not uri.startswith("data:"):
            return uri
        style = f' style="width: {width_in:.2f}in"' if width_in else ""
        return f'<img src="{uri}" alt=""{style}>'


class _Lists:
    """Nested <ul>/<ol> from list paragraphs and their levels."""

    def __init__(self, out: list[str]):
        self.out = out
        self.stack: list[str] = []   # list tag of each open level

    def item(self, level: int, tag: str, value: int | None, content: str) -> None:
        while len(self.stack) > level + 1:
            self._pop()
        if len(self.stack) == level + 1:
            if self.stack[-1] != tag:
                self._pop()
            else:
                self.out.append("</li>")
        while len(self.stack) < level + 1:
            name, _, css = tag.partition(":")
            self.out.append(f'<{name} class="{css}">' if css else f"<{name}>")
            self.stack.append(tag)
        # WeasyPrint ignores <li value>; setting the counter shows Word's own number
        # (numbering that continues after an interruption, or starts at 5).
        number = f' style="counter-set: list-item {value - 1}"' if value is not None else ""
        self.out.append(f"<li{number}>{content}")

    def close(self) -> None:
        while self.stack:
            self._pop()

    def _pop(self) -> None:
        name = self.stack.pop().partition(":")[0]
        self.out.append(f"</li></{name}>")


_SPACE_AFTER_SPACE = re.compile(r"(?<= ) ")


def _table_open(tbl, columns: int) -> str:
    """``<table>`` with Word's column grid as relative widths and a fixed layout, when the grid fits the rows.

    Word lays a table out on its grid (``w:tblGrid``), so the columns keep the
    proportions the author saw, and a fixed layout never measures every cell's
    content first (a third of the cost of laying out a note with a table).
    A grid with fewer columns than the rows use (written by another program,
    or stale) would squeeze the extra cells to nothing: then, as without a
    grid, the browser-style automatic layout sizes the columns by content.
    """
    grid = tbl.find(_w("tblGrid"))
    widths = [_int(col.get(_w("w")), 0) for col in grid.findall(_w("gridCol"))] if grid is not None else []
    if not widths or len(widths) < columns or min(widths) <= 0:
        return '<table class="docx-table">'
    total = sum(widths)
    cols = "".join(f'<col style="width: {100 * w / total:.2f}%">' for w in widths)
    return f'<table class="docx-table docx-grid"><colgroup>{cols}</colgroup>'


def _children(element, tag):
    """Direct children with ``tag``, looking through content controls and custom XML."""
    for child in _block_children(element):
        if child.tag == tag:
            yield child


def _block_children(element):
    for child in element:
        if child.tag in _BLOCK_WRAPPERS:
            inner = _BLOCK_WRAPPERS[child.tag]
            holder = child.find(inner) if inner else child
            if holder is not None:
                yield from _block_children(holder)
        else:
            yield child


def _runs(p):
    """Runs of a paragraph in order, through hyperlinks, insertions and other wrappers.

    Deleted (w:del, w:moveFrom) text is skipped: it is not part of the document.
    """
    for child in p:
        if child.tag == _R_RUN:
            yield child
        elif child.tag in _RUN_WRAPPERS or child.tag == _w("sdt"):
            yield from _runs(child)


def _run_children(run):
    """A run's children, resolving markup-compatibility choices to one alternative."""
    for child in run:
        if child.tag == f"{{{_MC}}}AlternateContent":
            choice = child.find(f"{{{_MC}}}Choice")
            fallback = child.find(f"{{{_MC}}}Fallback")
            chosen = choice if choice is not None else fallback
            if chosen is not None:
                yield from chosen
        else:
            yield child


def _extent_inches(element) -> float | None:
    """Display width of a DrawingML picture (EMU), capped by CSS at the column width."""
    for node in element.iter("{http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing}extent"):
        width = _int(node.get("cx"), 0)
        if width > 0:
            return min(width / 914400, 20.0)
    return None


def _roman(number: int) -> str:
    """Lower-case Roman numerals, Word's default for endnote marks."""
    result = ""
    for value, letters in ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
                           (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while number >= value:
            result += letters
            number -= value
    return result


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
