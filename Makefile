# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench deps system-deps lint typecheck style clean deb package-deps test-package

# The Debian package (docs/packaging.md): dpkg-buildpackage + debhelper + dh-virtualenv on a copy of
# the package's sources in build/deb/, the .deb in dist/. Rebuilt when one of those files is newer.
VERSION  := $(shell sed -n 's/^version *= *//p' setup.cfg)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo unknown)
DEB      := dist/madoguchi_$(VERSION)_$(DEB_ARCH).deb
DEB_TREE := build/deb/madoguchi-$(VERSION)
# The packages setup.cfg's [options.packages.find] includes (what the wheel holds).
PY_PACKAGES := $(shell sed -n '/^\[options.packages.find\]/,/^\[/{s/^ *\([A-Za-z_]*\)\*$$/\1/p}' setup.cfg)
# Tracked and new (not ignored) files, as they are in the working tree; deleted ones drop out.
DEB_PATHS := setup.cfg pyproject.toml README.md docs/*.md debian deploy/systemd deploy/udev deploy/kivy deploy/mosquitto $(PY_PACKAGES)
DEB_SOURCES = $(wildcard $(shell git ls-files -co --exclude-standard -- $(DEB_PATHS) 2>/dev/null))

deps: system-deps $(STAMP)

system-deps:
	@scripts/ensure-system-deps.sh

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "madoguchi needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,speech]'
	@touch $(STAMP)

demo: deps
	$(BIN)/madoguchi-demo $(if $(CITY),--ward) $(DEMO_ARGS)

# The style is kept by the same command as the tests: lint, format, the import contracts
# (setup.cfg [importlinter]) and mypy --strict over every package, then the suite.
test: deps style
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) test-package

package-deps:
	@scripts/ensure-package-deps.sh

deb: $(DEB)

# PATH without pyenv shims or a project venv: the package's venv is made with Debian's python3.
$(DEB): $(DEB_SOURCES)
	@scripts/ensure-package-deps.sh
	$(if $(strip $(DEB_SOURCES)),,$(error make deb: no sources listed by git ls-files (not a git checkout?)))
	rm -rf build/deb && mkdir -p $(DEB_TREE) dist
	git ls-files -co --exclude-standard -z -- $(DEB_PATHS) \
	    | tar --null --ignore-failed-read -cf - -T - 2>/dev/null | tar -xf - -C $(DEB_TREE)
	cd $(DEB_TREE) && env -u VIRTUAL_ENV -u PYTHONPATH -u PYTHONHOME -u PYTHONDONTWRITEBYTECODE \
	    PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-buildpackage -b -us -uc
	mv build/deb/madoguchi_$(VERSION)_$(DEB_ARCH).deb $@
	@ls -l $@

# The Raspberry Pi's (arm64) package on this machine: the same build inside an arm64 bookworm
# chroot (build/chroot-arm64, kept) under qemu-user-static (deploy/image/deb-chroot.sh, root).
.PHONY: deb-arm64
deb-arm64:
	@scripts/ensure-package-deps.sh
	deploy/image/deb-chroot.sh --arch arm64 --chroot build/chroot-arm64 --apt-cache build/apt-cache-arm64 \
	    --out dist -- $(DEB_PATHS)

# The package in a clean Debian root filesystem (deploy/image/build.sh), the office's apt
# repository, upgrade and rollback: tests/test_package.py, marked `package` (root, network, minutes).
test-package: deps package-deps $(DEB)
	$(BIN)/python -m pytest -p no:cacheprovider -o markers=package -m package tests/test_package.py $(PYTEST_PACKAGE_ARGS)

style: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

bench: deps
	$(BIN)/python -m bench.run

lint: deps
	$(BIN)/ruff check .

typecheck: deps
	$(BIN)/mypy

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .hypothesis build dist
