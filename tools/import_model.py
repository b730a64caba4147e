#!/usr/bin/env python3
"""Turn a TorchServe .mar, a PyTorch state_dict or a Hugging Face checkpoint folder into a
modelfleet package: model.onnx, the tokenizer, config.json with the labels, MANIFEST.json and
reference.json (fixed texts' token ids and logits, which the Node handler must reproduce).

    python3 tools/import_model.py <source> <out-dir> [options]   (run by `modelfleet import`)

<source> is one of:
  - a .mar as torch-model-archiver writes it (a zip, every file flat at its root beside
    MAR-INF/MANIFEST.json), or a folder holding MAR-INF/MANIFEST.json (the archiver's
    no-archive form, or its tgz form once unpacked, where that folder is the model name);
  - a Hugging Face checkpoint folder: config.json, model.safetensors or pytorch_model.bin,
    tokenizer.json or vocab.txt;
  - a state_dict file (.pth, .pt, .bin, .safetensors), with --config or --vocab and flags.

Only BERT sequence classifiers (transformers' BertForSequenceClassification) are supported.
Nothing in the source is run: a handler .py, requirements files and other code are never
imported or executed (they are not even unpacked), weights are read with
torch.load(weights_only=True) or as safetensors, and a full pickled model or a TorchScript archive
is refused, saying why. A zip is checked before anything of it is read: its size and what its end
record declares (entries, directory bytes) before its directory is read, then every entry of the
directory (sizes, links, absolute paths and "..") before any entry is.

Its parts, beside it: import_sources.py (the source's files by role), import_archives.py (zips and
.mar files, bounded), import_weights.py (the state_dict and its checks), import_bert.py (config,
model, tokenizer), import_export.py (model.onnx, its parity check, the package's files) and
import_refused.py (the refusal every part raises).
"""
import argparse, os, shutil, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from import_export import export_package  # noqa: E402
from import_refused import Refused  # noqa: E402
from import_sources import read_source  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--name", help="package name (default: the .mar's model name or the folder name)")
    parser.add_argument("--version", help="package version (default: the .mar's version, or 1)")
    parser.add_argument("--config", help="a Hugging Face config.json for a bare state_dict")
    parser.add_argument("--vocab", help="WordPiece vocab.txt (when the source has none)")
    parser.add_argument("--tokenizer", help="tokenizer.json (when the source has none)")
    parser.add_argument("--labels", help="comma-separated label names, in index order")
    parser.add_argument("--num-attention-heads", type=int,
                        help="attention heads, when no config.json says (default: hidden size / 64)")
    parser.add_argument("--max-length", type=int, help="tokens per text, specials included (up to 512)")
    parser.add_argument("--cased", action="store_true", help="the vocabulary is cased (no lower-casing)")
    parser.add_argument("--no-truncation", dest="truncation", action="store_false",
                        help="refuse texts longer than max_length instead of cutting them")
    parser.add_argument("--max-entries", type=int, default=1000, help="most entries a .mar may hold")
    parser.add_argument("--max-bytes", type=int, default=1024 ** 3, help="largest .mar, packed and unpacked")
    a = parser.parse_args()
    work = tempfile.mkdtemp(prefix="modelfleet-import-")
    try:
        source = read_source(a, work)
        export_package(a, source)
    except Refused as error:
        sys.exit(f"refused: {error}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
