#!/usr/bin/env bash
# The GPU check of the CUDA backend as one command, for a session lent a GPU (run it from
# the repository's root on the device machine; results, the table and the log land in
# $OUT). The GPU machine's Python lacks two of graphc's pure-Python dependencies: fetch
# them here first, into .whl (ignored by git), and name .whl in the run's `carry`:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux2014_x86_64 -d .whl graphviz graphviz-pure
# Extra arguments go to the selftest (--steps N, --quick).
set -uo pipefail
out=${OUT:-gpu-results}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/graphc-site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/graphc-site:$PWD
else
    export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 GRAPHC_CUDA_ARCHS=${GRAPHC_CUDA_ARCHS:-90}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
nvcc --version | tail -1 | tee -a "$out/gpu.txt"
python3 -m graphc.codegen.cuda.selftest --out "$out" "$@" 2>&1 | tee "$out/selftest.log"
