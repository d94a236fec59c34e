# cosid: the two commands are `make run` and `make test`; everything else is a step of theirs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
RUN_DIR ?= $(CURDIR)/.cosid

PROTOS := $(shell find proto -name '*.proto' | sort)
SERVICE_PROTOS := $(shell grep -l '^service ' $(PROTOS))
API_OUT ?= src/cosid/api

.PHONY: run test lint proto bench clean system-tools

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "cosid needs Python 3.11 or newer (set PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## run: start the daemon in the foreground in a sandbox (no root needed), state and socket under .cosid/
run: $(INSTALLED)
	@echo "cosid: sandboxed (its own network, mounts and hostname; files under $(RUN_DIR)/state/sandbox-root),"
	@echo "serving on unix://$(RUN_DIR)/cosid.sock (Ctrl-C stops it). In another shell:"
	@echo "  export COSID_ENDPOINT=unix://$(RUN_DIR)/cosid.sock"
	@echo "  $(BIN)/cosictl get namespaces"
	$(BIN)/cosid --sandbox --state-dir $(RUN_DIR)/state --listen unix://$(RUN_DIR)/cosid.sock

## system-tools: what the tests use to check the kernel from outside (never the daemon), and
## what the test VM boots with (QEMU; the guest's root is the host's own: systemd, dbus, python3)
TEST_TOOLS := ip sysctl setpriv nsenter findmnt dbus-daemon systemctl /usr/bin/python3 \
	qemu-system-x86_64
TEST_PACKAGES := iproute2 procps util-linux dbus systemd python3 qemu-system-x86
system-tools:
	@missing=$$(for tool in $(TEST_TOOLS); do command -v $$tool >/dev/null || echo $$tool; done); \
	if [ -n "$$missing" ]; then \
		echo "installing $(TEST_PACKAGES) for: $$missing"; \
		apt-get update -q && apt-get install -y -q --no-install-recommends $(TEST_PACKAGES); \
	fi

## test: every test, lint included (what CI runs)
test: $(INSTALLED) system-tools lint
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

## proto: regenerate src/cosid/api (messages, services, typed stubs) from proto/
proto: $(INSTALLED)
	rm -rf $(API_OUT)/cosi
	mkdir -p $(API_OUT)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m grpc_tools.protoc -Iproto \
		--python_out=$(API_OUT) --mypy_out=$(API_OUT) $(PROTOS)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m grpc_tools.protoc -Iproto \
		--grpc_python_out=$(API_OUT) --mypy_grpc_out=$(API_OUT) $(SERVICE_PROTOS)
	@# protoc names imports after the proto package; the Python package lives under cosid.api.
	find $(API_OUT)/cosi -name '*.py*' -exec sed -i -E 's/^from cosi([. ])/from cosid.api.cosi\1/' {} +
	find $(API_OUT)/cosi -type d -exec touch {}/__init__.py \;

## bench: performance figures against the status quo, printed as a table
bench: $(INSTALLED) system-tools
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) $(RUN_DIR) .mypy_cache .pytest_cache .ruff_cache
