# The README's commands. Everything installs into .venv in this repository.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test docs bench lint clean

PREBUILT := pagerduty_plugin/prebuilt/spec.json

install: $(STAMP) $(PREBUILT)

$(STAMP): setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e '.[server,test]'
	touch $(STAMP)

# the spec parsed and linted, and its validators generated, as the package build does
$(PREBUILT): $(STAMP) plugin.spec.yaml pagerduty_plugin/spec.py pagerduty_plugin/validate.py pagerduty_plugin/prebuild.py \
		pagerduty_plugin/runbooks/runbook.schema.json pagerduty_plugin/runbooks/language.py
	$(BIN)/python -m pagerduty_plugin.prebuild
	$(BIN)/python -m compileall -q pagerduty_plugin  # bytecode, as a regular install has it

demo: install
	$(BIN)/python examples/demo.py

# The suite mostly waits (servers, subprocesses, outages), so WORKERS processes share the machine's cores
# (pytest-xdist), each handed whole files, the files with slow tests first (conftest.py); WORKERS=0 runs in one process.
# ARGS go to pytest: make test ARGS='-m "not slow"' while iterating.
WORKERS ?= 3
test: install
	$(BIN)/python -m pytest unit_test -q -p no:cacheprovider -n $(WORKERS) --dist loadfile $(ARGS)

docs: install
	$(BIN)/python -m pagerduty_plugin.helpdoc > help.md

bench: install
	$(BIN)/python bench/coldstart.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/pagination.py
	$(BIN)/python bench/report.py
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/runbook.py
	$(BIN)/python bench/outbox.py
	$(BIN)/python bench/outbox_xmin.py
	$(BIN)/python bench/http_mode.py
	$(BIN)/python bench/oauth.py
	$(BIN)/python bench/consumers.py
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/group_claims.py

lint: install
	$(BIN)/pagerduty-plugin spec --check

clean:
	rm -rf $(VENV) build *.egg-info
