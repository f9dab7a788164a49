#!/usr/bin/env bash
# Runs on the GPU machine, in the repository root, with .gpu/ carried (scripts/gpu-bundle.sh):
# probes the device, runs the test suite's every-backend tests (which then include CUDA), and
# the CUDA runs of the given manifest. Prints everything; results go to ${OUT:-/tmp}/results.
set -uo pipefail
out="${OUT:-/tmp}"
manifest="${1:-experiments/table1.yaml}"
only="${2:-}"
cd .gpu && xz -d -f ./*.xz cifar10/*.xz && chmod +x admm-runner suite && cd ..
# The test binary looks for fixtures and the runner where they were when it was compiled.
mkdir -p "$(dirname "$(cat .gpu/manifest_dir)")" "$(dirname "$(cat .gpu/bin_path)")"
[ -e "$(cat .gpu/manifest_dir)" ] || ln -s "$PWD" "$(cat .gpu/manifest_dir)"
cp .gpu/admm-runner "$(cat .gpu/bin_path)"
# burn's CUDA backend compiles kernels at run time with NVRTC.
nvrtc=$(find / -xdev -name 'libnvrtc.so*' 2>/dev/null | grep -v stub | head -1)
[ -n "$nvrtc" ] && export LD_LIBRARY_PATH="$(dirname "$nvrtc")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "== nvrtc: ${nvrtc:-not found}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
echo "== admm-runner info"; .gpu/admm-runner info
echo "== test suite, every-backend tests"
.gpu/suite every_backend --nocapture --test-threads 1
echo "== CUDA runs of $manifest ${only:+(--only $only)}"
CIFAR10_DIR=.gpu/cifar10 .gpu/admm-runner run "$manifest" --set backend=cuda \
  ${only:+--only "$only"} --out "$out/results"
echo "== exit $?"
