"""Every limit on hostile or oversized input, in one place.

Each limit is a named constant; errors quote it as ``value > LIMIT``. The README
lists them. Change them here, nowhere else.
"""

# Case files
MAX_CASE_FILE_BYTES = 1 * 1024 * 1024          # a case file is a few KB; 1 MiB is generous
MAX_SERVICE_LINES = 200
MAX_ATTACHMENTS = 50

# Attachments (per file)
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024         # 50 MiB
MAX_PDF_PAGES = 500                             # pages in one PDF attachment
MAX_TEXT_CHARS = 2_000_000                      # characters in one text/Markdown note
MAX_DOCX_PARAGRAPHS = 20_000                    # paragraphs + table rows in one DOCX
MAX_DOCX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024 # sum of ZIP member sizes (zip-bomb guard)
MAX_IMAGE_PIXELS = 60_000_000                   # pixels in one image frame (~7700 x 7700)
MAX_TIFF_FRAMES = 200                           # pages in one multi-page TIFF
MAX_PDF_PARSE_SECONDS = 20                      # wall time to open and sanitise one PDF
MAX_PDF_PARSE_MEMORY_BYTES = 1024 * 1024 * 1024 # address space for the PDF parsing child

# Packet
MAX_PACKET_PAGES = 2000

# Payer policies
MAX_POLICY_FILE_BYTES = 256 * 1024

# Attachments: DOCX structure (checked before and while converting)
MAX_DOCX_XML_PART_BYTES = 32 * 1024 * 1024      # one XML part inflated; lxml needs several times this in memory
MAX_DOCX_TABLE_NESTING = 8                      # tables inside table cells, levels deep
MAX_DOCX_IMAGES = 200                           # distinct pictures embedded in one DOCX
