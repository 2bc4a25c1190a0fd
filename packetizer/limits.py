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
MAX_ATTACHMENT_CHILDREN = 2                     # PDF and image attachments of one build sanitised, checked and redacted
                                                # side by side, each in its own sandboxed child

# Packet
MAX_PACKET_PAGES = 2000
MAX_INDEX_RENDER_PASSES = 5                     # layouts of the narrative and summary until the page numbers
                                                # they print match, and of the whole front until the cover's do

# Payer policies
MAX_POLICY_FILE_BYTES = 256 * 1024

# Remittance files (X12 835, packetizer/era)
# A 10,000-claim 835 (two lines a claim) is about 2.4 MB: read and triaged in 3.2 s and 140 MB on this machine
# (2 shared cores); 7 MB took 12 s and 360 MB, 20 MB 25 s and 940 MB. Payers split larger runs.
MAX_REMITTANCE_BYTES = 4 * 1024 * 1024

# Attachments: DOCX structure (checked before and while converting)
MAX_DOCX_XML_PART_BYTES = 32 * 1024 * 1024      # one XML part inflated; lxml needs several times this in memory
MAX_DOCX_TABLE_NESTING = 8                      # tables inside table cells, levels deep
MAX_DOCX_IMAGES = 200                           # distinct pictures embedded in one DOCX

# Batch manifests and uploaded ZIPs (packetizer/batch/; added by the batch helper)
MAX_MANIFEST_BYTES = 50 * 1024 * 1024           # a 300-case PM export is well under 1 MiB
MAX_MANIFEST_ROWS = 100_000                     # CSV rows or JSON/JSONL items in one manifest
MAX_MANIFEST_CELL_CHARS = 100_000               # one CSV cell (the csv module's own default is 131072)
MAX_BATCH_WORKERS = 64                          # --workers; more only thrashes one machine
MAX_ZIP_BYTES = 1024 * 1024 * 1024              # the uploaded ZIP file itself
MAX_ZIP_ENTRIES = 5_000                         # files and folders in one uploaded ZIP
MAX_ZIP_UNCOMPRESSED_BYTES = 2 * 1024 * 1024 * 1024  # sum of declared member sizes (zip-bomb guard)
MAX_ZIP_ENTRY_BYTES = MAX_ATTACHMENT_BYTES      # one extracted member; nothing bigger could be ingested
MAX_ZIP_COMPRESSION_RATIO = 200                 # uncompressed / compressed per member; text compresses ~10x
MAX_ZIP_PATH_DEPTH = 16                         # folders deep inside the ZIP
MAX_ZIP_NAME_CHARS = 255                        # one member's path inside the ZIP
ZIP_RATIO_MIN_BYTES = 1024 * 1024               # the ratio limit applies to members bigger than this
MAX_BATCH_TASK_SECONDS = 600                    # one Celery build task; a packet takes well under a minute
MAX_BATCH_TASK_RETRIES = 4                      # transient storage/broker failures per Celery task
MAX_WORKER_RSS_BYTES = 400 * 1024 * 1024        # a Celery worker child bigger than this after a task is replaced
BATCH_WORKER_MAX_BUILDS = 20                    # a local pool worker is replaced after this many builds: the native
                                                # memory of fonts and layout grows about 1 MB a build

# Web application (packetizer/web): uploads and sign-in backoff
MAX_UPLOAD_REQUEST_BYTES = MAX_ATTACHMENT_BYTES + 1024 * 1024  # one attachment plus the form around it; larger -> 413
DOCUMENTS_PER_UPLOAD = 5                        # files added to a case in one submit of its upload form
MAX_DOCUMENTS_REQUEST_BYTES = DOCUMENTS_PER_UPLOAD * MAX_ATTACHMENT_BYTES + 1024 * 1024  # that form; larger -> 413
ERA_FILES_PER_UPLOAD = 10                       # 835 files taken into the worklist in one submit (each at most
                                                # MAX_REMITTANCE_BYTES)
MAX_ERA_UPLOAD_REQUEST_BYTES = ERA_FILES_PER_UPLOAD * MAX_REMITTANCE_BYTES + 1024 * 1024  # that form; larger -> 413
SIGN_IN_FAILURE_WINDOW_SECONDS = 15 * 60        # failures older than this no longer slow sign-in down
SIGN_IN_FREE_FAILURES_PER_USER_CLIENT = 5       # wrong passwords for one username from one address before that pair
                                                # waits; the same username from another address is not slowed
SIGN_IN_FREE_USERNAMES_PER_CLIENT = 30          # distinct usernames failing from one address before the address waits
                                                # (password spraying); an office behind one NAT address mistypes far fewer
SIGN_IN_BACKOFF_BASE_SECONDS = 2                # first wait; doubles with every further failure
SIGN_IN_BACKOFF_MAX_SECONDS = 15 * 60           # the wait never grows beyond this
MAX_SESSION_HOURS = 12                          # a signed-in session ends this long after sign-in, however active it
                                                # is (SESSION_MAX_HOURS may shorten it, not lengthen it)
MAX_PASSWORD_CHARS = 1024                       # argon2 hashes anything, but a megabyte password is an attack
MIN_PASSWORD_CHARS = 12

# S3 archive (packetizer/archive/s3.py; added by the S3 archive helper)
S3_MULTIPART_THRESHOLD_BYTES = 64 * 1024 * 1024 # objects larger than this go up in parts, each with its own SHA-256
S3_MULTIPART_PART_BYTES = 16 * 1024 * 1024      # size of each part but the last
S3_MIN_PART_BYTES = 5 * 1024 * 1024             # S3 refuses smaller parts (except the last)
S3_MAX_PARTS = 10_000                           # S3's own ceiling on parts per upload
S3_CONNECT_TIMEOUT_SECONDS = 5                  # an endpoint that does not answer is reported, not waited on
S3_READ_TIMEOUT_SECONDS = 60                    # one request's response (a part is at most a few MiB)
S3_MAX_ATTEMPTS = 3                             # tries per request (botocore "standard" retries), unless AWS_MAX_ATTEMPTS
MAX_S3_RETENTION_YEARS = 100                    # PACKETIZER_S3_RETENTION_YEARS; a typo must not lock objects for millennia

# Disclosure: redaction of PDF exhibits and the no-leak proof of a finished packet
MAX_PDF_REDACT_SECONDS = 60                     # wall time to find, burn in and re-check one PDF attachment
MAX_REDACTED_PAGE_PIXELS = 60_000_000           # one page rasterised at OCR_DPI (Letter is 8.4 M; ~25 x 25 in)
MAX_VERIFY_SECONDS = 120                        # wall time to search a finished packet for withheld values
MAX_VERIFY_STREAM_BYTES = 64 * 1024 * 1024      # decoded bytes of one stream searched by the no-leak proof

# Batch upload in the web app (packetizer/web/batches.py; added by the web batch helper)
MAX_BATCH_UPLOAD_REQUEST_BYTES = MAX_ZIP_BYTES + MAX_MANIFEST_BYTES + 1024 * 1024  # ZIP + manifest + form; larger -> 413
MAX_RUNNING_WEB_BATCHES = 2                     # per server process; each one runs its own pool of build processes
WEB_BATCH_WORKERS = 2                           # build processes per web batch: request handlers share the machine
MAX_LISTED_WEB_BATCHES = 100                    # batches shown on the batch list, newest first
UNARCHIVED_BUILD_KEEP_DAYS = 30                 # a web build the archive never took keeps its files in the instance
                                                # this long, then they are removed (the build row and audit stay)

# OCR: pages whose text layer cannot be trusted are rendered and read by Tesseract (packetizer/ocr.py)
OCR_DPI = 300                                   # pictures of pages are rendered, read and sent at this resolution
MIN_OCR_CONFIDENCE = 60                         # mean word confidence (0-100) below which an OCR'd page is "unchecked"
MAX_OCR_PAGE_SECONDS = 30                       # wall time for Tesseract to read one page (a dense page takes ~5 s)
MAX_OCR_ATTACHMENT_SECONDS = 45 * 60            # wall time for all the OCR of one attachment (500 dense pages on two
                                                # cores take about 20 minutes)
ORPHAN_SECONDS = MAX_OCR_ATTACHMENT_SECONDS + 15 * 60   # a pktz- temporary folder without a lock this old was left
                                                # behind (packetizer/workfolders.py): longer than any work may run
MAX_POPPLER_SECONDS = 30                        # wall time for poppler's pdftotext to read one file; past it, pypdf reads
SPLIT_PDF_PAGES = 16                            # a PDF with this many pages or more is surveyed and proven on both cores
MAX_OCR_PROCESSES = 2                           # Tesseract processes reading one attachment's pages side by side
MAX_OCR_ROUNDS = 3                              # burn, re-read, burn again: a page still showing an identifier after
                                                # this many re-reads fails the attachment
MAX_OUTLINE_PATH_SEGMENTS = 120                 # segments of small many-sided shapes on a page beyond which they may be
                                                # letters turned into outlines: the page is read by OCR (an SSN drawn
                                                # as flattened outlines has about 290)
MAX_OUTLINE_CURVES = 40                         # curve segments in drawings beyond which the same holds (a nine-digit
                                                # number drawn as outlines has about 60)
MAX_OUTLINE_SMALL_SHAPES = 60                   # small rectangles and lines beyond which the same holds (digits drawn
                                                # as strokes); table rules are long and not counted
