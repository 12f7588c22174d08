# faultline: the commands of the README.
#   make test-partition   build, then a 5-node raft-register test under partitions (~60 s)
#   make test-kill / test-pause / test-mix   the same under other nemeses
#   make test-etcd        a 5-member etcd under partitions (~60 s)
#   make test-zookeeper   a 3-server ZooKeeper (sync reads) under partitions (~60 s)
#   make test-redis       3 Redis nodes with Sentinel under isolate-leader (~60 s)
#   make test-maelstrom   raft-node in Maelstrom mode, Maelstrom's command line, partitions (~30 s)
#   make test-broadcast   the example broadcast node (Python), Maelstrom's broadcast workload (~30 s)
#   make test-suite       the Raft lab scenarios on raft-register (~2.5 min)
#   make test-bugs        the planted-bug scorecard (`faultline bugs`, up to ~1 h)
#   make test          fmt, clippy, every test (unit, property, simulation, end-to-end)
#   make bench-check   the checker benchmark (`faultline bench check`)
#   make bench-harness faultline's clients and recorder (`faultline bench harness`)
#   make bench-node    the raft-node benchmark (`raft-node bench`)
#   make fuzz          every parser's fuzz target, FUZZ_RUNS inputs each (docs/fuzzing.md)
CARGO ?= cargo
JOBS ?= 2
# chromium: the report's browser tests (faultline/tests/main/report.rs).
# python3: the example systems (systems/examples/*.py).
SYSTEM_TOOLS := ip:iproute2 iptables:iptables chromium:chromium python3:python3

.PHONY: test test-root deps build release fmt clippy unit bench-check bench-harness bench-node \
	run-deps test-partition test-kill test-pause test-mix test-etcd test-zookeeper test-redis test-maelstrom test-broadcast test-suite \
	test-bugs fuzz

# Flags of the `make test-*` runs; e.g. `make test-partition RUN_FLAGS="--seed 7"`.
RUN_FLAGS ?=
FAULTLINE := target/release/faultline

# What a test run needs from the system (iproute2, iptables): installed when missing.
run-deps:
	@[ "$$(id -u)" -eq 0 ] || { echo "faultline: test runs need root (network namespaces, iptables): run sudo make $(MAKECMDGOALS)" >&2; exit 2; }
	@scripts/ensure-deps.sh ip:iproute2 iptables:iptables

test-partition: run-deps release
	$(FAULTLINE) test --system systems/raft-register.toml --nodes 5 --nemesis partition --time-limit 60 $(RUN_FLAGS)

test-kill: run-deps release
	$(FAULTLINE) test --system systems/raft-register.toml --nodes 5 --nemesis kill --time-limit 60 $(RUN_FLAGS)

test-pause: run-deps release
	$(FAULTLINE) test --system systems/raft-register.toml --nodes 5 --nemesis pause --time-limit 60 $(RUN_FLAGS)

test-mix: run-deps release
	$(FAULTLINE) test --system systems/raft-register.toml --nodes 5 --nemesis mix --time-limit 60 $(RUN_FLAGS)

test-suite: run-deps release
	$(FAULTLINE) suite --system systems/raft-register.toml $(RUN_FLAGS)

test-bugs: run-deps release
	$(FAULTLINE) bugs --system systems/raft-register.toml $(RUN_FLAGS)

test-etcd: run-deps release
	@scripts/ensure-etcd.sh
	$(FAULTLINE) test --system systems/etcd.toml --nodes 5 --nemesis partition --time-limit 60 $(RUN_FLAGS)

test-zookeeper: run-deps release
	@scripts/ensure-zookeeper.sh
	$(FAULTLINE) test --system systems/zookeeper.toml --nodes 3 --nemesis partition --clients spread --time-limit 60 $(RUN_FLAGS)
test-redis: run-deps release
	@scripts/ensure-redis.sh
	$(FAULTLINE) test --system systems/redis-sentinel.toml --nodes 3 --nemesis isolate-leader --clients spread --time-limit 60 $(RUN_FLAGS)

test-maelstrom: run-deps release
	$(FAULTLINE) maelstrom test -w lin-kv --bin target/release/raft-node --node-count 3 \
		--time-limit 30 --rate 100 --concurrency 2n --nemesis partition $(RUN_FLAGS) -- --maelstrom

test-broadcast: run-deps release
	@scripts/ensure-deps.sh python3:python3
	$(FAULTLINE) maelstrom test -w broadcast --bin systems/examples/broadcast.py --node-count 5 \
		--time-limit 30 --rate 20 --topology grid --nemesis partition $(RUN_FLAGS)

test: test-root deps fmt clippy unit

# make test runs the tests that need root; a plain `cargo test` runs the others.
test-root:
	@[ "$$(id -u)" -eq 0 ] || { echo "faultline: make test runs tests that need root (network namespaces, iptables): run sudo make test (cargo test runs the tests that need no root)" >&2; exit 2; }

# System tools of the end-to-end tests (iproute2, iptables), of the report's browser tests
# (chromium), etcd for the etcd tests (Debian's etcd-server), ZooKeeper with Java for the
# ZooKeeper tests and Redis for the redis tests (redis-server, redis-sentinel): installed when
# missing.
deps:
	@scripts/ensure-deps.sh $(SYSTEM_TOOLS)
	@scripts/ensure-etcd.sh
	@scripts/ensure-zookeeper.sh
	@scripts/ensure-redis.sh

fmt:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -j$(JOBS) -- -D warnings

# Every test, the ignored ones included: those need root, etcd or Chromium, which `deps`
# provides (a plain `cargo test` skips them and lists them as ignored). The differential test
# (300,000 random histories against two oracles) runs on its own, so that its count, shares and
# time are printed. It is selected by name over the workspace's test targets rather than with
# `-p checker`: one package alone resolves its dependencies' features differently, and cargo
# would build 51 crates again (2 minutes on 2 cores).
DIFFTEST := differential::small_random_histories_agree_with_both_oracles
unit:
	$(CARGO) test --workspace -j$(JOBS) -- --include-ignored --skip $(DIFFTEST)
	$(CARGO) test --workspace --tests -j$(JOBS) -- --nocapture --exact $(DIFFTEST)

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

# The parsers' fuzz targets (fuzz/, cargo-fuzz on the nightly toolchain), one after the other,
# each for FUZZ_RUNS inputs of at most FUZZ_MAX_LEN bytes; an input running longer than
# FUZZ_TIMEOUT seconds is a hang. The corpora are seeded from histories/testdata and systems/.
FUZZ_RUNS ?= 10000000
FUZZ_MAX_LEN ?= 4096
FUZZ_TIMEOUT ?= 10
FUZZ_TARGETS ?= jsonl edn jepsen_log porcupine auto spec
fuzz:
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz
	fuzz/seed.sh
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		$(CARGO) +nightly fuzz run -s none -a $$target corpus/$$target -- \
			-runs=$(FUZZ_RUNS) -max_len=$(FUZZ_MAX_LEN) -timeout=$(FUZZ_TIMEOUT) \
			-print_final_stats=1 || exit 1; \
	done

# The checker against its two oracles on 10^7 random histories, in release
# (docs/testing-checker.md). FAULTLINE_DIFF_SEED=<n> picks another base seed.
.PHONY: difftest-long
difftest-long:
	FAULTLINE_DIFF_CASES=10000000 FAULTLINE_DIFF_LARGE=1000 $(CARGO) test --release -p checker --test main -j$(JOBS) -- --nocapture differential::
