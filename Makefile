# pgsec.hardening: build, lab and tests. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CACHE ?= /var/cache/pgsec-lab
REQ_HASH := $(shell cat requirements-dev.txt | sha256sum | cut -c1-12)
VENV ?= $(CACHE)/venv-$(REQ_HASH)
CLOUD_REQ_HASH := $(shell cat tests/cloud/requirements-servers.txt | sha256sum | cut -c1-12)
CLOUD_SERVERS ?= $(CACHE)/cloud-servers-$(CLOUD_REQ_HASH)
BIN := $(VENV)/bin
BUILD := $(CURDIR)/.build
COLLECTIONS := $(BUILD)/collections
LAB := python3 lab/lab.py
LAB_STATE ?= /var/tmp/pgsec-lab
LAB_INVENTORY := $(LAB_STATE)/inventory.yml
APT_PACKAGES := debootstrap systemd-container iptables nftables iproute2 openssh-client shellcheck \
	postgresql-client openssl rsync git chromium nmap
PYTEST_ARGS ?=
# make bench: fleet size, repetitions at the target size and at the other sizes of the growth
# curve, where the JSON goes (bench/run.py). bench/run.py also reads BENCH_TARGET_SIZE (default 20),
# BENCH_SIZES (default 5, the target size, BENCH_HOSTS) and BENCH_CONFIGS (default suite,plain).
BENCH_HOSTS ?= 50
BENCH_REPS ?= 3
BENCH_SCALE_REPS ?= 1
BENCH_OUT ?= $(BUILD)/bench/bench.json
BENCH_SMOKE_OUT ?= $(BUILD)/bench/bench-smoke.json
# ansible-test fetches get-pip.py from its own server to seed each sanity venv; seed it locally.
ANSIBLE_TEST_GET_PIP := $(HOME)/.ansible/test/cache/get_pip_24_2.py
# The two ends of the supported ansible-core range (tests/controllers/, tests/tools/controller.py):
# core217 in a venv on this machine's python3, core221 in a chroot of the Debian 13 lab image.
CONTROLLER := python3 $(CURDIR)/tests/tools/controller.py

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_CONFIG := $(CURDIR)/tests/ansible.cfg
export PGSEC_LAB_CACHE := $(CACHE)
export PGSEC_LAB_STATE := $(LAB_STATE)
export PGSEC_CLOUD_SERVERS := $(CLOUD_SERVERS)

.PHONY: help deps apt venv collection unit sanity sanity-matrix sanity-core217 sanity-core221 \
	controllers controller-core217 controller-core221 lint integration cloud-servers cloud-integration bench bench-fleet \
	bench-smoke molecule test demo \
	demo-check \
	lab-build lab-up lab-down lab-status clean

help:
	@echo "make demo        the story on three lab servers: audit, harden, audit, prove it from the clients"
	@echo "make demo-check  the demo on a fresh lab, then again: the second run must change nothing"
	@echo "make test        everything CI runs: unit, sanity, sanity-matrix, lint, lab integration, bench-smoke, molecule"
	@echo "make lab-up      boot the lab hosts (LAB_HOSTS='pg1:insecure ...' to choose)"
	@echo "make lab-down    stop the lab and remove what it made"
	@echo "make bench-fleet 40 hosts at once with forks 2: every firewall confirmed; one host cut off rolls back alone"
	@echo "make bench       time audit and harden on a lab fleet, two ansible.cfg's (BENCH_HOSTS=50 BENCH_REPS=3 BENCH_OUT=...)"
	@echo "make sanity-matrix   ansible-test sanity with the oldest (2.17) and newest (2.21) ansible-core"
	@echo "make controllers     build both; run a command with one: python3 tests/tools/controller.py run core221 -- ansible --version"
	@echo "make cloud-integration  the cloud firewall role against moto and Neutron on 127.0.0.1 (no lab)"
	@echo "make unit | sanity | lint | integration | bench-smoke | molecule"

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# A virtualenv from a requirements file, built aside and moved into place: $(1) its path, $(2) the file.
# The path carries the hash of the file, so it is rebuilt exactly when that changes; no timestamp
# prerequisite (a fresh clone's files are all newer than the cache).
define build-venv
python3 -m venv $(1).tmp
$(1).tmp/bin/pip install --quiet --disable-pip-version-check -r $(2)
rm -rf $(1) && mv $(1).tmp $(1)
# A venv's scripts name their interpreter by path; re-point them after the move (regular files
# only: a package may leave a __pycache__ directory in bin).
find $(1)/bin -maxdepth 1 -type f -exec sed -i "1s|^#!$(1).tmp/|#!$(1)/|" {} +
endef

$(BIN)/ansible-playbook:
	$(call build-venv,$(VENV),requirements-dev.txt)
	touch $@

# The API servers of the cloud firewall tests (moto, Neutron) in a venv of their own: Neutron's
# pins and ansible's do not fit in one.
$(CLOUD_SERVERS)/bin/moto_server:
	$(call build-venv,$(CLOUD_SERVERS),tests/cloud/requirements-servers.txt)
	touch $@

cloud-servers: $(CLOUD_SERVERS)/bin/moto_server

venv: $(BIN)/ansible-playbook

deps: apt venv collection

# The collection as Ansible finds it: ansible_collections/pgsec/hardening -> this checkout.
collection:
	@mkdir -p $(COLLECTIONS)/ansible_collections/pgsec
	@ln -sfn $(CURDIR) $(COLLECTIONS)/ansible_collections/pgsec/hardening

unit: deps
	cd $(COLLECTIONS)/ansible_collections/pgsec/hardening && \
	  PYTHONPATH=$(COLLECTIONS) $(BIN)/python -m pytest -q tests/unit $(PYTEST_ARGS)

# ansible-test wants a real tree under ansible_collections/, not a symlink: a copy of the tracked
# files, with a git index of its own, in $(1).
define sanity-tree
rm -rf $(1) && mkdir -p $(1)/ansible_collections/pgsec/hardening
git ls-files -z --cached --others --exclude-standard | \
  rsync -a --from0 --files-from=- ./ $(1)/ansible_collections/pgsec/hardening/
cd $(1)/ansible_collections/pgsec/hardening && git init -q && git add -A
endef

sanity: deps $(ANSIBLE_TEST_GET_PIP)
	$(call sanity-tree,$(BUILD)/sanity)
	cd $(BUILD)/sanity/ansible_collections/pgsec/hardening && \
	  $(BIN)/ansible-test sanity --venv --python 3.11 --color no $(SANITY_ARGS)

# The same sanity run with the oldest ansible-core meta/runtime.yml claims and with the newest.
sanity-matrix: sanity-core217 sanity-core221

sanity-core217: collection controller-core217
	$(call sanity-tree,$(BUILD)/sanity-core217)
	cd $(BUILD)/sanity-core217/ansible_collections/pgsec/hardening && \
	  $(CONTROLLER) run core217 -- ansible-test sanity --venv --python 3.11 --color no $(SANITY_ARGS)

sanity-core221: collection controller-core221
	$(call sanity-tree,$(BUILD)/sanity-core221)
	cd $(BUILD)/sanity-core221/ansible_collections/pgsec/hardening && \
	  $(CONTROLLER) run core221 -- ansible-test sanity --venv --python 3.13 --color no $(SANITY_ARGS)

controllers: controller-core217 controller-core221

controller-core217:
	$(CONTROLLER) build core217

# Derived from a copy of the cached Debian 13 lab image, which this builds first if needed.
controller-core221: apt
	$(LAB) build --dist debian13
	$(CONTROLLER) build core221

$(ANSIBLE_TEST_GET_PIP): tests/tools/get_pip_offline.py
	mkdir -p $(dir $@) && cp $< $@

lint: deps
	$(BIN)/ansible-lint --nocolor

# test_controller_matrix.py hardens and audits with both ends of the ansible-core range.
integration: deps lab-build controllers cloud-servers
	PYTHONPATH=$(COLLECTIONS) $(BIN)/python -m pytest -q tests/integration $(PYTEST_ARGS)

# The benchmark boots its own fleet (b01..bNN) and brings the lab down at the end, also on failure.
bench: deps lab-build
	$(BIN)/python bench/run.py --hosts $(BENCH_HOSTS) --reps $(BENCH_REPS) \
	  --scale-reps $(BENCH_SCALE_REPS) --out $(BENCH_OUT)

# Firewall confirmation at scale: 40 hosts hardened at once with forks 2, then one host cut off (bench/fleet_confirm.py).
bench-fleet: deps lab-build
	$(BIN)/python bench/fleet_confirm.py --out $(BUILD)/bench/fleet.json

# The cloud firewall tests alone: API servers on 127.0.0.1, no lab host.
cloud-integration: deps cloud-servers
	PYTHONPATH=$(COLLECTIONS) $(BIN)/python -m pytest -q tests/integration/test_cloud_firewall.py $(PYTEST_ARGS)

# 2 hosts, 1 repetition, both cfgs: fails only when a step cannot run or a converge restarts too often.
bench-smoke: deps lab-build
	$(BIN)/python bench/run.py --smoke --out $(BENCH_SMOKE_OUT)

molecule: deps lab-build
	$(BIN)/molecule test --all

test: unit sanity sanity-matrix lint demo-check integration bench-smoke molecule

lab-build: apt
	$(LAB) build --dist debian12 --dist debian13

lab-up: deps
	$(LAB) up $(foreach h,$(LAB_HOSTS),--host $(h))

lab-down:
	$(LAB) down

lab-status:
	$(LAB) status

demo: deps lab-build
	$(BIN)/python lab/demo.py

# What make test runs of the demo: on a fresh lab, the demo, then again with nothing left to change.
demo-check: deps lab-build
	$(LAB) down
	rc=0; $(BIN)/python lab/demo.py && $(BIN)/python lab/demo.py --expect-unchanged || rc=$$?; \
	  $(LAB) down; exit $$rc

clean: lab-down
	rm -rf $(BUILD)
