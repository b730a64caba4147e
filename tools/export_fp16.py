#!/usr/bin/env python3
"""Write the fp16 variant of a MiniBert package (the demo model, or make_bert_base.py's), exported
from torch: the package's fp32 model.onnx is read back into the torch module, the module is cast
to half precision and exported again. The graph keeps the fp32 one's inputs and outputs (int64
ids, float32 logits); its manifest says "precision": "fp16" and carries GPU batching limits.

Needs torch 2.x (its CPU has fp16 kernels) or a CUDA GPU, plus onnx:
    python3 tools/export_fp16.py <package-dir> <out-dir> [--name NAME] [--version VERSION]
When the package has reference.json (fixed texts' ids and fp32 logits), the recovered weights
are checked against it first, and the fp16 logits of those texts are printed beside them.
"""
import argparse, json, os, sys, time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from minibert_onnx import GPU_BATCHING, build, check_reference, export, load_from_onnx, write_package  # noqa: E402
from train_demo import pad  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package")
    parser.add_argument("out")
    parser.add_argument("--name")
    parser.add_argument("--version")
    a = parser.parse_args()
    t0 = time.time()
    with open(os.path.join(a.package, "MANIFEST.json")) as f:
        manifest = json.load(f)
    with open(os.path.join(a.package, manifest["config_file"])) as f:
        config = json.load(f)
    model = load_from_onnx(build(config), os.path.join(a.package, manifest["model_file"]))

    ref = check_reference(model, a.package)

    os.makedirs(a.out, exist_ok=True)
    tmp = os.path.join(a.out, "model.onnx.tmp")
    export(model, tmp, "fp16")
    fp16 = {**{k: v for k, v in manifest.items() if k != "extra_files"},
            "name": a.name or manifest["name"], "version": a.version or f"{manifest['version']}-fp16",
            "precision": "fp16", "batching": GPU_BATCHING}
    write_package(a.out, tmp, os.path.join(a.package, manifest["vocab_file"]), config, fp16)
    if ref:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        with torch.no_grad():
            half = model.half().to(device)(*(t.to(device) for t in pad(ref["ids"]))).float().cpu()
        err = (half - torch.tensor(ref["logits"])).abs().max().item()
        print(f"fp16 torch logits of reference.json's texts: max |diff| {err:.2e} from fp32")
    size = os.path.getsize(os.path.join(a.out, "model.onnx"))
    print(f"fp16 package {fp16['name']}@{fp16['version']}: model.onnx {size / 2**20:.1f} MiB, "
          f"torch {torch.__version__}, {time.time() - t0:.1f}s -> {a.out}")


if __name__ == "__main__":
    main()
