# Packetizer: `make run` starts the product on its embedded defaults, `make test` runs the suite,
# `make bench` prints the benchmarks. Each first runs scripts/system-deps.sh: Pango and fonts for
# WeasyPrint, Tesseract 5 with its English model for OCR (Debian packages; no model is downloaded at
# run time), and Chromium for the browser tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The suite runs on two processes (pytest-xdist), one a core of this project's 2-core machine, a test file
# on one of them: a module's fixtures (the OCR of hostile samples, a 480-page case) are made once, not once in
# each (8 min 41 s -> 8 min 6 s on this machine).
TEST_WORKERS ?= 2

.PHONY: install test bench run system-deps system-deps-test system-deps-bench bytecode clean

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# uv installs the same releases as pip in a tenth of the time (7 s against 68 s here, most of pip's
	@# being its own CPU); where uv cannot be had, pip does it.
	if $(BIN)/python -m pip install --quiet uv; then \
		$(BIN)/uv pip install --python $(BIN)/python --quiet -e '.[test]'; \
	else \
		$(BIN)/python -m pip install --quiet --no-compile -e '.[test]'; \
	fi
	@# The bytecode on both cores (pip compiles one file after another: 39 s against 23 s here). It is needed
	@# here, not left to the first import: this machine sets PYTHONDONTWRITEBYTECODE. Like pip, a file that
	@# does not compile (a package's Python 2 sample) does not stop the install. cfn-lint and the sympy and
	@# networkx it brings come with moto's server and are never imported here: a quarter of the files, left out.
	$(BIN)/python -m compileall -qq -j 0 -x '/site-packages/(sympy|networkx|cfnlint)/' $(VENV)/lib || true
	touch $(STAMP)

system-deps:
	@scripts/system-deps.sh run

system-deps-test:
	@scripts/system-deps.sh test

system-deps-bench:
	@scripts/system-deps.sh bench

# The project's own modules compiled too, as an installed wheel's are: an editable install leaves them to the
# first import, which writes nothing where PYTHONDONTWRITEBYTECODE is set, so every process compiled them again
# (about 0.1 s each). Only the files changed since are compiled again.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -qq -j 0 packetizer

install: system-deps $(STAMP) bytecode

test: system-deps-test $(STAMP) bytecode
	PACKETIZER_REQUIRE_POSTGRES=1 PACKETIZER_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: system-deps-bench $(STAMP) bytecode
	$(BIN)/python bench/run.py

run: install
	$(BIN)/packetizer build examples/lake-street/case.yaml --out out --today 2026-10-06
	$(BIN)/packetizer serve --first-admin admin

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache
	find packetizer -name __pycache__ -prune -exec rm -rf {} +
