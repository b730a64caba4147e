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
"""
import argparse, json, os, re, shutil, stat, sys, tempfile, zipfile

SUPPORTED = "BERT sequence classifiers (model_type 'bert', BertForSequenceClassification)"
MAR_MANIFEST = "MAR-INF/MANIFEST.json"
WEIGHT_NAMES = ("model.safetensors", "pytorch_model.bin")
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


class Refused(Exception):
    """The source cannot be imported; the message says why and what to do."""


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


# ---- reading the source: files by role, nothing executed -------------------------------------

def read_source(a, work):
    """The source's files by role (weights, config, vocab, tokenizer, labels, settings) and its
    name and version. Archive members are copied out only when they hold data this needs."""
    path = a.source
    if os.path.isdir(path):
        mar_root = find_mar_folder(path)
        if mar_root:
            return read_mar(a, FolderFiles(mar_root))
        return read_checkpoint_folder(a, path)
    if not os.path.isfile(path):
        raise Refused(f"{path} does not exist")
    if zipfile.is_zipfile(path):
        if os.path.getsize(path) > a.max_bytes:
            raise Refused(f"archive {path} is {os.path.getsize(path)} bytes, over the limit of {a.max_bytes}")
        with open_zip(path, a.max_entries) as z:
            names = check_zip(z, path, a.max_entries, a.max_bytes)
            if MAR_MANIFEST in names:
                return read_mar(a, ZipFiles(z, names, work))
            check_torch_zip(names, path)
    return read_state_dict_file(a, path)


def find_mar_folder(path):
    """The folder holding MAR-INF/MANIFEST.json: `path` itself (no-archive) or its only
    subfolder (the tgz form, whose entries sit under the model name)."""
    if os.path.isfile(os.path.join(path, MAR_MANIFEST)):
        return path
    entries = [e for e in os.listdir(path) if not e.startswith(".")]
    if len(entries) == 1 and os.path.isfile(os.path.join(path, entries[0], MAR_MANIFEST)):
        return os.path.join(path, entries[0])
    return None


# Bytes an entry may take in a zip's central directory: its 46-byte header, its name (a path: 4 KiB
# at most on Linux) and its extra fields fit in 4 KiB in any archive this reads.
DIRECTORY_BYTES_PER_ENTRY = 4096


def open_zip(path, max_entries):
    """Opens a zip once its end record says its central directory is within the limits: ZipFile
    reads and parses the whole directory as it opens, so a directory that declares millions of
    entries, or gigabytes, is refused before a byte of it is read. The end record is found by
    zipfile's own reader (ZIP64 included), the same one ZipFile then trusts."""
    with open(path, "rb") as f:
        end = zipfile._EndRecData(f)
    if not end:
        raise Refused(f"archive {path} is not a zip (no end of central directory record)")
    entries, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if entries > max_entries:
        raise Refused(f"archive {path}'s central directory declares {entries} entries, more than the limit of "
                      f"{max_entries}")
    if size > max_entries * DIRECTORY_BYTES_PER_ENTRY:
        raise Refused(f"archive {path}'s central directory declares {size} bytes, more than the "
                      f"{max_entries * DIRECTORY_BYTES_PER_ENTRY} the limit of {max_entries} entries allows")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise Refused(f"archive {path} is not a readable zip ({error})")


def check_zip(z, path, max_entries, max_bytes):
    """Refuses a zip as the project's own archive reader refuses a tar: too many entries, too many
    bytes unpacked, an entry that is a link or not a plain file or folder, or whose name is
    absolute or holds "..". Returns the file names."""
    infos = z.infolist()
    if len(infos) > max_entries:
        raise Refused(f"archive {path} has more than {max_entries} entries, the limit")
    total = 0
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in re.split(r"[\\/]", name):
            raise Refused(f'archive entry "{name}" escapes its folder')
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            what = "link" if kind == stat.S_IFLNK else "special file"
            raise Refused(f'archive entry "{name}" is a {what}; only files and folders are allowed')
        total += info.file_size
        if total > max_bytes:
            raise Refused(f"archive {path} unpacks to more than the limit of {max_bytes} bytes")
    return [i.filename for i in infos if not i.is_dir()]


def check_torch_zip(names, path):
    """A zip that is not a .mar is a torch.save file; TorchScript archives are refused."""
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        raise Refused(f"{os.path.basename(path)} is a TorchScript module (torch.jit.save): it carries code and no "
                      f"state_dict to rebuild the model from; export model.state_dict() with torch.save")


class FolderFiles:
    """Files of a folder by name (no-archive .mar, or an unpacked tgz .mar)."""

    def __init__(self, root):
        self.root = root
        self.names = [n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n))]

    def path(self, name):
        full = os.path.realpath(os.path.join(self.root, name))
        if os.path.dirname(full) != os.path.realpath(self.root):
            raise Refused(f'"{name}" resolves outside {self.root} (a link out of the source folder '
                          f'is never followed)')
        return full

    def manifest(self):
        with open(os.path.join(self.root, MAR_MANIFEST)) as f:
            return f.read()


class ZipFiles:
    """Files of a checked .mar zip, copied out one by one when asked for (never a .py)."""

    def __init__(self, z, names, work):
        self.z, self.work = z, work
        self.names = [n for n in names if "/" not in n]

    def path(self, name):
        target = os.path.join(self.work, name)
        if not os.path.exists(target):
            with self.z.open(name) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)  # zipfile stops at the declared size and checks the CRC
        return target

    def manifest(self):
        return self.z.read(MAR_MANIFEST).decode("utf-8")


def read_mar(a, files):
    try:
        manifest = json.loads(files.manifest())
        model = manifest["model"]
        serialized = model["serializedFile"]
    except (ValueError, KeyError, TypeError) as error:
        raise Refused(f"{MAR_MANIFEST} is not a torch-model-archiver manifest with "
                      f"model.serializedFile ({error})")
    if serialized not in files.names:
        raise Refused(f"the .mar's serializedFile {serialized} is not in the archive")
    names = set(files.names)
    code = sorted(n for n in names if n.endswith((".py", ".sh", ".so")) or n == model.get("requirementsFile"))
    if code:
        print(f"not run: {', '.join(code)} (the built-in text-classification handler replaces the .mar's handler)")
    settings = {}
    for name in [model.get("configFile")] + sorted(n for n in names if n.endswith((".yaml", ".yml"))):
        if name and name in names:
            settings = {**yaml_handler_section(files.path(name)), **settings}
    if "setup_config.json" in names:
        settings = {**read_json(files.path("setup_config.json")), **settings}
    return {
        "name": model.get("modelName"),
        "version": model.get("modelVersion"),
        "weights": files.path(serialized),
        "config": files.path("config.json") if "config.json" in names else None,
        "tokenizer": files.path("tokenizer.json") if "tokenizer.json" in names else None,
        "vocab": pick_vocab(names, files.path),
        "labels": index_to_name(files.path("index_to_name.json")) if "index_to_name.json" in names else None,
        "settings": settings,
    }


def yaml_handler_section(path):
    import yaml
    with open(path) as f:
        doc = yaml.safe_load(f)  # safe_load builds no Python objects
    handler = doc.get("handler") if isinstance(doc, dict) else None
    return handler if isinstance(handler, dict) else {}


def pick_vocab(names, path_of):
    vocab = sorted(n for n in names if n == "vocab.txt" or n.endswith("vocab.txt"))
    return path_of(vocab[0]) if vocab else None


def index_to_name(path):
    mapping = read_json(path)
    try:
        return [str(mapping[str(i)]) for i in range(len(mapping))]
    except KeyError as error:
        raise Refused(f"index_to_name.json must map 0..n-1 to names; {error} is missing")


def read_json(path):
    with open(path) as f:
        try:
            return json.load(f)
        except ValueError as error:
            raise Refused(f"{os.path.basename(path)} is not JSON: {error}")


def read_checkpoint_folder(a, path):
    # Read as a .mar folder is: each file must resolve inside the folder, for a cloned checkpoint
    # can carry symbolic links (git keeps them) to files of the importing user, which would
    # otherwise be read, and a vocabulary or tokenizer copied into the package.
    files = FolderFiles(path)
    names = set(files.names)
    weights = next((n for n in WEIGHT_NAMES if n in names), None)
    if weights is None or "config.json" not in names:
        raise Refused(f"{path} is neither a .mar folder (MAR-INF/MANIFEST.json) nor a Hugging Face "
                      f"checkpoint (config.json and {' or '.join(WEIGHT_NAMES)})")
    tokenizer_config = read_json(files.path("tokenizer_config.json")) \
        if "tokenizer_config.json" in names else {}
    return {
        "name": os.path.basename(os.path.normpath(path)),
        "version": None,
        "weights": files.path(weights),
        "config": files.path("config.json"),
        "tokenizer": files.path("tokenizer.json") if "tokenizer.json" in names else None,
        "vocab": files.path("vocab.txt") if "vocab.txt" in names else None,
        "labels": None,
        "settings": {k: tokenizer_config[k] for k in ("do_lower_case",) if k in tokenizer_config},
    }


def read_state_dict_file(a, path):
    return {"name": re.sub(r"\.[^.]*$", "", os.path.basename(path)), "version": None, "weights": path,
            "config": None, "tokenizer": None, "vocab": None, "labels": None, "settings": {}}


# ---- weights, config, tokenizer ----------------------------------------------------------------

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


def bert_config(a, source, state):
    """A BertConfig from config.json, else from the tensors' shapes and the flags."""
    from transformers import BertConfig
    config_path = a.config or source["config"]
    labels = labels_of(a, source)
    if config_path:
        raw = read_json(config_path)
        kind = raw.get("model_type")
        archs = raw.get("architectures") or []
        if kind != "bert" or (archs and "BertForSequenceClassification" not in archs):
            raise Refused(f"config.json says model_type {kind!r} ({', '.join(archs) or 'no architectures'}); "
                          f"modelfleet import supports {SUPPORTED} only")
        config = BertConfig.from_dict(raw)
        if a.num_attention_heads:
            config.num_attention_heads = a.num_attention_heads
    else:
        config = config_from_shapes(a, state)
    num_labels = state["classifier.weight"].shape[0] if "classifier.weight" in state else config.num_labels
    if labels is None:
        given = [config.id2label[i] for i in range(len(config.id2label))] if config.id2label else []
        labels = given if len(given) == num_labels else [f"LABEL_{i}" for i in range(num_labels)]
        if all(re.fullmatch(r"LABEL_\d+", l) for l in labels):
            print(f"no label names in the source: using {', '.join(labels)} (say --labels)")
    if len(labels) != num_labels:
        raise Refused(f"{len(labels)} label names ({', '.join(labels)}) for a classifier of {num_labels} outputs")
    config.num_labels = num_labels
    config.id2label = dict(enumerate(labels))
    config.label2id = {l: i for i, l in enumerate(labels)}
    config.architectures = ["BertForSequenceClassification"]
    return config, labels


def labels_of(a, source):
    if a.labels:
        return [l.strip() for l in a.labels.split(",")]
    return source["labels"]


def config_from_shapes(a, state):
    from transformers import BertConfig
    prefixes = sorted({k.split(".")[0] for k in state})
    if "bert.embeddings.word_embeddings.weight" not in state or "classifier.weight" not in state:
        raise Refused(f"the weights are not a BertForSequenceClassification state_dict (top-level names: "
                      f"{', '.join(prefixes[:8])}); modelfleet import supports {SUPPORTED} only")
    vocab, hidden = state["bert.embeddings.word_embeddings.weight"].shape
    layers = check_layers_whole(state)
    heads = a.num_attention_heads
    if not heads:
        if hidden % 64:
            raise Refused(f"no config.json says the attention heads of this hidden size {hidden}; "
                          f"pass --num-attention-heads")
        heads = hidden // 64
        print(f"no config.json: assuming {heads} attention heads of 64 (BERT's head size; "
              f"--num-attention-heads says otherwise)")
    if hidden % heads:
        raise Refused(f"hidden size {hidden} is not a multiple of {heads} attention heads")
    return BertConfig(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=state["bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=state["bert.embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=state["bert.embeddings.token_type_embeddings.weight"].shape[0])


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


def build_model(config, state):
    import torch
    from transformers import BertForSequenceClassification
    config._attn_implementation = "eager"  # plain ops: the graph the ONNX exporter traces best
    model = BertForSequenceClassification(config).eval()
    state = {k: v for k, v in state.items() if not k.endswith("position_ids")}  # a buffer older saves kept
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise Refused("the weights do not fit a BertForSequenceClassification of this config: "
                      + "; ".join(part for part in [
                          f"missing {', '.join(missing[:6])}{' …' if len(missing) > 6 else ''}" if missing else "",
                          f"unexpected {', '.join(unexpected[:6])}{' …' if len(unexpected) > 6 else ''}"
                          if unexpected else ""] if part))
    return model.to(torch.float32)


def tokenizer_of(a, source, lowercase, max_length):
    """A `tokenizers` Tokenizer that encodes as the Node handler does: the package's
    tokenizer.json, or a BERT WordPiece tokenizer built from vocab.txt; truncated, not padded."""
    from tokenizers import Tokenizer
    from tokenizers.implementations import BertWordPieceTokenizer
    tokenizer_file = a.tokenizer or source["tokenizer"]
    vocab_file = a.vocab or source["vocab"]
    if tokenizer_file:
        tokenizer = Tokenizer.from_file(tokenizer_file)
    elif vocab_file:
        tokenizer = BertWordPieceTokenizer(vocab_file, lowercase=lowercase, strip_accents=lowercase,
                                           clean_text=True, handle_chinese_chars=True)
    else:
        raise Refused("the source has no tokenizer.json or vocab.txt; pass --vocab or --tokenizer")
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    return tokenizer, tokenizer_file, vocab_file


def lowercase_of(a, source):
    if a.cased:
        return False
    setting = source["settings"].get("do_lower_case")
    if isinstance(setting, bool):
        return setting
    vocab = os.path.basename(a.vocab or source["vocab"] or "")
    return not (re.search(r"(^|[-_])cased", vocab) and "uncased" not in vocab)


def max_length_of(a, source, config):
    window = config.max_position_embeddings
    given = a.max_length or source["settings"].get("max_length")
    try:
        length = int(given) if given is not None else min(512, window)
    except (TypeError, ValueError):
        raise Refused(f"max_length {given!r} is not a number")
    if not 2 <= length <= min(512, window):
        raise Refused(f"max_length {length} is outside 2..{min(512, window)} (the model has "
                      f"{window} positions; an imported BERT takes up to 512 tokens)")
    return length


# ---- export and checks ------------------------------------------------------------------------

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


if __name__ == "__main__":
    main()
