#!/usr/bin/env bash
# The CUDA backend's checks on a GPU machine that has no Go and no network, from binaries built on
# a development machine (`make devcheck-build` writes them to bin/devcheck/):
#
#   bin/devcheck/qlora-cuda   the engine built with -tags cuda
#   bin/devcheck/cuda.test    the cuda package's tests built with -tags cuda (go test -c)
#
# Usage, from the repository root:  cuda/devcheck/run.sh [parity] [step] [kernels] [bench]   (default: all)
# SHAPES="llama-1b llama-3b llama-8b" (the default) picks the bench's shapes; FUSED_SHAPES (default
# llama-8b, "" for none) the ones benched again with the NF4 dequantization fused into the GEMM.
#
#   parity  the conformance suite against the CPU backend, in bf16 and in fp32 storage and with the
#           NF4 dequantization fused into the GEMM, with every launch synchronised so that a failing
#           kernel names itself; the NF4 checks (exact dequantization; fused against dequantize +
#           cuBLAS, and its pending weights never observed); and the PTX checks (ptxas
#           for sm_80, sm_86, sm_89, sm_90 where the machine has one)
#   step    one training step of a tiny model on both backends (and with the fused NF4 GEMM): loss, gradient norm, every adapter
#           gradient and updated adapter agree; twice the same bits; the same bits when profiled;
#           and the planner's CUDA figures equal what the backend allocates, to the byte
#   kernels single kernels at Llama 3 8B's sizes, each against what it replaced where both exist:
#           flash attention against the plain kernels, the fused NF4 GEMM against dequantize + cuBLAS,
#           NF4 dequantization's bandwidth (go test -bench)
#   bench   Llama 1B, 3B and 8B shapes with random weights, 2048 tokens, gradient checkpointing,
#           LoRA r 16 on all seven projections: qlora-cuda (NF4 base) and transformers + PEFT (bf16
#           base) in the same call; tokens/s, peak memory (NVML, the engine's, the plan), MFU; and
#           where qlora-cuda's time goes: one more step timed kernel by kernel (bench --profile)
#
# Each part fits in under 5 minutes. $OUT (a temporary folder if unset) receives at most eight files,
# so that a device machine returns them all: environment.log, parity.log, step.log, kernels.log, bench.log (every
# bench log), bench.json (every bench result), bench.md and devcheck.md, the summary and the table,
# which is also printed last. The exit status is 1 when a part failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=$root/bin/devcheck
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
work=$(mktemp -d) # the bench's many small files; $out gets them merged
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(parity step kernels bench)
summary=()
failed=0

note() { printf '%s\n' "$*" | tee -a "$out/environment.log"; }

for f in "$bin/qlora-cuda" "$bin/cuda.test"; do
	if [ ! -x "$f" ]; then
		echo "devcheck: $f is missing: build it on a machine with Go (make devcheck-build) and carry bin/devcheck" >&2
		exit 2
	fi
done

note "== environment"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,temperature.gpu,power.draw --format=csv 2>&1 | tee -a "$out/environment.log"
"$bin/qlora-cuda" gpu 2>&1 | tee -a "$out/environment.log"
# The parity check every GPU run starts with; the bench skips it after this (QLORA_SKIP_GPU_CHECK),
# so that a failure here still leaves the timings.
"$bin/qlora-cuda" gpu --check 2>&1 | tee -a "$out/environment.log"

# gotest runs the test binary in the package's folder (the PTX checks read kernels/), logging to
# $out/$1.log, and summarises the results.
gotest() {
	local name=$1 limit=$2
	shift 2
	local start=$SECONDS rc
	(cd cuda && timeout "$limit" "$bin/cuda.test" -test.v -test.count=1 "$@") >"$out/$name.log" 2>&1
	rc=$?
	local pass fail skip
	pass=$(grep -c -- '--- PASS' "$out/$name.log")
	fail=$(grep -c -- '--- FAIL' "$out/$name.log")
	skip=$(grep -c -- '--- SKIP' "$out/$name.log")
	grep -E -- '--- FAIL|panic:|timed out|^\s+\S+_test\.go:[0-9]+:' "$out/$name.log" | head -40
	local verdict=ok
	if [ $rc -ne 0 ]; then
		verdict="FAILED (exit $rc)"
		failed=1
	fi
	summary+=("| $name | $verdict | $pass passed, $fail failed, $skip skipped | $((SECONDS - start)) s |")
}

# benchOne runs qlora-cuda's bench on one shape with one NF4 GEMM path (QLORA_CUDA_NF4_GEMM:
# dequantize or fused), sampling NVML, into $work/bench-SHAPE[-fused].json.
benchOne() {
	local shape=$1 variant=$2 name=$1
	[ "$variant" = fused ] && name=$shape-fused
	nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$work/nvml-$name.csv" 2>/dev/null &
	local sampler=$! rc
	sleep 0.5
	QLORA_SKIP_GPU_CHECK=1 QLORA_CUDA_NF4_GEMM=$variant timeout 150s "$bin/qlora-cuda" bench --backend cuda --shape "$shape" --seq 2048 \
		--steps 3 --profile --json >"$work/bench-$name.raw" 2>"$work/bench-$name.log"
	rc=$?
	kill $sampler 2>/dev/null
	wait $sampler 2>/dev/null
	python3 - "$work" "$name" "$shape" "$variant" "$rc" <<'EOF'
import json, sys
out, name, shape, variant, rc = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
mib = [int(x) for x in open(f"{out}/nvml-{name}.csv").read().split() if x.strip().isdigit()]
try:
    r = json.loads(open(f"{out}/bench-{name}.raw").read().strip().splitlines()[-1])
except Exception:
    tail = open(f"{out}/bench-{name}.log").read().strip().splitlines()[-3:]
    r = dict(shape=shape, error=f"exit {rc}: " + " / ".join(tail))
r["nf4_gemm"] = variant
if mib:
    r["nvml_peak_bytes"] = (max(mib) - mib[0]) << 20  # above what was in use before it started
json.dump(r, open(f"{out}/bench-{name}.json", "w"), indent=1)
print(json.dumps(r))
EOF
	return $rc
}

for part in "${parts[@]}"; do
	case $part in
	parity)
		note "== parity: conformance suite (bf16 and fp32 storage) and PTX checks"
		QLORA_CUDA_SYNC=1 gotest parity 280s -test.run '^(TestConformance_BF16|TestConformance_BF16FusedNF4|TestConformance_FP32|TestDequantize_Exact|TestNF4Gemm_MatchesDequantize|TestNF4Gemm_PendingNeverObserved|TestPTX_EntriesMatchKernels|TestPTX_Assembles)$'
		;;
	kernels)
		note "== kernels: benchmarks of single kernels at Llama 3 8B's sizes (cuda/bench_test.go)"
		gotest kernels 280s -test.run '^$' -test.bench . -test.benchtime 20x
		grep -E '^Benchmark' "$out/kernels.log"
		;;
	step)
		note "== step: a tiny model's training step on both backends; the plan against the allocations"
		gotest step 280s -test.run '^(TestStep_MatchesCPU|TestStep_FusedNF4MatchesCPU|TestStep_CastsAdaptersOncePerLayer|TestPlan_MatchesAllocations|TestProfile_TimesEveryLaunch)$'
		;;
	bench)
		note "== bench: qlora-cuda and transformers+peft, ${SHAPES:-llama-1b llama-3b llama-8b}, 2048 tokens"
		start=$SECONDS
		verdict=ok
		shapes=${SHAPES:-llama-1b llama-3b llama-8b}
		for shape in $shapes; do
			benchOne "$shape" dequantize || { failed=1; verdict="FAILED ($shape)"; }
		done
		for shape in ${FUSED_SHAPES-llama-8b}; do
			benchOne "$shape" fused || { failed=1; verdict="FAILED ($shape, fused NF4 GEMM)"; }
		done
		PYTHONUNBUFFERED=1 timeout 200s python3 cuda/devcheck/bench.py peft --shapes "${shapes// /,}" \
			--seq 2048 --steps 3 --out "$work/peft.json" 2>"$work/peft.log" || {
			echo "transformers+peft baseline failed: $(tail -3 "$work/peft.log")"
			failed=1
			verdict="FAILED (transformers+peft)"
		}
		python3 cuda/devcheck/bench.py table --qlora "$work" --peft "$work/peft.json" --out "$out/bench.md" >/dev/null
		for f in "$work"/bench-*.log "$work"/peft.log; do
			[ -f "$f" ] && { echo "== $(basename "$f")"; cat "$f"; }
		done >"$out/bench.log"
		python3 - "$work" "$out/bench.json" <<'EOF'
import glob, json, os, sys
work, dst = sys.argv[1], sys.argv[2]
runs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(work, "bench-*.json")))]
peft = json.load(open(os.path.join(work, "peft.json"))) if os.path.exists(os.path.join(work, "peft.json")) else None
json.dump(dict(qlora_cuda=runs, peft=peft), open(dst, "w"), indent=1)
EOF
		summary+=("| bench | $verdict | the table below | $((SECONDS - start)) s |")
		;;
	*)
		echo "devcheck: unknown part $part (parity, step, kernels, bench)" >&2
		exit 2
		;;
	esac
done

{
	echo
	echo "== devcheck: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
	echo "| part | result | tests | time |"
	echo "|---|---|---|---|"
	printf '%s\n' "${summary[@]}"
	[ -f "$out/bench.md" ] && echo && cat "$out/bench.md"
} | tee "$out/devcheck.md"
exit $failed
