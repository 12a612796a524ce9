# bxpush — build, run and test.
#
#   make run    install what running needs, build the server, start `bxpush serve` with its defaults
#   make install-server   binary, systemd unit and /etc/bxpush/bxpush.toml (see deploy/)
#   make test   install what is missing, build, run every test suite; ends with "N passed, N failed"
#   make bench  build, run the standard `bxpush bench` scenarios (several minutes), rewrite BENCHMARKS.md
#
# Every target installs its own prerequisites on a fresh Debian 12 machine (as root) and is
# quick when they are already there.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build
.DELETE_ON_ERROR:

# rustup installs cargo here; a non-login shell (CI) may not have it on PATH.
export PATH := $(HOME)/.cargo/bin:$(PATH)

# Debian packages the build and the tests need. One list: later issues append to it
# (php8.2-dev php8.2-cli php8.2-fpm libclang-dev redis-server nginx ...).
APT_PACKAGES := chromium ca-certificates pkg-config curl procps php8.2-dev php8.2-cli php8.2-fpm libclang-dev libfcgi-bin php8.2-gmp php8.2-bcmath redis-server nginx systemd

# What `make run` needs: the server binary builds with cargo alone (no PHP, Chromium,
# nginx, Redis or npm modules: those are for the extension and the tests).
RUN_APT_PACKAGES := ca-certificates

# Git-ignored state of `make deps`. The apt stamp is keyed on the package list, so editing
# APT_PACKAGES re-checks dpkg on the next run.
DEPS_DIR  := .deps
APT_KEY   := $(shell printf '%s' '$(APT_PACKAGES)' | md5sum | cut -c1-12)
APT_STAMP := $(DEPS_DIR)/apt-$(APT_KEY).stamp

JS_DIR   := tests/js
JS_STAMP := $(JS_DIR)/node_modules/.package-lock.json

CARGO ?= cargo
BXPUSH_BIN := target/release/bxpush

.PHONY: deps apt-deps js-deps build run run-deps build-server install-server test bench fuzz fmt lint clean-deps install-bitrix

deps: apt-deps js-deps

apt-deps: $(APT_STAMP)

# Installs the packages that dpkg does not report as installed; `apt-get update` runs once,
# only when something has to be installed. nodejs/npm come from Debian only if the machine
# has no `node` at all.
$(APT_STAMP):
	@mkdir -p $(DEPS_DIR)
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  st=$$(dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null || true); \
	  [ "$$st" = "install ok installed" ] || missing="$$missing $$p"; \
	done; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm  >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "deps: need root to apt-get install$$missing" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q; \
	  apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@rm -f $(DEPS_DIR)/apt-*.stamp
	@echo '$(APT_PACKAGES)' > $@

js-deps: $(JS_STAMP)

# `npm ci` writes node_modules/.package-lock.json, so this reruns only when node_modules is
# missing or older than the committed lock.
$(JS_STAMP): $(JS_DIR)/package-lock.json $(JS_DIR)/package.json | $(APT_STAMP)
	cd $(JS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The server and the PHP extension (target/release/libbxpush.so; ext-php-rs needs php-config,
# php and libclang, hence apt-deps).
build: apt-deps
	@command -v $(CARGO) >/dev/null 2>&1 || { echo "build: cargo not found (expected rustup's at $(HOME)/.cargo/bin)" >&2; exit 1; }
	$(CARGO) build --release --locked -p bxpush -p bxpush-bench -p bxpush-php

run-deps:
	@scripts/apt-ensure.sh $(RUN_APT_PACKAGES)

build-server: run-deps
	@command -v $(CARGO) >/dev/null 2>&1 || { echo "build: cargo not found (expected rustup's at $(HOME)/.cargo/bin)" >&2; exit 1; }
	$(CARGO) build --release --locked -p bxpush

run: build-server
	exec $(BXPUSH_BIN) serve

# The server as a systemd service: /usr/local/bin/bxpush, /etc/systemd/system/bxpush.service
# (deploy/bxpush.service: LimitNOFILE, restart policy, hardening), /etc/bxpush/bxpush.toml
# (deploy/bxpush.toml; an existing one is kept) and the system user bxpush. The PHP side:
# `make install` and deploy/php-bxpush.ini. DESTDIR=/some/root installs into a staging
# tree instead (no user, no systemctl).
DESTDIR ?=
install-server: build-server
	install -D -m 0755 $(BXPUSH_BIN) $(DESTDIR)/usr/local/bin/bxpush
	install -D -m 0644 deploy/bxpush.service $(DESTDIR)/etc/systemd/system/bxpush.service
	@if [ -n "$(DESTDIR)" ]; then install -D -m 0640 deploy/bxpush.toml $(DESTDIR)/etc/bxpush/bxpush.toml; exit 0; fi; \
	id bxpush >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /var/lib/bxpush --shell /usr/sbin/nologin bxpush; \
	getent group www-data >/dev/null || groupadd --system www-data; \
	if [ -e /etc/bxpush/bxpush.toml ]; then echo "install-server: kept /etc/bxpush/bxpush.toml (deploy/bxpush.toml is the example)"; \
	else install -D -o bxpush -g root -m 0640 deploy/bxpush.toml /etc/bxpush/bxpush.toml; echo "install-server: /etc/bxpush/bxpush.toml"; fi; \
	if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
	echo "install-server: next: systemctl enable --now bxpush; bxpush nginx-conf --help; bxpush doctor"

test: deps build
	BXPUSH_BIN=$(CURDIR)/$(BXPUSH_BIN) CARGO=$(CARGO) scripts/run-tests.sh

# The PHP extension into this machine's PHP: bxpush.so into `php-config --extension-dir`,
# ext/bxpush.ini (extension=bxpush and every setting at its default, commented) into
# /etc/php/X.Y/mods-available and enabled with phpenmod for every SAPI (cli, fpm), or, on a
# PHP without phpenmod, into the directory `php --ini` scans. Also the spool directory.
# Restart php-fpm afterwards.
PHP_CONFIG ?= php-config
install: build
	@ext_dir=$$($(PHP_CONFIG) --extension-dir); \
	ver=$$(php -r 'echo PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION;'); \
	install -D -m 0644 target/release/libbxpush.so "$$ext_dir/bxpush.so"; \
	echo "install: $$ext_dir/bxpush.so"; \
	if [ -d "/etc/php/$$ver/mods-available" ] && command -v phpenmod >/dev/null 2>&1; then \
	  install -m 0644 ext/bxpush.ini "/etc/php/$$ver/mods-available/bxpush.ini"; \
	  phpenmod -v "$$ver" bxpush; \
	  echo "install: /etc/php/$$ver/mods-available/bxpush.ini, enabled for: $$(ls /etc/php/$$ver/*/conf.d/*bxpush.ini 2>/dev/null | cut -d/ -f5 | tr '\n' ' ')"; \
	else \
	  scan=$$(php --ini | sed -n 's/^Scan for additional .ini files in: *//p'); \
	  if [ -z "$$scan" ] || [ "$$scan" = "(none)" ]; then echo "install: add extension=bxpush to your php.ini (see ext/bxpush.ini)"; \
	  else install -m 0644 ext/bxpush.ini "$$scan/20-bxpush.ini"; echo "install: $$scan/20-bxpush.ini"; fi; \
	fi; \
	if id www-data >/dev/null 2>&1; then install -d -m 0750 -o www-data -g www-data /var/spool/bxpush; \
	else install -d -m 0750 /var/spool/bxpush; fi; \
	php -r 'exit(extension_loaded("bxpush") ? 0 : 1);' && php --ri bxpush | head -3 || { echo "install: php does not load bxpush" >&2; exit 1; }

# The Bitrix partner module into a site: bitrix-module/bxpush.pull -> $(BITRIX_ROOT)/local/modules/bxpush.pull
# (replaced whole), then install it from the admin panel (Settings > Modules). A document root
# is recognised by bitrix/modules/main/include.php, the file every Bitrix page loads.
BITRIX_ROOT ?=
install-bitrix:
	@root='$(BITRIX_ROOT)'; \
	if [ -z "$$root" ]; then echo "install-bitrix: set BITRIX_ROOT to the site's document root (the folder holding bitrix/), e.g. make install-bitrix BITRIX_ROOT=/var/www/html" >&2; exit 2; fi; \
	root=$${root%/}; \
	if [ ! -f "$$root/bitrix/modules/main/include.php" ]; then echo "install-bitrix: $$root is not a Bitrix document root: $$root/bitrix/modules/main/include.php is missing. Give the folder that holds bitrix/ (where index.php and bitrix/ of the site are)." >&2; exit 2; fi; \
	mkdir -p "$$root/local/modules"; \
	rm -rf "$$root/local/modules/bxpush.pull.tmp"; \
	cp -R bitrix-module/bxpush.pull "$$root/local/modules/bxpush.pull.tmp"; \
	rm -rf "$$root/local/modules/bxpush.pull"; \
	mv "$$root/local/modules/bxpush.pull.tmp" "$$root/local/modules/bxpush.pull"; \
	echo "install-bitrix: $$root/local/modules/bxpush.pull; now install it in the admin panel: Settings > Modules (partner modules) > bxpush.pull > Install"

# Heavy (19,000 connections, a 60 s sustained run): run it on a quiet machine. The PHP row
# needs the extension (built here if it can be) and valgrind for its instruction counts.
bench: build
	@command -v valgrind >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends valgrind >/dev/null 2>&1; } || echo "bench: valgrind not installed: no instruction counts for the PHP row"
	@$(CARGO) build --release --locked -p bxpush-php || echo "bench: the PHP extension did not build: BENCHMARKS.md says so"
	BXPUSH_BIN=$(CURDIR)/$(BXPUSH_BIN) scripts/bench.sh

# libFuzzer over every target of fuzz/ (by hand: needs `rustup toolchain install nightly`
# and `cargo install cargo-fuzz`; `make test` runs the same checks on stable over the
# committed corpus, tests/fuzz_props.rs). New corpus entries land in fuzz/corpus/<target>/
# (minimize before committing: cargo +nightly fuzz cmin <target>); crashes in
# fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || { echo "fuzz: cargo install cargo-fuzz (and a nightly toolchain)" >&2; exit 1; }
	cd fuzz && for t in $$(cargo +nightly fuzz list); do \
	  echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  cargo +nightly fuzz run -s none $$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=8192 || exit 1; \
	done

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

clean-deps:
	rm -rf $(DEPS_DIR) $(JS_DIR)/node_modules
