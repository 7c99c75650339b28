#!/usr/bin/env bash
# bench/gpu-run.sh — our GPT-2 against Hugging Face's on one GPU, as ONE command on the GPU machine
# (../shared/gpu/README.md): for gpt2 and gpt2-xl, hf_peer.py makes the real-size random-weight
# model, its float64 references and Hugging Face's f32 times (forward, all outputs to the host,
# generate()); then scripts/gpu-vs-hf.mjs checks our all-taps run against the references with
# `gpt2-taps compare`, times our forward (no taps / all taps read back) and decoding, measures
# the device peak, and writes vs-hf.json + vs-hf.md (+ this run's log and hf-times-*.json).
#
#   here, first:  ../shared/gpu/pack.sh            (builds; writes .gpu/; again after every change)
#                 then move weights/ and test/fixtures/ out of the tree for the call (with them the tree
#                 is ~60 MiB, and .gpu/ adds ~37 MB: over a device call's 64 MiB); put them back after it
#   there:        COMMIT=<sha> bash bench/gpu-run.sh   (the device call, with carry ['.gpu'])
#   here, after:  bash bench/gpu-run.sh --collect <folder of the returned files>   → bench/gpu-<device>/
#   anywhere:     bash bench/gpu-run.sh --local [DIR]  (the bundled tiny model, Dawn or SwiftShader, no
#                 .gpu/ and no Hugging Face: a smoke run of the script; results in DIR or a temp folder)
#
# Results go to $OUT when set (the device tool returns only files under $OUT), else into
# bench/gpu-<device>/ of this tree. Exit status: 0, or 1 when a parity check failed or a step
# broke (everything measured until then is written), 2 on bad use.
# Settings (environment): MODELS ("gpt2 gpt2-xl"), GPT2_REFS (17,1024: the T of gpt2's parity
# references), GPT2_TIME (1,128,1024), XL_REFS (17), XL_TIME (1,128), DECODE (32), RUNS (10),
# WARMUP (3), BUDGET_S (330: a model is skipped when its start would come later than this many
# seconds into the run, so that the command ends inside the device's 10 minutes), M (/tmp/gpt2-taps-m).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
script=$here/scripts/gpu-vs-hf.mjs
slug_of() { sed -n 's/^ *"device": "\([^"]*\)",\{0,1\}$/\1/p' "$1" | head -n1; }

case "${1:-}" in
  --collect)
    src=${2:?usage: bash bench/gpu-run.sh --collect DIR}
    [ -f "$src/vs-hf.json" ] || { echo "gpu-run: no vs-hf.json in $src" >&2; exit 2; }
    dst=$here/bench/gpu-$(slug_of "$src/vs-hf.json")
    mkdir -p "$dst"
    for f in "$src"/vs-hf.json "$src"/vs-hf.md "$src"/gpu-run.log "$src"/hf-times-*.json; do [ -f "$f" ] && cp "$f" "$dst/"; done
    echo "gpu-run: copied into $dst"; ls -l "$dst"; exit 0 ;;
  --local)
    dst=${2:-${OUT:-$(mktemp -d)}}
    node "$script" --root "$here" --local --time 1,17 --parity 17 --decode 8 --runs 3 --warmup 1 --decode-runs 2 \
      --out "$dst" --commit "${COMMIT:-local}"
    st=$?; echo "gpu-run: results in $dst" >&2; exit $st ;;
  --inner) ;;   # below: inside .gpu/run.sh, in the unpacked project root
  "") # the device command: unpack (.gpu/run.sh) and come back here as --inner
    [ -f "$here/.gpu/run.sh" ] || { echo "gpu-run: no .gpu/ here: run ../shared/gpu/pack.sh in the project root first, and carry ['.gpu']" >&2; exit 2; }
    res=${OUT:-}
    [ -n "$res" ] || res=$(mktemp -d)
    mkdir -p "$res"
    export GPU_RUN_RES=$res GPU_RUN_START=$(date +%s)
    export COMMIT=${COMMIT:-$(cat "$here/.gpu/commit" 2>/dev/null || git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)}
    bash "$here/.gpu/run.sh" bash "$here/bench/gpu-run.sh" --inner 2>&1 | tee "$res/gpu-run.log"
    st=${PIPESTATUS[0]}
    if [ -z "${OUT:-}" ] && [ -f "$res/vs-hf.json" ]; then bash "$here/bench/gpu-run.sh" --collect "$res"; fi
    exit "$st" ;;
  -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "gpu-run: unknown argument $1 (--help)" >&2; exit 2 ;;
esac

# --inner: cwd is /tmp/gpt2-taps/p (the packed bin/, dist/, node_modules), node on PATH, hf_peer.py at ../hf_peer.py.
res=$GPU_RUN_RES; M=${M:-/tmp/gpt2-taps-m}; DECODE=${DECODE:-32}
status=0; merge=
echo "gpu-run: commit $COMMIT; results → $res; $(node --version); $(python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' 2>&1 | tail -n1)"
for model in ${MODELS:-gpt2 gpt2-xl}; do
  case $model in
    gpt2) refs=${GPT2_REFS:-17,1024}; time=${GPT2_TIME:-1,128,1024} ;;
    gpt2-xl) refs=${XL_REFS:-17}; time=${XL_TIME:-1,128} ;;
    *) refs=17; time=1,128 ;;
  esac
  elapsed=$(( $(date +%s) - GPU_RUN_START ))
  if [ "$elapsed" -gt "${BUDGET_S:-330}" ]; then
    echo "gpu-run: SKIPPED $model: ${elapsed}s already spent (BUDGET_S=${BUDGET_S:-330})"; status=1; continue
  fi
  d=$M/$model; rm -rf "$d"
  echo "gpu-run: [$model] hf_peer.py (refs T=$refs; times T=$time; decode $DECODE) at ${elapsed}s"
  python3 ../hf_peer.py "$model" "$d" "$refs" --time "$time" --decode "$DECODE" || { echo "gpu-run: [$model] hf_peer.py FAILED"; status=1; }
  [ -f "$d/hf-times.json" ] && cp "$d/hf-times.json" "$res/hf-times-$model.json"
  echo "gpu-run: [$model] ours at $(( $(date +%s) - GPU_RUN_START ))s"
  node "$here/scripts/gpu-vs-hf.mjs" --root "$PWD" --model "$model=$d" --time "$time" --decode "$DECODE" \
    --runs "${RUNS:-10}" --warmup "${WARMUP:-3}" --out "$res" --commit "$COMMIT" $merge || status=1
  merge=--merge
  rm -rf "$d"   # gpt2-xl is 6 GB, its references more
done
echo "gpu-run: done in $(( $(date +%s) - GPU_RUN_START ))s, status $status"
exit $status
