"""ONNX export of the project's MiniBert (tools/train_demo.py) in fp32 or fp16, and the way back:
the torch module of a package from its fp32 model.onnx; the same model with the attention layout
ONNX Runtime's transformer optimizer fuses. Shared by make_bert_base.py, export_fp16.py and
optimize_graph.py. Works with Debian's torch 1.13 (fp32 only: its CPU kernels have no fp16) and
with torch 2.x, which runs fp16 on the CPU or on CUDA.
"""
import inspect, json, math, os, shutil, sys

import torch
import torch.nn.functional as F

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
    """An untrained MiniBert of the shape a package's config.json describes; with its
    "ngram_branch" ({"buckets": n}), the MiniBert and n-gram branch ensemble (tools/ngram_branch.py)."""
    bert = MiniBert(config["vocab_size"], config["num_hidden_layers"], config["hidden_size"],
                    config["num_attention_heads"], config["intermediate_size"],
                    config["max_position_embeddings"]).eval()
    if "ngram_branch" not in config:
        return bert
    from ngram_branch import Ensemble, NgramTfidf
    rows = config["vocab_size"] + config["ngram_branch"]["buckets"]
    labels = bert.head.out_features
    branch = NgramTfidf(config["vocab_size"], config["ngram_branch"]["buckets"], torch.zeros(rows),
                        torch.zeros(rows, labels), torch.zeros(labels))
    return Ensemble(bert, branch).eval()


def separate_qkv(model):
    """`model` (a MiniBert or an ensemble holding one) with its MiniBert as a SeparateQkvMiniBert."""
    if hasattr(model, "branch"):
        from ngram_branch import Ensemble
        return Ensemble(SeparateQkvMiniBert(model.bert), model.branch).eval()
    return SeparateQkvMiniBert(model)


def load_from_onnx(model, onnx_path):
    """Loads the weights of an fp32 MiniBert export into `model`. The exporter keeps parameter
    names, except for linear layers run as MatMul: their weight is a transposed initializer
    (onnx::MatMul_N) whose consumer Add names the bias (layers.0.qkv.bias). It keeps one copy of
    equal initializers (the zero biases and unit norms of an untrained model) and names the others
    as outputs of Identity nodes; an export through FloatLogits prefixes every name with "model."."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(onnx_path).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            inits[node.output[0]] = inits[node.input[0]]
    unwrapped = lambda name: name[len("model."):] if name.startswith("model.") else name  # noqa: E731
    state = {unwrapped(name): torch.from_numpy(array.copy())
             for name, array in inits.items() if not name.startswith("onnx::")}
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
        state[unwrapped(bias)[: -len(".bias")] + ".weight"] = torch.from_numpy(inits[node.input[1]].T.copy())
    model.load_state_dict(state, strict=True)
    return model


def check_reference(model, package_dir, tolerance=1e-4):
    """Runs reference.json's fixed texts through `model` and exits, saying by how much, when its
    logits are more than `tolerance` off the recorded ones. Returns the reference (None when the
    package has no reference.json)."""
    path = os.path.join(package_dir, "reference.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        ref = json.load(f)
    with torch.no_grad():
        logits = model(*pad(ref["ids"]))
    err = (logits - torch.tensor(ref["logits"])).abs().max().item()
    if err > tolerance:
        sys.exit(f"weights read back from {package_dir} give logits {err:.2e} off reference.json")
    print(f"weights read back: reference logits reproduced within {err:.1e}")
    return ref


class SeparateQkvAttention(torch.nn.Module):
    """A MiniBert layer's attention with its packed qkv projection split into query, key and value
    layers, in the shape steps of Hugging Face's BertSelfAttention (view, permute, matmul, divide,
    add the mask, softmax, matmul, permute, view): the sequence ONNX Runtime's transformer
    optimizer fuses into one Attention node. MiniBert's one view of the packed projection into
    (3, heads, head size) matches none of its patterns. The packed rows are ordered query, key,
    value, each head after head, so each layer takes its third of them: the numbers are the same."""

    def __init__(self, layer):
        super().__init__()
        hidden = layer.qkv.in_features
        self.heads, self.dh = layer.heads, layer.dh
        self.query, self.key, self.value = (torch.nn.Linear(hidden, hidden) for _ in range(3))
        weight, bias = layer.qkv.weight.detach(), layer.qkv.bias.detach()
        for i, linear in enumerate((self.query, self.key, self.value)):
            linear.weight.data.copy_(weight[i * hidden:(i + 1) * hidden])
            linear.bias.data.copy_(bias[i * hidden:(i + 1) * hidden])

    def heads_first(self, x):  # [B,S,H] -> [B,heads,S,dh]
        return x.view(x.size()[:-1] + (self.heads, self.dh)).permute(0, 2, 1, 3)

    def forward(self, x, mask_bias):
        q, k, v = self.heads_first(self.query(x)), self.heads_first(self.key(x)), self.heads_first(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh)
        probs = (scores + mask_bias).softmax(-1)
        context = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return context.view(context.size()[:-2] + (self.heads * self.dh,))


class SeparateQkvLayer(torch.nn.Module):
    """A MiniBert layer (post-LN) around SeparateQkvAttention; the other weights are shared."""

    def __init__(self, layer):
        super().__init__()
        self.attention = SeparateQkvAttention(layer)
        self.out, self.ln1, self.ln2, self.ff1, self.ff2 = layer.out, layer.ln1, layer.ln2, layer.ff1, layer.ff2

    def forward(self, x, mask_bias):
        x = self.ln1(self.out(self.attention(x, mask_bias)) + x)
        return self.ln2(self.ff2(F.gelu(self.ff1(x))) + x)


class SeparateQkvMiniBert(torch.nn.Module):
    """A trained MiniBert (eval mode) computing the same logits with separate query, key and value
    layers and the additive mask built as Hugging Face builds it (unsqueeze, cast, (1 - m) * -10000),
    so that its ONNX export fuses into Attention, SkipLayerNormalization, BiasGelu and
    EmbedLayerNormalization nodes."""

    def __init__(self, model):
        super().__init__()
        self.word, self.pos, self.token_type, self.ln, self.head = (
            model.word, model.pos, model.token_type, model.ln, model.head)
        self.layers = torch.nn.ModuleList(SeparateQkvLayer(layer) for layer in model.layers)
        self.register_buffer("position_ids", model.position_ids.clone(), persistent=False)
        self.eval()

    def forward(self, input_ids, attention_mask, token_type_ids):
        pos = self.position_ids[:, : input_ids.shape[1]]
        x = self.ln(self.word(input_ids) + self.pos(pos) + self.token_type(token_type_ids))
        mask_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, mask_bias)
        mask = attention_mask.to(x.dtype)
        pooled = (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        return self.head(pooled)


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
