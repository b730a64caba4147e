#!/usr/bin/env python3
"""Write a BERT-base-shaped classifier with random (seeded) weights as a modelfleet package.

For benchmarks only: the weights are untrained, so its answers mean nothing, but its forward
pass costs what a real bert-base-uncased fine-tune costs (12 layers, hidden 768, 12 heads,
intermediate 3072, ~109M parameters, ~420 MiB of fp32 weights). The graph is exported exactly
like the demo model (tools/train_demo.py, whose MiniBert it reuses): inputs input_ids /
attention_mask / token_type_ids (int64 [batch, sequence]), output logits (float32 [batch, 4]).

Usage (Debian's python3-torch and python3-onnx for fp32; torch 2.x or a CUDA GPU for fp16):
    python3 tools/make_bert_base.py <vocab.txt> <out-dir> [--precision fp16] [--gpu-batching]
The folder gets model.onnx, vocab.txt, config.json and MANIFEST.json. The same seed gives the
same weights in both precisions. --gpu-batching writes the packing limits a GPU wants (1,024 rows,
32,768 tokens, lengths padded to multiples of 8). Keep it out of git (bench/models/ is ignored).
"""
import argparse, os, sys, time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from minibert_onnx import GPU_BATCHING, build, export, write_package  # noqa: E402

SHAPE = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
         "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2}
LABELS = ["World", "Sports", "Business", "Sci/Tech"]
SEED = 13
CPU_BATCHING = {"max_batch_size": 32, "max_batch_tokens": 4096, "max_batch_delay_ms": 5,
                "pass_overhead_tokens": 16}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("vocab")
    parser.add_argument("out")
    parser.add_argument("--precision", choices=["fp32", "fp16"], default="fp32")
    parser.add_argument("--gpu-batching", action="store_true")
    a = parser.parse_args()
    t0 = time.time()
    torch.manual_seed(SEED)
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    model = build(SHAPE)
    n_params = sum(p.numel() for p in model.parameters())

    os.makedirs(a.out, exist_ok=True)
    onnx_path = os.path.join(a.out, "model.onnx")
    export(model, onnx_path, a.precision)
    import onnx
    onnx.checker.check_model(onnx_path)  # by path: the proto is too big to check in memory cheaply

    config = {"architectures": ["BertForSequenceClassification"], "model_type": "bert", **SHAPE,
              "pooling": "masked-mean", "id2label": {str(i): l for i, l in enumerate(LABELS)},
              "label2id": {l: i for i, l in enumerate(LABELS)}}
    manifest = {"name": "bert-base-random", "version": "1" if a.precision == "fp32" else "1-fp16",
                "handler": "text-classification", "model_file": "model.onnx", "vocab_file": "vocab.txt",
                "config_file": "config.json", "max_length": 128, "do_lower_case": True,
                "precision": a.precision, "batching": GPU_BATCHING if a.gpu_batching else CPU_BATCHING}
    write_package(a.out, onnx_path, a.vocab, config, manifest)
    size = os.path.getsize(onnx_path)
    print(f"params {n_params:,}  {a.precision} model.onnx {size / 2**20:.1f} MiB ({size:,} bytes)  "
          f"built in {time.time() - t0:.1f}s  -> {a.out}")


if __name__ == "__main__":
    main()
