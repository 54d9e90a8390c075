#!/usr/bin/env bash
# The GPU checks in one run, on a CUDA machine (a rig's policy host, or a lent GPU box):
# the gpu-marked tests (every GPU rung of the compile ladder reproduces eager in every
# sampler mode) and `abc-bench policy` (the ladder for the reference policy and for a
# 296 M-parameter model), then ABC-DiT's ladder at the released XL shape
# (`abc-bench policy --model abc-dit-xl`, bench_abc_dit_xl.json). It uses that machine's own python3 and torch; nothing from
# the network. Python packages the machine lacks (pyzmq, msgpack, pyyaml, rich, ...) may
# lie as wheels in .whl/ (pip download ... -d .whl): they are installed to /tmp/site.
#
#   OUT=gpu_out bash scripts/gpu_check.sh     # results in $OUT (device.txt, *.log, bench_policy.json)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PY" - <<'EOF' | tee "$OUT/device.txt"
import importlib.util, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
print("torch_tensorrt", "installed" if importlib.util.find_spec("torch_tensorrt") else "not installed")
EOF
"$PY" -m pytest -q -m gpu -p no:cacheprovider tests/test_policy_gpu.py tests/test_policy_abc_dit_ladder.py 2>&1 | tee "$OUT/gpu_tests.log"
tests=${PIPESTATUS[0]}
ABC_BENCH_THREADS=${ABC_BENCH_THREADS:-4} "$PY" -m abc_robot.cli.bench policy --json >"$OUT/bench_policy.json" 2>"$OUT/bench_policy.log"
bench=$?
cat "$OUT/bench_policy.json"
# ABC-DiT at the released XL shape (random weights): rows abc_dit/<rung> vs abc_dit/eager, abc_dit/prefix.
ABC_BENCH_THREADS=${ABC_BENCH_THREADS:-4} "$PY" -m abc_robot.cli.bench policy --model abc-dit-xl --json >"$OUT/bench_abc_dit_xl.json" 2>"$OUT/bench_abc_dit_xl.log"
xl=$?
cat "$OUT/bench_abc_dit_xl.json"
echo "gpu tests: exit $tests; bench: exit $bench; abc-dit-xl bench: exit $xl"
exit $((tests || bench || xl))
