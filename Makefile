# The two commands of the README: `make book` and `make test`.
PYTHON  ?= python3
VENV    ?= .venv
VPY     := $(VENV)/bin/python
PROFILE ?= quick
DEVICE  ?= auto
SEED    ?= 401
ONLY    ?=

.PHONY: install book chapters test test-fast bench clean

# Creates .venv if missing and installs the pinned packages plus geomlib (editable).
$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(VPY) -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

install: $(VENV)/.installed

# Exactly the design card's command: jupyter-book executes every missing or stale chapter with
# papermill (profile/device/seed from GEOMLIB_PROFILE, GEOMLIB_DEVICE, GEOMLIB_SEED; defaults
# quick, auto, 401), renders the site, and exits non-zero if a chapter failed or Sphinx warned.
book: install
	$(VENV)/bin/jupyter-book build book/
	@echo ""; echo "Site built: open file://$(CURDIR)/book/_build/html/index.html"

chapters: install
	$(VPY) -m geomlib.book run --profile $(PROFILE) --device $(DEVICE) --seed $(SEED) $(if $(ONLY),--only $(ONLY))


# Unit tests, every chapter in the tiny profile, the book built with -W, and a headless-browser
# check of the rendered site (in a temporary copy of book/, so `make book`'s site is untouched).
test: install
	@$(VPY) -m pytest -q -ra; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-fast: install
	$(VPY) -m pytest -q -ra -m "not slow"

bench: install
	$(VPY) -m benchmarks

clean:
	rm -rf book/_build book/chapters
