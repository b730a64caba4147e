"""The weights of `modelfleet import` (tools/import_model.py): a state_dict read without running
pickled code, refused unless its tensors own their bytes, and a config checked against them
before any model of it is allocated.
"""
import os, re, zipfile

from import_archives import check_torch_zip, open_zip
from import_refused import SUPPORTED, Refused

def load_state_dict(path, max_entries):
    """Tensors by name, read without running any pickled code; a torch.save zip's directory is
    bounded as a .mar's is (`max_entries`: a tensor an entry, and a few more)."""
    import torch
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        try:  # the reader checks the header's length and every tensor's offsets against the file
            return load_file(path)
        except Exception as error:
            raise Refused(f"{os.path.basename(path)} is not a safetensors file of tensors "
                          f"({str(error).splitlines()[0][:200]})")
    if zipfile.is_zipfile(path):
        with open_zip(path, max_entries) as z:  # torch.load's reader then reads the same directory
            check_torch_zip(z.namelist(), path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # weights_only's unpickler names the global it would not build
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        detail = f"it names the Python object {found.group(1)}" if found else str(error).splitlines()[0][:200]
        raise Refused(
            f"{os.path.basename(path)} is not a plain state_dict of tensors ({detail}): it is a full "
            f"pickled model or other pickled code, and unpickling it could run anything (pickle "
            f"loading is a known remote-code-execution class, e.g. CVE-2025-27520); save "
            f"model.state_dict() with torch.save, or the weights as safetensors")
    for key in ("state_dict", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise Refused(f"{os.path.basename(path)} does not hold a state_dict (a mapping of names to tensors)")
    check_weights_own_bytes(state, path)
    return {re.sub(r"^module\.", "", k): v for k, v in state.items()}


def check_weights_own_bytes(state, path):
    """Refuses tensors that declare more elements than the file holds: a pickled tensor names its
    storage, size and strides, so a view (stride 0, or many names over one storage) of a few bytes
    can declare a shape of gigabytes, and the model is allocated from those shapes."""
    declared, held = 0, {}
    for name, tensor in state.items():
        declared += tensor.numel() * tensor.element_size()
        storage = tensor.untyped_storage()
        held[storage.data_ptr()] = storage.nbytes()
        if not tensor.is_contiguous():
            raise Refused(f"{os.path.basename(path)}: tensor {name} of shape {list(tensor.shape)} is a view "
                          f"(strides {list(tensor.stride())}) declaring more elements than it holds; "
                          f"save each tensor whole (a state_dict of the model's own tensors)")
    if declared > sum(held.values()):
        raise Refused(f"{os.path.basename(path)}: its tensors declare {declared:,} bytes but hold "
                      f"{sum(held.values()):,} (views over shared storage); save each tensor whole")


# The config's sizes that weigh on memory, each with the tensor (and dimension) that holds it.
SIZED_BY = (
    ("vocab_size", "bert.embeddings.word_embeddings.weight", 0),
    ("hidden_size", "bert.embeddings.word_embeddings.weight", 1),
    ("max_position_embeddings", "bert.embeddings.position_embeddings.weight", 0),
    ("type_vocab_size", "bert.embeddings.token_type_embeddings.weight", 0),
    ("intermediate_size", "bert.encoder.layer.0.intermediate.dense.weight", 0),
)


def check_config_fits(config, state):
    """Refuses a config whose sizes are not those of the weights, before a model of that config
    is built: the model is allocated from the config, so a config.json saying a hidden size of
    10^9 or 10^5 layers would take that memory before the weights could show it wrong."""
    for key, tensor, dim in SIZED_BY:
        if tensor not in state:
            raise Refused(f"the weights have no {tensor}: they are not a BertForSequenceClassification "
                          f"state_dict; modelfleet import supports {SUPPORTED} only")
        size = state[tensor].shape[dim] if state[tensor].dim() > dim else None
        if getattr(config, key, None) != size:
            raise Refused(f"config.json says {key} {getattr(config, key, None)!r} but the weights' {tensor} "
                          f"gives {size}: the config does not belong to these weights")
    layers = check_layers_whole(state)
    if config.num_hidden_layers != layers:
        raise Refused(f"config.json says num_hidden_layers {config.num_hidden_layers!r} but the weights "
                      f"hold {layers} layer(s): the config does not belong to these weights")
    heads = config.num_attention_heads
    if not isinstance(heads, int) or heads < 1 or config.hidden_size % heads:
        raise Refused(f"num_attention_heads {heads!r} does not divide hidden size {config.hidden_size}")


def check_layers_whole(state):
    """The encoder's layer count, once layers 0..n-1 each hold layer 0's tensors of its shapes: a
    layer is built whole from the count, so a name alone (one element) must not stand for one."""
    layers = {}
    for key, tensor in state.items():
        parts = key.split(".", 4)
        if key.startswith("bert.encoder.layer.") and len(parts) == 5:
            layers.setdefault(parts[3], {})[parts[4]] = tuple(tensor.shape)
    first = layers.get("0", {})
    for index, tensors in layers.items():
        if not index.isdigit() or int(index) >= len(layers) or tensors != first:
            raise Refused(f"encoder layer {index} does not hold the tensors of layer 0 "
                          f"(of {len(layers)} layers): the weights are not a whole BERT encoder")
    return len(layers)
