# The two commands of the README: `make serve` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/tkroom: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/tkroom

.PHONY: install serve test lint bench
install: $(BIN)/tkroom

serve: install
	$(BIN)/tkroom serve $(ARGS)

test: install jsdeps
	$(BIN)/pytest -q $(ARGS)

# ruff; the import rules of docs/contributing.md (pyproject [tool.importlinter]); mypy.
lint: install
	$(BIN)/ruff check src tests bench
	PYTHONPATH=src $(BIN)/lint-imports
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench $(ARGS)

# The browser SDK: web/sdk/ bundled to src/tkroom/web/static/sdk/tkroom.js (committed).
.PHONY: js jsdeps
web/sdk/node_modules/.package-lock.json: web/sdk/package.json web/sdk/package-lock.json
	cd web/sdk && npm ci --no-audit --no-fund
jsdeps: web/sdk/node_modules/.package-lock.json
# codes.js is generated from src/tkroom/codes.py (tests/test_codes_js.py checks it is fresh).
js: jsdeps
	PYTHONPATH=src $(PY) -m tkroom.codes --js > web/sdk/src/codes.js
	cd web/sdk && npm run build
	cp web/sdk/node_modules/hls.js/dist/hls.light.min.mjs src/tkroom/web/static/classroom/vendor/hls.js
	cp web/sdk/node_modules/hls.js/LICENSE src/tkroom/web/static/classroom/vendor/hls.js.LICENSE.txt
