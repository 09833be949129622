# The two commands a newcomer runs: `make demo` and `make test`.
# Both create a virtual environment in .venv and install the package into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint unit spark clean bench browser fuzz

$(STAMP): setup.py pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "sparkdeid needs Python >= 3.10"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)
	@$(PY) -m sparkdeid.session

demo: setup
	rm -rf demo-output
	$(VENV)/bin/sparkdeid deid --input samples/dicom --output demo-output --strategy tcia \
		--secret-file samples/demo-secret.txt
	@echo "De-identified files and _manifest.csv are in demo-output/"

lint: setup
	$(VENV)/bin/ruff check sparkdeid tests benchmarks strategies
	$(VENV)/bin/mypy sparkdeid
	$(VENV)/bin/lint-imports --no-cache

# The verify report is checked in headless Chromium from Debian's packages.
browser:
	@command -v chromium >/dev/null 2>&1 || apt-get install -y -q chromium >/dev/null \
		|| { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
		|| echo "the report's browser test needs Debian's chromium: apt-get install chromium"

test: setup lint browser
	$(PY) -m pytest -q; status=$$?; [ $$status -eq 5 ] && status=0; exit $$status

# sparkdeid beside Presidio, dicognito and deid on a generated 200-file corpus, scored
# by the same checks (benchmarks/compare.py); the peers go into .venv via '.[bench]'.
bench: setup
	@command -v tesseract >/dev/null 2>&1 || apt-get install -y -q tesseract-ocr \
		|| echo "Presidio needs Debian's tesseract-ocr: apt-get install tesseract-ocr"
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/compare.py --files 200

# A longer fuzz run than CI's 10,000 cases; escapes are saved under fuzz-findings/.
fuzz: setup
	$(PY) benchmarks/fuzz.py --cases 500000 --seconds 1800 --seed $${SEED:-1} --out fuzz-findings

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache *.egg-info
