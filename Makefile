# Rapport — one command to run the suite, one to test it.
#   make run    start the five services locally (SQLite, no Redis needed)
#   make test   install whatever is missing, then run every check and test

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
BUF_VERSION := 1.75.0
BUF    := .tools/node_modules/.bin/buf

# Roots of the `rapport` namespace package (see pyproject.toml).
SERVICES := identity profile consent decisioning delivery
PY_ROOTS := gen/python runtime localsuite $(addprefix services/,$(SERVICES))

INSTALL_STAMP := $(VENV)/.installed
BENCH_STAMP   := $(VENV)/.bench-installed
PROTO_FILES   := $(shell find protos -name '*.proto' | sort)
# google/api (field_behavior, resource) and google/rpc protos, copied from the
# installed googleapis-common-protos so buf and protoc find them offline.
GOOGLEAPIS    := .tools/googleapis
GOOGLEAPIS_STAMP := $(GOOGLEAPIS)/.copied
PROTOC        := $(BIN)/python -m grpc_tools.protoc -Iprotos -I$(GOOGLEAPIS)

.PHONY: install proto check-generated lint test test-fast run demo bench clean

install: $(INSTALL_STAMP) $(BUF) $(GOOGLEAPIS_STAMP)

$(INSTALL_STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -c 'import os, sysconfig; open(os.path.join(sysconfig.get_paths()["purelib"], "rapport-roots.pth"), "w").write("".join(os.path.abspath(r) + "\n" for r in "$(PY_ROOTS)".split()))'
	touch $@

$(GOOGLEAPIS_STAMP): $(INSTALL_STAMP)
	rm -rf $(GOOGLEAPIS) && mkdir -p $(GOOGLEAPIS)/google/api $(GOOGLEAPIS)/google/rpc
	$(BIN)/python -c 'import shutil, google.api, google.rpc; [shutil.copy(f"{pkg.__path__[0]}/{name}.proto", \
	  "$(GOOGLEAPIS)/" + pkg.__name__.replace(".", "/")) for pkg, names in ( \
	  (google.api, ("field_behavior", "resource")), (google.rpc, ("status", "error_details", "code"))) \
	  for name in names]'
	touch $@

$(BUF):
	npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix .tools @bufbuild/buf@$(BUF_VERSION)

# Regenerate the Python code of the contracts. Never edit gen/ by hand.
proto: $(INSTALL_STAMP) $(GOOGLEAPIS_STAMP)
	rm -rf gen/python/rapport
	mkdir -p gen/python
	$(PROTOC) --python_out=gen/python \
	  --pyi_out=gen/python --grpc_python_out=gen/python $(PROTO_FILES)

# Fails when gen/ does not match what `make proto` would produce.
check-generated: $(INSTALL_STAMP) $(GOOGLEAPIS_STAMP)
	rm -rf .tools/gen-check && mkdir -p .tools/gen-check
	$(PROTOC) --python_out=.tools/gen-check \
	  --pyi_out=.tools/gen-check --grpc_python_out=.tools/gen-check $(PROTO_FILES)
	diff -r .tools/gen-check/rapport gen/python/rapport \
	  || (echo "gen/python is stale: run 'make proto' and commit the result" && exit 1)

# The v1 contracts as released: `buf breaking` refuses any change that would break a
# client built against them. Rebuilt only when releasing a new version:
#   $(BUF) build protos --exclude-source-info -o $(RELEASED_CONTRACTS)
RELEASED_CONTRACTS := protos/released-v1.binpb

lint: install
	$(BUF) lint
	$(BUF) breaking protos --against $(RELEASED_CONTRACTS)
	$(BIN)/ruff check runtime localsuite services tests bench
	$(BIN)/lint-imports
	$(BIN)/hadolint $(wildcard services/*/Dockerfile)
	$(BIN)/python deploy/check_manifests.py deploy/k8s

test: install check-generated lint
	$(BIN)/pytest

# Tests only, no lint (quicker while working).
test-fast: install
	$(BIN)/pytest -x -q

run: install
	$(BIN)/python -m rapport.localsuite

demo: install
	$(BIN)/python -m rapport.localsuite.demo

# The learners bench_learning.py compares with: the `bench` extra, then obp without
# its declared dependencies and Python range (see the extra in pyproject.toml).
$(BENCH_STAMP): $(INSTALL_STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-deps --ignore-requires-python obp
	touch $@

bench: install $(BENCH_STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .tools .data .pytest_cache
