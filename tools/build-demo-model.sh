#!/usr/bin/env bash
# Rebuilds the demo package models/ag-news-bert from the AG News training split:
# Node tokenizes with the serving tokenizer, Python (Debian's python3-torch and python3-onnx,
# plus libopenblas0-pthread) trains a 2-layer BERT and exports model.onnx and reference.json.
#   tools/build-demo-model.sh <train.jsonl> <bert-base-uncased-vocab.txt>
set -euo pipefail
cd "$(dirname "$0")/.."
train=${1:?usage: tools/build-demo-model.sh <train.jsonl> <vocab.txt>}
vocab=${2:?usage: tools/build-demo-model.sh <train.jsonl> <vocab.txt>}
out=models/ag-news-bert
npm run build --silent
cp "$vocab" "$out/vocab.txt"
node dist/tools/tokenize-dataset.js "$out/vocab.txt" "$train" 128 tools/build
/usr/bin/python3 tools/train_demo.py --train tools/build/train-ids.jsonl \
  --reference tools/build/reference-ids.json --out-dir "$out"
