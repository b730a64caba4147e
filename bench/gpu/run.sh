#!/usr/bin/env bash
# The GPU benchmark on a GPU host without network, from the bundle bench/gpu/pack.sh made.
# Run from the checkout's root, in two steps, each after its part of the bundle has arrived:
#   mkdir -p .gpu-carry/stage && tar xJf .gpu-carry/part1/build.tar.xz -C .gpu-carry/stage \
#     && bash .gpu-carry/stage/bench/gpu/run.sh stage1     # part1 there: unpack, build models
#   bash .gpu-carry/stage/bench/gpu/run.sh stage2          # part2 there: run everything
# stage1 checks nvidia-smi, unpacks the CUDA provider and starts the model builds (torch on the
# GPU: BERT-base fp32 and fp16 packages, the demo's fp16 package) in the background; stage2
# unpacks Node, onnxruntime-node, the app and Redis, runs gpu:prepare, waits for the models and
# runs the benchmark. Results: $OUT/gpu.json, $OUT/gpu.md (printed), logs, the demo fp16 package.
# Where each transfer replaces .gpu-carry/ in the checkout, work in a folder outside it that
# holds models/ag-news-bert and a copy of each part under .gpu-carry/ (the figures in docs/benchmarks/
# were taken so: `cp -r <checkout>/.gpu-carry/partN <dir>/.gpu-carry/`, then run from <dir>).
set -uo pipefail
ROOT=$PWD
C=$ROOT/.gpu-carry
S=$C/stage
OUT=${OUT:-$ROOT/bench/results/gpu}
PY=${PYTHON:-python3}
mkdir -p "$S" "$OUT"
say() { echo "run.sh $(date +%T): $*"; }

stage1() {
  nvidia-smi --query-gpu=name,driver_version,memory.total,utilization.gpu --format=csv,noheader \
    || { say "nvidia-smi failed: no GPU here"; exit 1; }
  mkdir -p "$S/ort-src" "$S/models"
  xz -dc "$C/part1/libonnxruntime_providers_cuda.so.xz" > "$S/ort-src/libonnxruntime_providers_cuda.so"
  cp "$C/part1/libonnxruntime_providers_shared.so" "$S/ort-src/"
  if [ "$(sha256sum "$ROOT/models/ag-news-bert/model.onnx" | cut -d' ' -f1)" != "$(cat "$C/part1/demo-model.sha256")" ]; then
    say "models/ag-news-bert/model.onnx here differs from the one the bundle was made with"; exit 1
  fi
  rm -f "$S/models.done"
  # The model builds run on while this call returns; stage2 waits for models.done.
  setsid bash -c "
    cd '$S' && {
      $PY tools/export_fp16.py '$ROOT/models/ag-news-bert' models/demo-fp16; echo \"demo fp16: exit \$?\"
      $PY tools/make_bert_base.py vocab.txt models/base --gpu-batching; echo \"base fp32: exit \$?\"
      $PY tools/make_bert_base.py vocab.txt models/base-fp16 --precision fp16 --gpu-batching; echo \"base fp16: exit \$?\"
    } > models.log 2>&1; touch models.done" > /dev/null 2>&1 < /dev/null &
  python3 -c 'import torch, onnx, onnxruntime; print("torch", torch.__version__, "cuda", torch.version.cuda, "onnx", onnx.__version__, "ort", onnxruntime.__version__)'
  say "stage1 done: provider unpacked ($(du -h "$S/ort-src/libonnxruntime_providers_cuda.so" | cut -f1)), model builds started"
}

stage2() {
  mkdir -p "$S/node/bin" "$S/redis" "$S/app"
  xz -dc "$C/part2/node.xz" > "$S/node/bin/node" && chmod +x "$S/node/bin/node"
  tar xJf "$C/part2/onnxruntime-node.tar.xz" -C "$S/ort-src"
  cp "$C/part2/onnxruntime-common-"*.tgz "$S/ort-src/"
  tar xJf "$C/part2/app.tar.xz" -C "$S/app"
  tar xJf "$C/part2/redis.tar.xz" -C "$S/redis"
  printf '#!/bin/bash\nLD_LIBRARY_PATH=%s exec -a redis-server %s "$@"\n' \
    "$S/redis/usr/lib/x86_64-linux-gnu" "$S/redis/usr/bin/redis-check-rdb" > "$S/redis/redis-server"
  chmod +x "$S/redis/redis-server"
  export PATH="$S/node/bin:$S/redis:$PATH"
  say "node $(node --version), $(redis-server --version | cut -d' ' -f1-3)"
  cd "$S/app" || exit 1
  node dist/tools/gpu-prepare.js --from "$S/ort-src" --out "$S/gpu" 2>&1 | tee "$OUT/gpu-prepare.txt"
  # shellcheck disable=SC1091
  . "$S/gpu/env" || exit 1
  for _ in $(seq 1 240); do [ -f "$S/models.done" ] && break; sleep 1; done
  grep -E 'exit|params|fp16 package|weights|logits|Error' "$S/models.log" | tail -12
  DEMO="demo=$ROOT/models/ag-news-bert"
  [ -f "$S/models/demo-fp16/model.onnx" ] && DEMO="$DEMO,demo-fp16=$S/models/demo-fp16"
  MODELS=(--model "$DEMO")
  [ -f "$S/models/base/model.onnx" ] && [ -f "$S/models/base-fp16/model.onnx" ] \
    && MODELS+=(--model "base=$S/models/base,base-fp16=$S/models/base-fp16")
  PIPE=$S/models/base-fp16; [ -f "$PIPE/model.onnx" ] || PIPE=$ROOT/models/ag-news-bert
  nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv,noheader
  timeout 420 node dist/bench/gpu/gpu.bench.js --device cuda --texts "$S/texts.jsonl" "${MODELS[@]}" \
    --pipeline "$PIPE" --pipeline-env BATCH_CHUNK_SIZE=1024 --pipeline-env BULK_CONCURRENCY=8 \
    --eager-python "$PY" --commit "$(cat "$C/part2/commit")" --out "$OUT" 2> "$OUT/bench.log"
  status=$?
  tail -25 "$OUT/bench.log" | grep -v '^\s*at ' | tail -12
  cp "$S/models.log" "$OUT/models.log" 2>/dev/null
  [ -d "$S/models/demo-fp16" ] && tar czf "$OUT/demo-fp16.tar.gz" -C "$S/models" demo-fp16
  say "stage2 done (benchmark exit $status)"
}

case "${1:-}" in
  stage1) stage1 ;;
  stage2) stage2 ;;
  *) echo "usage: run.sh stage1|stage2" >&2; exit 2 ;;
esac
