"""Reading the source of `modelfleet import` (tools/import_model.py): a .mar, a Hugging Face
checkpoint folder or a state_dict file, its files by role; nothing in it is run.
"""
import json, os, re, zipfile

from import_archives import (MAR_MANIFEST, FolderFiles, ZipFiles, check_torch_zip, check_zip,
                             open_zip)
from import_refused import Refused, read_json

WEIGHT_NAMES = ("model.safetensors", "pytorch_model.bin")

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
