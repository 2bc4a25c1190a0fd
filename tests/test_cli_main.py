"""The ``packetizer`` group: every command listed, each imported only when it runs."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from packetizer import __version__
from packetizer.cli import COMMANDS, main


def test_help_lists_every_command_with_its_one_line_help():
    """This test ensures that ``packetizer --help`` names every command with the help from the table."""
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:", 1)[1]
    for name, (_, _, short_help) in COMMANDS.items():
        assert f"  {name}" in listed and short_help in listed


def test_help_imports_no_command_module():
    """This test ensures that the command list is shown without importing any command (a lean start)."""
    code = (
        "import sys; from packetizer.cli import main\n"
        "try:\n    main(['--help'], prog_name='packetizer')\nexcept SystemExit:\n    pass\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('packetizer.') and m not in "
        "('packetizer.cli',))\n"
        "print('loaded:', loaded, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "loaded: []" in done.stderr


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_table_entry_is_the_command_of_that_name(name):
    """This test ensures that the lazy table points at the right command, so ``packetizer NAME`` runs it."""
    command = main.get_command(click.Context(main), name)
    assert isinstance(command, click.Command)
    assert command.name == name
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ") and f" {name} [OPTIONS]" in result.output.splitlines()[0]


def test_unknown_command_is_a_usage_error():
    """This test ensures that a mistyped command exits 2 with click's usage message."""
    result = CliRunner().invoke(main, ["biuld"])
    assert result.exit_code == 2
    assert "No such command 'biuld'" in result.output


def test_python_dash_m_runs_the_console_script():
    """This test ensures that ``python -m packetizer`` is the same program as ``packetizer``."""
    done = subprocess.run([sys.executable, "-m", "packetizer", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"packetizer, version {__version__}"


def test_loading_weasyprint_runs_no_library_search_and_restores_the_lookup():
    """WeasyPrint's libraries are found by dlopen alone (ctypes' find_library runs ldconfig for each
    name it is given: about 0.17 s of every build process), and the lookup is the standard one after."""
    code = (
        "import ctypes.util, sys\n"
        "original = ctypes.util.find_library\n"
        "asked = []\n"
        "def spy(name):\n"
        "    asked.append(name)\n"
        "    return original(name)\n"
        "ctypes.util.find_library = spy\n"
        "from packetizer import render\n"
        "render._weasyprint()\n"
        "assert 'weasyprint' in sys.modules\n"
        "pdf = render.html_to_pdf('<p>Progress note</p>').pdf\n"
        "assert pdf.startswith(b'%PDF-'), pdf[:8]\n"
        "assert ctypes.util.find_library is spy, 'the lookup was not restored'\n"
        "print(len(asked))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0"


def test_writing_pdfs_of_ever_new_glyph_counts_parses_no_new_c_type():
    """WeasyPrint's font subsetting asks cffi for arrays with their length in the type; cffi parses each new type
    string (about 6 ms), which a batch paid for every font of nearly every packet. Through the render module the
    arrays are made from one type, and the fonts are subset all the same (the text is still there, in the
    fonts embedded). In a process of its own: cffi's memory of parsed types lasts as long as the process."""
    code = (
        "import io, json, re\n"
        "from pypdf import PdfReader\n"
        "from packetizer import render\n"
        "texts = ['Ab', 'Therapeutic exercise 97110', 'Gait training: 12 visits, 0-9 & ()/?!', 'xyz QRST 123456789']\n"
        "pdfs = [render.html_to_pdf(f'<p>{t}</p><p><strong>{t[::-1]}</strong></p>').pdf for t in texts]\n"
        "from weasyprint.text.ffi import ffi\n"
        "sized = [key for key in ffi._parsed_types if re.fullmatch(r'hb_codepoint_t\\[\\d+\\]', key)]\n"
        "pages = []\n"
        "for pdf in pdfs:\n"
        "    page = PdfReader(io.BytesIO(pdf)).pages[0]\n"
        "    embedded = []\n"
        "    for font in page['/Resources']['/Font'].values():\n"
        "        font = font.get_object()\n"
        "        font = font['/DescendantFonts'][0].get_object() if '/DescendantFonts' in font else font\n"
        "        embedded.append('/FontFile2' in font['/FontDescriptor'])\n"
        "    pages.append([page.extract_text(), embedded])\n"
        "print(json.dumps({'texts': texts, 'sized': sized, 'pages': pages}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    told = json.loads(done.stdout)
    assert told["sized"] == []
    for text, (extracted, embedded) in zip(told["texts"], told["pages"]):
        assert text in extracted
        assert embedded == [True, True]   # a subset of the regular and of the bold face
