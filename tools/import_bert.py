"""The BERT of `modelfleet import` (tools/import_model.py): its BertConfig and labels, the model
built from the weights, and the tokenizer and settings the Node handler will encode with.
"""
import os, re

from import_refused import SUPPORTED, Refused, read_json
from import_weights import check_layers_whole

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
