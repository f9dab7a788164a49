#!/usr/bin/env bash
# Builds the CUDA runner and test binaries here and packs them, stripped and compressed, with the
# CIFAR-10 files into .gpu/ (git-ignored), to be carried to a GPU machine that has a driver
# and NVRTC but no Rust toolchain or network.
set -euo pipefail
cd "$(dirname "$0")/.."
export CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13000}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --features cuda --bin admm-runner
suite=$(cargo test --features cuda --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*suite-[^"]*"' | tail -1 | cut -d'"' -f4)
rm -rf .gpu && mkdir -p .gpu/cifar10
cp "$target/debug/admm-runner" .gpu/admm-runner
cp "$suite" .gpu/suite
strip .gpu/admm-runner .gpu/suite
xz -T2 -6 .gpu/admm-runner .gpu/suite
cifar="${CIFAR10_DIR:-../shared/data/cifar10}"
cp "$cifar"/cifar10_train_c01.bin "$cifar"/cifar10_test_c01.bin .gpu/cifar10/
xz -T2 -1 .gpu/cifar10/*.bin
# Paths compiled into the test binary, recreated on the GPU machine.
echo "$PWD" > .gpu/manifest_dir
echo "$(cd "$target" && pwd)/debug/admm-runner" > .gpu/bin_path
du -sh .gpu
