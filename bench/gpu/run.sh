#!/usr/bin/env bash
# The GPU benchmark on a GPU host without network, from the bundle bench/gpu/pack.sh made: parts
# .gpu-carry/part1 to partN, one carried beside the checkout per call, in order. From the
# checkout's root:
#   mkdir -p .gpu-carry/stage && tar xJf .gpu-carry/part1/build.tar.xz -C .gpu-carry/stage \
#     && bash .gpu-carry/stage/bench/gpu/run.sh stage1     # part1 there: keep its chunk, build models
#   bash .gpu-carry/stage/bench/gpu/run.sh take            # each middle part there: keep its chunk
#   bash .gpu-carry/stage/bench/gpu/run.sh stage2          # the last part there: run everything
# stage1 checks nvidia-smi and starts the model builds (torch on the GPU: BERT-base fp32 and fp16,
# BERT-base fused by tools/optimize_graph.py in fp32 and fp16, the demo's fp16) in the background;
# stage2 puts the chunks together and unpacks the CUDA provider, Node, onnxruntime-node, the app and
# Redis, runs gpu:prepare, waits for the models and runs the benchmark (the fleet on the fused fp16
# graph, with 1 and 2 inference threads). Results: $OUT/gpu.json, $OUT/gpu.md (printed), logs,
# the demo fp16 package. Where each transfer replaces .gpu-carry/ in the checkout, work in a folder
# outside it that holds models/ag-news-bert and a copy of each part under .gpu-carry/ (the figures
# in docs/benchmarks/ were taken so: `cp -r <checkout>/.gpu-carry/partN <dir>/.gpu-carry/`, then
# run from <dir>).
set -uo pipefail
ROOT=$PWD
C=$ROOT/.gpu-carry
S=$C/stage
OUT=${OUT:-$ROOT/bench/results/gpu}
PY=${PYTHON:-python3}
mkdir -p "$S" "$OUT"
say() { echo "run.sh $(date +%T): $*"; }

# Keeps the stage 2 chunks of the parts that are here (a later transfer may replace them).
take() {
  mkdir -p "$S/chunks"
  cp "$C"/part*/stage2.tar.* "$S/chunks/" 2>/dev/null
  [ -f "$C/part1/stage2.sha256" ] && cp "$C/part1/stage2.sha256" "$S/chunks/"
  say "chunks kept: $(ls "$S/chunks" | grep -c 'stage2.tar')"
}

stage1() {
  nvidia-smi --query-gpu=name,driver_version,memory.total,utilization.gpu --format=csv,noheader \
    || { say "nvidia-smi failed: no GPU here"; exit 1; }
  mkdir -p "$S/models"
  take
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
      $PY tools/optimize_graph.py models/base models/base-fused; echo \"base fused fp32: exit \$?\"
      $PY tools/optimize_graph.py models/base models/base-fused-fp16 --precision fp16; echo \"base fused fp16: exit \$?\"
    } > models.log 2>&1; touch models.done" > /dev/null 2>&1 < /dev/null &
  python3 -c 'import torch, onnx, onnxruntime; print("torch", torch.__version__, "cuda", torch.version.cuda, "onnx", onnx.__version__, "ort", onnxruntime.__version__)'
  say "stage1 done: model builds started"
}

stage2() {
  take
  read -r sum parts < "$S/chunks/stage2.sha256" || { say "no part1 was kept: run stage1 first"; exit 1; }
  chunks=$(for i in $(seq 1 "$parts"); do echo "$S/chunks/stage2.tar.$i"; done)
  for f in $chunks; do [ -f "$f" ] || { say "missing $(basename "$f"): carry every part, in order"; exit 1; }; done
  # shellcheck disable=SC2086
  [ "$(cat $chunks | sha256sum | cut -d' ' -f1)" = "$sum" ] || { say "the chunks do not make the archive pack.sh made"; exit 1; }
  P2=$S/stage2 && rm -rf "$P2" && mkdir -p "$P2" "$S/ort-src" "$S/node/bin" "$S/redis" "$S/app"
  # shellcheck disable=SC2086
  { cat $chunks | tar xf - -C "$P2" \
    && xz -dc "$P2/libonnxruntime_providers_cuda.so.xz" > "$S/ort-src/libonnxruntime_providers_cuda.so" \
    && cp "$P2/libonnxruntime_providers_shared.so" "$S/ort-src/" \
    && xz -dc "$P2/node.xz" > "$S/node/bin/node" && chmod +x "$S/node/bin/node" \
    && tar xJf "$P2/onnxruntime-node.tar.xz" -C "$S/ort-src" \
    && cp "$P2/onnxruntime-common-"*.tgz "$S/ort-src/" \
    && tar xJf "$P2/app.tar.xz" -C "$S/app" \
    && tar xJf "$P2/redis.tar.xz" -C "$S/redis"; } || { say "unpacking the stage 2 archive failed"; exit 1; }
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
  [ -f "$S/models/base-fused/model.onnx" ] && [ -f "$S/models/base-fused-fp16/model.onnx" ] \
    && MODELS+=(--model "base-fused=$S/models/base-fused,base-fused-fp16=$S/models/base-fused-fp16,plain=$S/models/base")
  # The fleet serves the fused fp16 graph, else the plain one, else the demo model.
  PIPE=$S/models/base-fused-fp16
  [ -f "$PIPE/model.onnx" ] || PIPE=$S/models/base-fp16
  [ -f "$PIPE/model.onnx" ] || PIPE=$ROOT/models/ag-news-bert
  nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv,noheader
  # Within the call's 10 minutes, whatever the unpacking and the model builds took.
  timeout $((570 - SECONDS)) node dist/bench/gpu/gpu.bench.js --device cuda --texts "$S/texts.jsonl" "${MODELS[@]}" \
    --pipeline "$PIPE" --pipeline-env BATCH_CHUNK_SIZE=1024 --pipeline-env BULK_CONCURRENCY=8 \
    --sessions 1,2 --eager-python "$PY" --commit "$(cat "$P2/commit")" --out "$OUT" 2> "$OUT/bench.log"
  status=$?
  tail -25 "$OUT/bench.log" | grep -v '^\s*at ' | tail -12
  cp "$S/models.log" "$OUT/models.log" 2>/dev/null
  [ -d "$S/models/demo-fp16" ] && tar czf "$OUT/demo-fp16.tar.gz" -C "$S/models" demo-fp16
  say "stage2 done (benchmark exit $status)"
}

case "${1:-}" in
  stage1) stage1 ;;
  take) take ;;
  stage2) stage2 ;;
  *) echo "usage: run.sh stage1|take|stage2" >&2; exit 2 ;;
esac
