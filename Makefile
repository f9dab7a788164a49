# admm-runner: common tasks. Every target uses one cargo profile (dev: our crate and its
# dependencies optimized at level 3, debug line tables), so tests, the quickstart and
# experiments share one build.
CARGO ?= cargo
RUNNER = $(CARGO) run --quiet --bin admm-runner --
export CIFAR10_DIR ?= $(abspath ../shared/data/cifar10)

.PHONY: quickstart test regress lint fmt build fig1 figures check-cuda gpu-bundle
# The CUDA API version the cuda build targets (13.0: driver 580). Pinned so that cudarc's
# build script does not guess, and so that every cuda build shares one cache.
export CUDARC_CUDA_VERSION ?= 13000

## Run the quickstart manifest (synthetic data, no download).
quickstart:
	$(RUNNER) run experiments/quickstart.yaml

## Unit and integration tests (the runner's one integration-test binary and the engine's unit
## tests), the engine's doctests, then the accuracy and timing regression suite against the
## committed baselines (README, "Regression (CI)").
test:
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --lib --bins --tests --no-fail-fast; \
	fi
	$(CARGO) test --quiet --doc --workspace
	$(MAKE) --no-print-directory regress

## The regression suite alone; `make regress UPDATE=1` accepts the current numbers as baselines.
regress:
	$(RUNNER) regress experiments/ci.yaml --baseline tests/baselines/ci.json $(if $(UPDATE),--update)

## Formatting and clippy, warnings as errors.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p admm-engine --all-targets --no-default-features -- -D warnings

fmt:
	$(CARGO) fmt --all

build:
	$(CARGO) build --bin admm-runner

## Figure 1 runs on real CIFAR-10 (set CIFAR10_DIR).
fig1:
	$(RUNNER) run experiments/fig1.yaml

## Figures 1-4 and Table 1: run what lacks results (skipping finished runs), then render
## everything into plots/ from the Parquet results. QUICK=1: small synthetic settings (a few
## minutes on 2 cores, no CIFAR-10), into results/<name>-quick/ and plots/<name>-quick.*.
figures:
	$(CARGO) build --quiet --bin admm-runner
	RUNNER="$(RUNNER)" QUICK="$(QUICK)" scripts/figures.sh

## The CUDA path must keep compiling even where no GPU is at hand (CI runs this).
check-cuda:
	$(CARGO) check --workspace --features cuda --all-targets

## Stripped, compressed CUDA binaries (runner + test suite) and CIFAR-10 in .gpu/, for a GPU
## machine without Rust or network: see scripts/gpu-check.sh.
gpu-bundle:
	scripts/gpu-bundle.sh
