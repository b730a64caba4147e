"""The package `modelfleet import` (tools/import_model.py) writes: model.onnx exported from torch
and checked against it on fixed texts (padded together and alone), the tokenizer, config.json,
reference.json and MANIFEST.json.
"""
import json, os, re, shutil

from import_bert import bert_config, build_model, lowercase_of, max_length_of, tokenizer_of
from import_refused import Refused
from import_weights import check_config_fits, load_state_dict

TOLERANCE = 1e-4
# Fixed texts of reference.json: news of each kind, a short one, and one longer than any window,
# so the export check and the Node handler's parity cover truncation too.
TEXTS = [
    "Stocks rallied on Wall Street after the Federal Reserve held interest rates steady.",
    "The striker scored twice as the champions won the derby in the final minutes.",
    "Scientists unveiled a new chip that could make quantum computers practical.",
    "Rebels and government troops clashed near the capital as peace talks stalled.",
    "NASA delays launch",
    " ".join(["Markets in Asia and Europe moved sharply as investors weighed earnings, "
              "central bank signals and the price of oil."] * 60),
]

def padded(ids_list):
    import torch
    width = max(len(ids) for ids in ids_list)
    ids = torch.zeros((len(ids_list), width), dtype=torch.int64)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(ids_list):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    return ids, mask, torch.zeros_like(ids)


class Logits:
    """Wraps the model so the graph takes the handler's three inputs and returns `logits`."""

    @staticmethod
    def module(model):
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.model(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).logits
        return Wrapped().eval()


def export_onnx(model, path):
    import torch
    net = Logits.module(model)
    example = padded([[101, 2023, 2003, 1037, 3231, 102], [101, 7592, 102]])
    inputs = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {**{n: {0: "batch", 1: "sequence"} for n in inputs}, "logits": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(net, example, path, input_names=inputs, output_names=["logits"],
                          dynamic_axes=axes, opset_version=17, do_constant_folding=True, dynamo=False)


def check_export(model, onnx_path, ids_list):
    """Logits of the fixed texts by torch, and the largest difference ONNX Runtime shows from
    them, texts padded together and each alone."""
    import numpy as np, onnxruntime, torch
    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(*padded(ids_list)[:2], token_type_ids=padded(ids_list)[2]).logits.numpy()
    feeds = lambda ids: dict(zip(["input_ids", "attention_mask", "token_type_ids"], (t.numpy() for t in padded(ids))))  # noqa: E731
    together = session.run(["logits"], feeds(ids_list))[0]
    alone = np.concatenate([session.run(["logits"], feeds([ids]))[0] for ids in ids_list])
    diff = max(float(np.abs(together - expected).max()), float(np.abs(alone - expected).max()))
    return expected, diff


def export_package(a, source):
    import torch
    torch.manual_seed(0)
    name, version = package_id(a, source)
    state = load_state_dict(source["weights"], a.max_entries)
    config, labels = bert_config(a, source, state)
    check_config_fits(config, state)
    model = build_model(config, state)
    max_length = max_length_of(a, source, config)
    lowercase = lowercase_of(a, source)
    tokenizer, tokenizer_file, vocab_file = tokenizer_of(a, source, lowercase, max_length)
    texts = TEXTS
    if not a.truncation:  # the package refuses texts over its window: the reference holds none
        tokenizer.enable_truncation(max_length + 1)
        texts = [t for t, e in zip(TEXTS, tokenizer.encode_batch(TEXTS)) if len(e.ids) <= max_length]
        tokenizer.enable_truncation(max_length)
    ids_list = [encoding.ids for encoding in tokenizer.encode_batch(texts)]
    too_big = max(max(ids) for ids in ids_list)
    if too_big >= config.vocab_size:
        raise Refused(f"the tokenizer gives id {too_big} but the model has {config.vocab_size} tokens: "
                      f"the vocabulary does not belong to these weights")

    out = a.out
    os.makedirs(out, exist_ok=True)
    onnx_path = os.path.join(out, "model.onnx")
    export_onnx(model, onnx_path)
    logits, diff = check_export(model, onnx_path, ids_list)
    if not diff <= TOLERANCE:
        raise Refused(f"ONNX Runtime's logits differ from torch's by {diff:.2e}, over {TOLERANCE}")
    print(f"onnxruntime vs torch on {len(texts)} fixed texts (padded together and alone): "
          f"max |logit diff| {diff:.2e} (limit {TOLERANCE})")

    if tokenizer_file:
        shutil.copyfile(tokenizer_file, os.path.join(out, "tokenizer.json"))
        tokenizer_entry = {"tokenizer_file": "tokenizer.json"}
    else:
        shutil.copyfile(vocab_file, os.path.join(out, "vocab.txt"))
        tokenizer_entry = {"vocab_file": "vocab.txt"}
    hf = config.to_dict()
    hf = {k: v for k, v in hf.items() if not k.startswith("_") and k not in ("attn_implementation",)}
    write_json(os.path.join(out, "config.json"), hf)
    write_json(os.path.join(out, "reference.json"),
               {"texts": texts, "ids": ids_list, "logits": logits.tolist()})
    manifest = {
        "name": name, "version": str(version), "handler": "text-classification",
        "model_file": "model.onnx", **tokenizer_entry, "config_file": "config.json",
        "extra_files": ["reference.json"], "max_length": max_length, "truncation": a.truncation,
        "do_lower_case": lowercase,
        "batching": {"max_batch_size": 64, "max_batch_tokens": max(8192, 16 * max_length),
                     "max_batch_delay_ms": 5, "pass_overhead_tokens": 64},
    }
    write_json(os.path.join(out, "MANIFEST.json"), manifest)
    params = sum(p.numel() for p in model.parameters())
    print(f"package {name}@{version}: BertForSequenceClassification, {config.num_hidden_layers} layers, "
          f"hidden {config.hidden_size}, {config.num_attention_heads} heads, {params:,} parameters, "
          f"labels {', '.join(labels)}, max_length {max_length}")


# What the package loader accepts as a package's name or version (a path segment, never "..").
PACKAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def package_id(a, source):
    """The package's name and version: the flags', else the source's (a .mar's modelName and
    modelVersion, a folder's name), refused unless the package loader would take them, for
    `modelfleet import` makes the package's folder of its name."""
    name = a.name or source["name"] or "imported"
    version = a.version or source["version"] or "1"
    for what, value, flag in (("name", name, "--name"), ("version", version, "--version")):
        if not isinstance(value, (str, int, float)) or not PACKAGE_ID.fullmatch(str(value)):
            raise Refused(f"the package {what} {value!r} is not letters, digits, '_', '.' or '-' "
                          f"(starting with a letter or digit); pass {flag}")
    return str(name), str(version)


def write_json(path, content):
    with open(path, "w") as f:
        json.dump(content, f, indent=2)
        f.write("\n")
