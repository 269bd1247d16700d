#!/usr/bin/env bash
# Every CUDA figure the docs record, on a machine with a GPU (e.g. through the device tool's `run`), in two stages
# that each fit a 10-minute call:
#
#   bash benchmarks/cuda_figures.sh tests         # the whole suite; the `device` fixture adds CUDA to its tests
#   bash benchmarks/cuda_figures.sh benchmarks    # bench_samplers, bench_mtl, bench_weighting, bench_timing on cuda
#
# Logs go to $OUT (or ./cuda_figures). A machine without pyro-ppl, cvxpy, arviz, torchjd, pymoo, ... gets them from
# wheels in ./.whl (carried, git-ignored), installed into /tmp/site. To build that folder for Python 3.12 (42 MB):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     pyro-ppl==1.9.1 pyro-api==0.1.2 arviz==1.3.0 arviz-base==1.3.1 arviz-stats==1.3.3 arviz-plots==1.3.2 \
#     cvxpy==1.9.3 clarabel==0.11.1 osqp==1.1.3 scs==3.2.7 qdldl==0.1.9.post1 highspy==1.16.0 sparsediffpy==0.6.1 \
#     cffi==2.1.1 pycparser platformdirs torchjd==0.18.0 pymoo==0.6.2 autograd==1.9.1 cma==4.5.0 moocore==0.3.2 \
#     deprecated alive-progress==3.3.0 about-time==4.2.1 graphemeu==0.7.2 qpsolvers==4.13.0 quadprog==0.1.14
# (scs 3.3 is a 43 MB wheel; 3.2.7 is 10 MB.)
set -uo pipefail
cd "$(dirname "$0")/.."
stage="${1:-tests}"
out="${OUT:-cuda_figures}"
mkdir -p "$out"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, \
torch.cuda.get_device_name())" 2>&1 | tee "$out/device.txt" || exit 1
case "$stage" in
    tests)
        python3 -m pytest -q -p no:cacheprovider -rs 2>&1 | tee "$out/pytest.txt" | tail -15 ;;
    benchmarks)
        cd benchmarks
        for bench in bench_samplers bench_mtl bench_weighting bench_timing; do
            python3 "$bench.py" --device cuda 2>&1 | tee "../$out/$bench.txt"
        done ;;
    *)
        echo "usage: $0 tests|benchmarks" >&2; exit 2 ;;
esac
