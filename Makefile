# faultline: the commands of the README.
#   make test          fmt, clippy, every test (unit, property, simulation, end-to-end)
#   make bench-check   the checker benchmark (`faultline bench check`)
#   make bench-harness faultline's clients and recorder (`faultline bench harness`)
#   make bench-node    the raft-node benchmark (`raft-node bench`)
CARGO ?= cargo
JOBS ?= 2
# chromium: the report's browser tests (faultline/tests/report.rs).
SYSTEM_TOOLS := ip:iproute2 iptables:iptables chromium:chromium

.PHONY: test deps build release fmt clippy unit bench-check bench-harness bench-node

test: deps fmt clippy unit

# System tools of the end-to-end tests (iproute2, iptables), of the report's browser tests
# (chromium) and etcd for the etcd tests (Debian's etcd-server): installed when missing.
deps:
	@scripts/ensure-deps.sh $(SYSTEM_TOOLS)
	@scripts/ensure-etcd.sh

fmt:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -j$(JOBS) -- -D warnings

unit:
	$(CARGO) test --workspace -j$(JOBS)

build:
	$(CARGO) build --workspace -j$(JOBS)

release:
	$(CARGO) build --release --workspace --bins -j$(JOBS)

bench-check: release
	target/release/faultline bench check

bench-harness: release
	target/release/faultline bench harness

bench-node: release
	target/release/raft-node bench
