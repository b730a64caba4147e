"""ONNX export of the project's MiniBert (tools/train_demo.py) in fp32 or fp16, and the way back:
the torch module of a package from its fp32 model.onnx. Shared by make_bert_base.py and
export_fp16.py. Works with Debian's torch 1.13 (fp32 only: its CPU kernels have no fp16) and
with torch 2.x, which runs fp16 on the CPU or on CUDA.
"""
import inspect, json, os, shutil

import torch

from train_demo import MiniBert, pad

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


class FloatLogits(torch.nn.Module):
    """Runs the model in its own precision and hands back float32 logits, so an fp16 graph keeps
    the I/O of the fp32 one (int64 ids in, float32 logits out) and the handler needs no change."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(input_ids, attention_mask, token_type_ids).float()


def build(config):
    """An untrained MiniBert of the shape a package's config.json describes."""
    return MiniBert(config["vocab_size"], config["num_hidden_layers"], config["hidden_size"],
                    config["num_attention_heads"], config["intermediate_size"],
                    config["max_position_embeddings"]).eval()


def load_from_onnx(model, onnx_path):
    """Loads the weights of an fp32 MiniBert export into `model`. The exporter keeps parameter
    names, except for linear layers run as MatMul: their weight is a transposed initializer
    (onnx::MatMul_N) whose consumer Add names the bias (layers.0.qkv.bias)."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(onnx_path).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    state = {name: torch.from_numpy(array.copy()) for name, array in inits.items() if not name.startswith("onnx::")}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in inits or not node.input[1].startswith("onnx::"):
            continue
        adds = [n for n in consumers.get(node.output[0], []) if n.op_type == "Add"]
        bias = next((i for n in adds for i in n.input if i.endswith(".bias") and i in inits), None)
        if bias is None:
            raise ValueError(f"cannot tell which layer {node.input[1]} belongs to")
        state[bias[: -len(".bias")] + ".weight"] = torch.from_numpy(inits[node.input[1]].T.copy())
    model.load_state_dict(state, strict=True)
    return model


def export(model, path, precision, device=None):
    """Exports `model` (fp32 module) to `path` in `precision`, on `device` (CUDA when there is one:
    torch's fp16 kernels are complete there). Dynamic batch and sequence axes."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    net = FloatLogits(model.half() if precision == "fp16" else model.float()).to(device).eval()
    example = tuple(t.to(device) for t in pad([[101, 2023, 2003, 1037, 3231, 102], [101, 7592, 102]]))
    axes = {**{n: {0: "batch", 1: "sequence"} for n in INPUTS}, "logits": {0: "batch"}}
    common = dict(input_names=INPUTS, output_names=["logits"], do_constant_folding=True)
    has_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
    with torch.no_grad():
        try:
            # The TorchScript exporter: the graph the demo model was shipped with.
            extra = {"dynamo": False} if has_dynamo else {}
            torch.onnx.export(net, example, path, opset_version=17, dynamic_axes=axes, **common, **extra)
        except Exception as error:  # a torch whose TorchScript exporter is gone
            if not has_dynamo:
                raise
            print(f"TorchScript export failed ({str(error).splitlines()[0][:120]}); using the dynamo exporter")
            batch, seq = torch.export.Dim("batch", min=1, max=4096), torch.export.Dim("sequence", min=1, max=512)
            shapes = tuple({0: batch, 1: seq} for _ in INPUTS)
            torch.onnx.export(net, example, path, opset_version=18, dynamo=True, dynamic_shapes=shapes,
                              external_data=False, **common)
    model.float()
    return path


def write_package(out, model_file_src, vocab, config, manifest):
    """A package folder: model.onnx (moved in), vocab.txt, config.json, MANIFEST.json."""
    os.makedirs(out, exist_ok=True)
    if os.path.abspath(model_file_src) != os.path.abspath(os.path.join(out, "model.onnx")):
        shutil.move(model_file_src, os.path.join(out, "model.onnx"))
    shutil.copyfile(vocab, os.path.join(out, "vocab.txt"))
    for name, content in [("config.json", config), ("MANIFEST.json", manifest)]:
        with open(os.path.join(out, name), "w") as f:
            json.dump(content, f, indent=2)
            f.write("\n")


# What a GPU wants from the batcher: many rows per pass and per bulk chunk (a chunk of 1,024 texts
# keeps the GPU busy across the worker's per-chunk Redis round trip), a large token budget,
# sequence lengths padded to multiples of 8 (tensor cores), batch sizes that are multiples of 8.
GPU_BATCHING = {"max_batch_size": 1024, "max_batch_tokens": 32768, "max_batch_delay_ms": 2,
                "pass_overhead_tokens": 256, "pad_to_multiple_of": 8}
