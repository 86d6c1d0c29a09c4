# mly-export: the two commands are `make export` and `make test`.
JOB ?= jobs/demo.toml
OUT ?= out
# The demo job runs against the built-in mock API; any other job uses the real API
# (MAPILLARY_CLIENT_ID for v3, MAPILLARY_ACCESS_TOKEN for v4). MOCK=1 / MOCK=0 force it.
ifeq ($(JOB),jobs/demo.toml)
MOCK ?= 1
else
MOCK ?= 0
endif
MOCK_FLAG := $(if $(filter 1,$(MOCK)),--mock,)
BIN := target/release/mly-export

.PHONY: export build test ci fmt clippy bench check-jobs

export: build
	$(BIN) run $(JOB) --out $(OUT) $(MOCK_FLAG)

build:
	cargo build --release --locked --bin mly-export

test:
	cargo test --workspace --locked

fmt:
	cargo fmt --all --check

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings

ci: fmt clippy test

check-jobs: build
	$(BIN) check jobs/*.toml

bench: build
	bash bench/run.sh
