#!/usr/bin/env python3
"""Write a BERT-base-shaped classifier with random (seeded) weights as a modelfleet package.

For benchmarks only: the weights are untrained, so its answers mean nothing, but its forward
pass costs what a real bert-base-uncased fine-tune costs (12 layers, hidden 768, 12 heads,
intermediate 3072, ~109M parameters, ~420 MiB of fp32 weights). The graph is exported exactly
like the demo model (tools/train_demo.py, whose MiniBert it reuses): inputs input_ids /
attention_mask / token_type_ids (int64 [batch, sequence]), output logits (float32 [batch, 4]).

Usage (system interpreter with Debian's python3-torch and python3-onnx):
    /usr/bin/python3 tools/make_bert_base.py <vocab.txt> <out-dir>
The folder gets model.onnx, vocab.txt, config.json and MANIFEST.json. Keep it out of git
(bench/models/ is ignored).
"""
import json, os, shutil, sys, time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_demo import MiniBert, pad  # noqa: E402

SHAPE = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
         "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2}
LABELS = ["World", "Sports", "Business", "Sci/Tech"]
SEED = 13


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    vocab, out = sys.argv[1], sys.argv[2]
    t0 = time.time()
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    s = SHAPE
    model = MiniBert(s["vocab_size"], s["num_hidden_layers"], s["hidden_size"], s["num_attention_heads"],
                     s["intermediate_size"], s["max_position_embeddings"]).eval()
    n_params = sum(p.numel() for p in model.parameters())

    os.makedirs(out, exist_ok=True)
    onnx_path = os.path.join(out, "model.onnx")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad():
        torch.onnx.export(model, pad([[101, 2023, 2003, 102], [101, 102]]), onnx_path, input_names=names,
                          output_names=["logits"], opset_version=14, do_constant_folding=True,
                          dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names}, "logits": {0: "batch"}})
    import onnx
    onnx.checker.check_model(onnx_path)  # by path: the proto is too big to check in memory cheaply

    shutil.copyfile(vocab, os.path.join(out, "vocab.txt"))
    config = {"architectures": ["BertForSequenceClassification"], "model_type": "bert", **SHAPE,
              "pooling": "masked-mean", "id2label": {str(i): l for i, l in enumerate(LABELS)},
              "label2id": {l: i for i, l in enumerate(LABELS)}}
    manifest = {"name": "bert-base-random", "version": "1", "handler": "text-classification",
                "model_file": "model.onnx", "vocab_file": "vocab.txt", "config_file": "config.json",
                "max_length": 128, "do_lower_case": True,
                "batching": {"max_batch_size": 32, "max_batch_tokens": 4096, "max_batch_delay_ms": 5,
                             "pass_overhead_tokens": 16}}
    for name, content in [("config.json", config), ("MANIFEST.json", manifest)]:
        with open(os.path.join(out, name), "w") as f:
            json.dump(content, f, indent=2)
            f.write("\n")
    size = os.path.getsize(onnx_path)
    print(f"params {n_params:,}  model.onnx {size / 2**20:.1f} MiB ({size:,} bytes)  "
          f"built in {time.time() - t0:.1f}s  -> {out}")


if __name__ == "__main__":
    main()
