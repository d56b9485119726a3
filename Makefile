# The README's two commands: `make demo` and `make test`. Both set up first, on a fresh machine too.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# Pinned because this machine serves these from local files; any torch >= 1.13 works for the package.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
export HF_HUB_OFFLINE ?= 1

.PHONY: setup demo test test-slow test-pyiqa lint bench clean

# The package is installed (not -e, see setup.py) again only when one of its files is newer than the stamp left by
# the last install into this interpreter, or when it is missing there: a repeated `make demo` skips the 13 s of pip.
# Imports are checked by find_spec (0.2 s), not by importing torch (about 10 s here).
SETUP_STAMP := build/.installed-stamp
PACKAGE_FILES := setup.py pyproject.toml README.md _sfd_arch_hook.py sfd_arch_hook.pth sfd_arch

setup:
	@$(PYTHON) -c "import importlib.util as u; assert u.find_spec('torch') and u.find_spec('torchvision')" 2>/dev/null \
		|| $(PIP) install $(TORCH_PINS)
	@$(PYTHON) -c "import setuptools, wheel" 2>/dev/null || $(PIP) install setuptools wheel
	@$(PYTHON) -c "import importlib.metadata as m; m.version('basicsr')" 2>/dev/null \
		|| $(PIP) install --no-build-isolation basicsr==1.4.2
	@prefix=$$($(PYTHON) -c "import sys; print(sys.prefix)"); \
	if [ -f $(SETUP_STAMP) ] && [ "$$(cat $(SETUP_STAMP))" = "$$prefix" ] \
		&& [ -z "$$(find $(PACKAGE_FILES) -newer $(SETUP_STAMP) -type f ! -name "*.pyc" -print -quit)" ] \
		&& $(PYTHON) -c "import importlib.metadata as m; m.version('sfd_arch'); m.version('pytest')" 2>/dev/null; then \
		echo "setup: sfd_arch is installed and up to date in $$prefix"; \
	else \
		$(PIP) install --quiet --no-build-isolation '.[test]' && mkdir -p build && echo "$$prefix" > $(SETUP_STAMP); \
	fi

test: setup browser
	$(PYTHON) -m pytest -q tests

# Headless Chromium for the report.html tests (tests/test_report_html.py): Debian's package, driven through the
# playwright Python package (its own browser download is not used, so nothing but the two registries is needed).
.PHONY: browser
browser:
	@test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
	@$(PYTHON) -c "import playwright" 2>/dev/null || $(PIP) install playwright

# The tests marked slow (multi-process training, long runs); CI runs them after `make test`.
test-slow: setup
	$(PYTHON) -m pytest -q -m slow tests

# The tests of the real pyiqa (its own venv: pyiqa replaces OpenCV and tensorboard packages, so the main
# environment stays as it is). The venv sees the main site-packages (torch, basicsr, this package) and is reused.
# A skipped test fails the step: SFD_REQUIRE_PYIQA=1 turns "pyiqa is not installed" into a failure, and any other
# skip is caught in pytest's -rs report.
PYIQA_VENV ?= .venv-pyiqa
PYIQA_PYTHON := $(PYIQA_VENV)/bin/python
PYIQA_TESTS := tests/test_pyiqa.py tests/test_metrics.py -k pyiqa

test-pyiqa: setup
	@test -x $(PYIQA_PYTHON) || $(PYTHON) -m venv --system-site-packages $(PYIQA_VENV)
	$(PYIQA_PYTHON) -m pip install --quiet --disable-pip-version-check 'pyiqa>=0.1.16'
	@SFD_REQUIRE_PYIQA=1 $(PYIQA_PYTHON) -m pytest -q -rs -p no:cacheprovider $(PYIQA_TESTS) \
		> $(PYIQA_VENV)/pytest.log 2>&1; rc=$$?; cat $(PYIQA_VENV)/pytest.log; \
		if grep -q '^SKIPPED' $(PYIQA_VENV)/pytest.log; then echo 'test-pyiqa: a test skipped'; exit 1; fi; exit $$rc

lint:
	$(PYTHON) -m ruff check sfd_arch scripts tests _sfd_arch_hook.py setup.py
	lint-imports  # the layer, independence and no-cycle contracts of .importlinter (docs/design.md, 2 Layers)

demo: setup
	$(PYTHON) scripts/demo.py

# The cost benchmark, small preset (docs/benchmarks.md gives its real cost); `make bench STRICT=1` exits non-zero
# when a target is NOT met.
bench: setup
	$(PYTHON) scripts/benchmarks/benchmark.py --preset small $(if $(STRICT),--strict)

clean:
	rm -rf build *.egg-info demo_output
