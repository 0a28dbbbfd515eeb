# keyops.mysql — developer entry points. `make test` is THE test command (README.md; .ci/run calls it).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# ansible-test needs the collection at a real path ending in ansible_collections/<namespace>/<name>.
# Outside the checkout: inside it, ansible-test would ask git and find the copy ignored.
SANITY_ROOT ?= /tmp/keyops-mysql-sanity
SANITY_TREE := $(SANITY_ROOT)/ansible_collections/keyops/mysql
ANSIBLE_TEST_PIP := $(HOME)/.ansible/test/cache/get_pip_24_2.py
# Other Pythons (pyenv's, where the machine has them) let compile and import run on 3.8-3.13 targets.
PYBIN := $(CURDIR)/.cache/pybin

.PHONY: test venv unit reliability integration molecule sanity demo fuzz sandbox-root sandbox-down clean

test: unit reliability integration molecule sanity

venv: $(VENV)/.installed

$(VENV)/.installed: test-requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r test-requirements.txt
	touch $@

unit: venv
	.ci/link-pythons $(PYBIN) >/dev/null
	PATH="$(PYBIN):$$PATH" $(BIN)/pytest tests/unit

# The real MySQL 9.7 / MariaDB roots are built once and cached (~/.cache/keyops-mysql); `up` would build them
# too, but as a step of its own their cost shows in the log.
sandbox-root: venv
	$(BIN)/python -m tests.sandbox build-root

# Crash points, concurrency, hostile input, fuzzing (the library, no servers needed).
reliability: venv
	$(BIN)/pytest tests/reliability

# The full fuzzing campaign (not part of `make test`; its figures go into the issue notes).
fuzz: venv
	$(BIN)/python -m tests.reliability.fuzz --inputs 1000000

integration: venv sandbox-root
	$(BIN)/pytest tests/integration

# The role on real sandbox fleets, one fleet per scenario (extensions/molecule/README.md).
molecule: venv sandbox-root
	PATH="$(CURDIR)/$(BIN):$$PATH" NO_COLOR=1 $(BIN)/molecule test --all

sandbox-down: venv
	$(BIN)/python -m tests.sandbox down --all

sanity: venv
	mkdir -p $(dir $(ANSIBLE_TEST_PIP))
	cp .ci/get_pip_offline.py $(ANSIBLE_TEST_PIP)
	rm -rf $(SANITY_TREE) && mkdir -p $(SANITY_TREE)
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t $(SANITY_TREE)
	.ci/link-pythons $(PYBIN)
	cd $(SANITY_TREE) && PATH="$(PYBIN):$(CURDIR)/$(BIN):$$PATH" ansible-test sanity --venv --color no

# A real fleet migration on 3 sandbox hosts (see tests/sandbox/demo/).
demo: venv sandbox-root
	PYTHON=$(BIN)/python tests/sandbox/demo/run

clean:
	rm -rf .cache .pytest_cache .hypothesis
