# The README's two commands: `make demo` and `make test`. Both set up first, on a fresh machine too.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# Pinned because this machine serves these from local files; any torch >= 1.13 works for the package.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
export HF_HUB_OFFLINE ?= 1

.PHONY: setup demo test test-slow lint bench clean

setup:
	@$(PYTHON) -c "import torch, torchvision" 2>/dev/null || $(PIP) install $(TORCH_PINS)
	@$(PYTHON) -c "import setuptools, wheel" 2>/dev/null || $(PIP) install setuptools wheel
	@$(PYTHON) -c "import importlib.metadata as m; m.version('basicsr')" 2>/dev/null \
		|| $(PIP) install --no-build-isolation basicsr==1.4.2
	$(PIP) install --quiet --no-build-isolation '.[test]'

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

lint:
	$(PYTHON) -m ruff check sfd_arch scripts tests _sfd_arch_hook.py setup.py

demo: setup
	$(PYTHON) scripts/demo.py

bench: setup
	$(PYTHON) scripts/benchmark.py --preset small

clean:
	rm -rf build *.egg-info demo_output
