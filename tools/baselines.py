#!/usr/bin/env python3
"""Baselines for the demo model, trained on the same AG News training file and scored on the
same official test split: a TF-IDF (word unigrams + bigrams) logistic regression (scikit-learn)
and, when the `fasttext` command is installed (Debian's package), a bigram fastText model.
Prints accuracy and the expected calibration error (15 bins) of each, as tools/evaluate.ts does.

    python3 tools/baselines.py <train.jsonl> <test.jsonl>
"""
import json, os, re, shutil, subprocess, sys, tempfile

import numpy as np


def load(path):
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r["text"] for r in rows], np.array([int(r["label"]) for r in rows])


def ece(probs, labels, bins=15):
    conf, pred = probs.max(1), probs.argmax(1)
    idx = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    return sum(abs((pred[idx == b] == labels[idx == b]).sum() - conf[idx == b].sum())
               for b in range(bins)) / len(labels)


def report(name, probs, labels):
    acc = float((probs.argmax(1) == labels).mean())
    print(json.dumps({"model": name, "accuracy": round(acc, 4), "ece": round(float(ece(probs, labels)), 4)}))


def tfidf_logreg(train, test):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x = vec.fit_transform(train[0])
    clf = LogisticRegression(C=10.0, max_iter=2000).fit(x, train[1])
    report("tfidf-bigram-logreg", clf.predict_proba(vec.transform(test[0])), test[1])


def fasttext_words(text):
    return " ".join(re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.lower()))


def fasttext(train, test):
    exe = shutil.which("fasttext")
    if not exe:
        print(json.dumps({"model": "fasttext-bigram", "skipped": "the fasttext command is not installed"}))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tr, te, model = (os.path.join(tmp, n) for n in ("train.txt", "test.txt", "model"))
        with open(tr, "w") as f:
            f.writelines(f"__label__{y} {fasttext_words(t)}\n" for t, y in zip(*train))
        with open(te, "w") as f:
            f.writelines(f"{fasttext_words(t)}\n" for t in test[0])
        subprocess.run([exe, "supervised", "-input", tr, "-output", model, "-wordNgrams", "2", "-epoch", "10",
                        "-lr", "0.5", "-dim", "50", "-bucket", "2000000", "-thread", "1", "-seed", "13",
                        "-verbose", "0"], check=True)
        out = subprocess.run([exe, "predict-prob", model + ".bin", te, "4"], check=True, capture_output=True,
                             text=True).stdout.splitlines()
    probs = np.zeros((len(out), 4))
    for i, line in enumerate(out):
        parts = line.split()
        for label, p in zip(parts[0::2], parts[1::2]):
            probs[i, int(label.replace("__label__", ""))] = float(p)
    report("fasttext-bigram", probs, test[1])


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: baselines.py <train.jsonl> <test.jsonl>")
    train, test = load(sys.argv[1]), load(sys.argv[2])
    tfidf_logreg(train, test)
    fasttext(train, test)


if __name__ == "__main__":
    main()
