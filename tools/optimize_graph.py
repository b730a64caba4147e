#!/usr/bin/env python3
"""Write a copy of a MiniBert package whose graph ONNX Runtime's transformer optimizer has fused.

The package's fp32 weights are read back into torch (checked against reference.json when the
package has one), exported again with separate query, key and value layers (the layout the
optimizer's BERT patterns match; the numbers are the same) and run through
onnxruntime.transformers.optimizer (model type bert, heads and hidden size from config.json).
With --precision fp16 the fused graph is then converted to half precision, its inputs and outputs
kept as they are (int64 ids in, float32 logits out). The new package is the old one with that
model file and a manifest whose "graph_optimization" says what was done; "precision" says fp16
where it is. It prints the fused operator counts and the parity of the new graph with the package's
own on reference.json's texts.

    .venv/bin/python tools/optimize_graph.py <package-dir> <out-dir> [--precision fp32|fp16]
        [--name NAME] [--version VERSION]

Needs tools/requirements.txt (torch, onnx, onnxruntime). The fused graph expects right-padded
batches (ONNX Runtime's mask index for BERT), which is how the text-classification handler pads.
"""
import argparse, json, os, shutil, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

OPTIMIZER = "onnxruntime.transformers.optimizer"
REPORTED = ["Attention", "MultiHeadAttention", "SkipLayerNormalization", "BiasGelu", "FastGelu",
            "EmbedLayerNormalization"]


def read_package(package):
    """The package's manifest and config, refused (exit with the reason) when this tool cannot
    optimize it: a graph already optimized, or not fp32."""
    with open(os.path.join(package, "MANIFEST.json")) as f:
        manifest = json.load(f)
    if "graph_optimization" in manifest:
        sys.exit(f"{package}: the graph is already optimized ({manifest['graph_optimization'].get('optimizer')});"
                 " optimize the plain package instead")
    if manifest.get("precision", "fp32") != "fp32":
        sys.exit(f"{package}: precision is {manifest['precision']}; optimize the fp32 package"
                 " (--precision fp16 makes the half-precision one)")
    with open(os.path.join(package, manifest["config_file"])) as f:
        config = json.load(f)
    return manifest, config


def fused_graph(model, config, precision, workdir):
    """The optimizer's model (an OnnxModel) of the separate-Q/K/V export of `model`."""
    from minibert_onnx import export, separate_qkv
    from onnxruntime.transformers.optimizer import optimize_model

    plain = export(separate_qkv(model), os.path.join(workdir, "separate-qkv.onnx"), "fp32", device="cpu")
    optimized = optimize_model(plain, model_type="bert", num_heads=config["num_attention_heads"],
                               hidden_size=config["hidden_size"])
    if precision == "fp16":
        optimized.convert_float_to_float16(keep_io_types=True)
    return optimized


def parity(plain_path, fused_path, ids):
    """Labels agreeing and the largest logit difference of two graphs on the texts `ids`, run in one
    right-padded batch by ONNX Runtime on the CPU."""
    import numpy as np
    import onnxruntime as ort

    width = max(len(row) for row in ids)
    input_ids = np.array([row + [0] * (width - len(row)) for row in ids], dtype=np.int64)
    feed = {"input_ids": input_ids, "attention_mask": (np.arange(width) < np.array([[len(r)] for r in ids])).astype(np.int64),
            "token_type_ids": np.zeros_like(input_ids)}
    a, b = (ort.InferenceSession(p, providers=["CPUExecutionProvider"]).run(["logits"], feed)[0]
            for p in (plain_path, fused_path))
    return int((a.argmax(1) == b.argmax(1)).sum()), float(np.abs(a - b).max())


def write_manifest(out, manifest, a, counts):
    import onnxruntime

    written = {**manifest, "name": a.name or manifest["name"], "version": a.version or manifest["version"]}
    if a.precision == "fp16":
        # reference.json's logits are fp32 ones: they no longer hold within its tolerance.
        written["extra_files"] = [f for f in manifest.get("extra_files", []) if f != "reference.json"]
        if os.path.exists(os.path.join(out, "reference.json")):
            os.remove(os.path.join(out, "reference.json"))
    written["precision"] = a.precision
    written["graph_optimization"] = {"optimizer": OPTIMIZER, "version": onnxruntime.__version__,
                                     "model_type": "bert", "fused_operators": counts}
    with open(os.path.join(out, "MANIFEST.json"), "w") as f:
        json.dump(written, f, indent=2)
        f.write("\n")
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package")
    parser.add_argument("out")
    parser.add_argument("--precision", choices=["fp32", "fp16"], default="fp32")
    parser.add_argument("--name", help="the new package's name (default: the package's)")
    parser.add_argument("--version", help="the new package's version (default: the package's)")
    a = parser.parse_args()
    t0 = time.time()
    manifest, config = read_package(a.package)
    if os.path.isdir(a.out) and os.listdir(a.out):
        sys.exit(f"{a.out} exists and is not empty; name a new folder")

    import torch
    from minibert_onnx import build, check_reference, load_from_onnx

    torch.set_num_threads(min(4, os.cpu_count() or 1))
    model_path = os.path.join(a.package, manifest["model_file"])
    try:
        model = load_from_onnx(build(config), model_path)
    except (KeyError, RuntimeError, ValueError) as error:
        sys.exit(f"{model_path} is not a MiniBert export this tool reads back: {str(error).splitlines()[0]}")
    ref = check_reference(model, a.package)

    with tempfile.TemporaryDirectory() as workdir:
        optimized = fused_graph(model, config, a.precision, workdir)
        stats = optimized.get_fused_operator_statistics()
        counts = {op: stats.get(op, 0) for op in REPORTED}
        print("fused operators: " + ", ".join(f"{op} {n}" for op, n in counts.items()))
        if counts["Attention"] + counts["MultiHeadAttention"] == 0:
            sys.exit("no attention was fused: the export does not match the optimizer's BERT patterns")
        fused = os.path.join(workdir, "fused.onnx")
        optimized.save_model_to_file(fused)
        if ref:
            agree, diff = parity(model_path, fused, ref["ids"])
            print(f"parity with the plain graph on reference.json's {len(ref['ids'])} texts: "
                  f"labels {agree}/{len(ref['ids'])}, max |logit diff| {diff:.1e}")
            if a.precision == "fp32" and (agree < len(ref["ids"]) or diff > 1e-3):
                sys.exit("the fused fp32 graph does not keep the plain graph's answers; nothing written")
        shutil.copytree(a.package, a.out, dirs_exist_ok=True)
        fused_path = os.path.join(a.out, manifest["model_file"])
        shutil.move(fused, fused_path)

    written = write_manifest(a.out, manifest, a, {op: n for op, n in counts.items() if n})
    size = os.path.getsize(fused_path)
    print(f"optimized package {written['name']}@{written['version']} ({a.precision}): {manifest['model_file']} "
          f"{size / 2**20:.1f} MiB, {time.time() - t0:.1f}s -> {a.out}")


if __name__ == "__main__":
    main()
