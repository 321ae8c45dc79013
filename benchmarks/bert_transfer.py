"""BERT transfer on IMDB, the README's "BERT: pretrain, then fine-tune, offline" numbers that are not one run's report.

    python benchmarks/bert_transfer.py gain SCRATCH_RUN:PRETRAINED_RUN [...]
    python benchmarks/bert_transfer.py probe PRETRAIN_RUN [...] [--random 2]
    python benchmarks/bert_transfer.py tfidf [--words 100]

- gain: pairs of finished bert-finetune-imdb runs, one from scratch and one
  from a pretraining run, usually one pair per seed. Prints each pair's test
  accuracy (best validation accuracy), the gain, and the mean, spread and
  smallest gain over the pairs; says where a pair's settings differ beyond
  `pretrained=` and `run_dir=`, and when the scratch run's `scratch_config`
  is not the size of the pretraining run's encoder.
- probe: a linear probe of frozen encoders (Alain & Bengio 2016): logistic
  regression on the mean token output of `[CLS] review [SEP]` (the first
  128 tokens), fitted on --examples training reviews and scored on as many
  test reviews. `--random N` adds N randomly initialised encoders of the
  first run's size and vocabulary, the floor a pretraining has to beat.
- tfidf: TF-IDF + logistic regression (the fine-tuning runs' baseline) on the
  words a 128-token BERT sees: the whole review, its first --words words, its
  first quarter and last three quarters of --words words (keep=head_tail), and
  twice --words from the start.

Results also go to benchmarks/results/bert_transfer-<command>-<time>.json.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERARCH_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SAME_EXCEPT = ("pretrained", "run_dir", "scratch_config")  # a pretrained run ignores scratch_config


def finished_run(path):
    """(resolved config, test accuracy, best validation accuracy) of a finished bert-finetune run folder."""
    from kerarch.io import read_json
    from kerarch.plots import read_metrics_csv

    folder = Path(path)
    if not (folder / "summary.json").is_file():
        sys.exit(f"{folder}: not a finished run folder (no summary.json).")
    metrics = read_json(folder / "summary.json")["metrics"]
    config = read_json(folder / "config.json")["config"]
    best_val = max(read_metrics_csv(folder / "metrics.csv")["val_accuracy"])
    return config, metrics["test_accuracy"], best_val


def pretraining_size(pretrained):
    """The BERT size (`config=`) of the bert-pretrain-mlm run behind `pretrained=`, None for a preset or none."""
    from kerarch.frame.language_model import run_folder_of
    from kerarch.io import read_json

    folder = run_folder_of(pretrained)  # the folder fine-tuning took the encoder from
    return None if folder is None else read_json(folder / "config.json")["config"].get("config")


def gain(pairs):
    """Test accuracy of each (scratch, pretrained) pair, the gain, and the gains' mean, spread and minimum."""
    rows = []
    for pair in pairs:
        scratch_dir, sep, pretrained_dir = pair.partition(":")
        if not sep:
            sys.exit(f"{pair!r}: give SCRATCH_RUN:PRETRAINED_RUN.")
        (s_cfg, s_test, s_val), (p_cfg, p_test, p_val) = finished_run(scratch_dir), finished_run(pretrained_dir)
        differ = sorted(k for k in s_cfg.keys() | p_cfg.keys() if k not in SAME_EXCEPT and s_cfg.get(k) != p_cfg.get(k))
        settings_differ = {k: [s_cfg.get(k), p_cfg.get(k)] for k in differ}
        size = pretraining_size(p_cfg["pretrained"])
        if size not in (None, s_cfg.get("scratch_config")):
            settings_differ["encoder size"] = [s_cfg.get("scratch_config"), size]
        rows.append({"seed": p_cfg["seed"], "scratch": scratch_dir, "pretrained": pretrained_dir,
                     "encoder": p_cfg["pretrained"], "scratch_test": s_test, "scratch_val": s_val,
                     "pretrained_test": p_test, "pretrained_val": p_val, "gain_points": 100 * (p_test - s_test),
                     "settings_differ": settings_differ})
    print(f"{'seed':>5} {'scratch test (val)':>20} {'pretrained test (val)':>22} {'gain':>7}  encoder")
    for r in rows:
        print(f"{r['seed']:>5} {100 * r['scratch_test']:>11.2f} ({100 * r['scratch_val']:.2f}) "
              f"{100 * r['pretrained_test']:>13.2f} ({100 * r['pretrained_val']:.2f}) {r['gain_points']:>+7.2f}  "
              f"{r['encoder']}" + (f"  settings differ: {r['settings_differ']}" if r["settings_differ"] else ""))
    gains = [r["gain_points"] for r in rows]
    summary = {"pairs": len(gains), "mean_gain_points": statistics.fmean(gains), "min_gain_points": min(gains),
               "stdev_gain_points": statistics.stdev(gains) if len(gains) > 1 else None}
    print(f"gain over {len(gains)} pair(s): mean {summary['mean_gain_points']:+.2f}, min {min(gains):+.2f}"
          + (f", stdev {summary['stdev_gain_points']:.2f}" if len(gains) > 1 else "") + " points")
    return {"rows": rows, **summary}


def imdb(examples, seed):
    """`examples` seeded training and test reviews of the installed IMDB copy: (train texts, labels, test ...)."""
    import numpy as np

    from kerarch.data.textclass import load_text_classification

    data = load_text_classification("imdb_reviews", allow_download=False)
    rng = np.random.default_rng(seed)
    train = rng.permutation(len(data.train_texts))[:examples]
    test = rng.permutation(len(data.test_texts))[:examples]
    return data.train_texts[train], data.train_labels[train], data.test_texts[test], data.test_labels[test]


def probe(runs, random, examples, seed):
    """Linear-probe test accuracy of each pretraining run's encoder, and of `random` untrained ones."""
    import keras
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from kerarch.data.textclass import encode_packed, word_piece_from_vocabulary
    from kerarch.frame.language_model import load_pretrained_bert
    from kerarch.sequence.bert import bert_model_architecture, build_bert

    train_texts, train_labels, test_texts, test_labels = imdb(examples, seed)
    pretrained = [load_pretrained_bert(run, sequence_length=128) for run in runs]
    encoders = [(run, bert.encoder, bert.vocabulary) for run, bert in zip(runs, pretrained)]
    _, first, vocabulary = encoders[0]
    for i in range(random):
        keras.utils.set_random_seed(seed + i)
        encoders.append((f"random initialisation {i + 1} ({runs[0]}'s size and vocabulary)",
                         build_bert(head=None, dropout=0.0, **bert_model_architecture(first)), vocabulary))

    def features(encoder, tokenizer, texts):
        token_ids = encode_packed(tokenizer, texts, sequence_length=128)[0]
        mask = (token_ids != 0).astype("float32")
        inputs = {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids), "padding_mask": mask.astype("int32")}
        sequence = encoder.predict(inputs, batch_size=128, verbose=0)["sequence_output"]
        return (sequence * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)

    rows = []
    for name, encoder, vocabulary in encoders:
        tokenizer = word_piece_from_vocabulary(vocabulary)
        classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        classifier.fit(features(encoder, tokenizer, train_texts), train_labels)
        accuracy = float(np.mean(classifier.predict(features(encoder, tokenizer, test_texts)) == test_labels))
        rows.append({"encoder": name, "probe_test_accuracy": accuracy})
        print(f"{100 * accuracy:6.2f} %  {name}")
    return {"examples": examples, "seed": seed, "rows": rows}


def tfidf(words):
    """TF-IDF + logistic regression test accuracy on the whole reviews and on the words a 128-token BERT keeps."""
    from kerarch.data.textclass import load_text_classification
    from kerarch.frame.text_classification import tfidf_logreg_accuracy

    data = load_text_classification("imdb_reviews", allow_download=False)
    head = words // 4
    cuts = {
        "whole review": lambda w: w,
        f"first {words} words (keep=start)": lambda w: w[:words],
        f"first {head} + last {words - head} words (keep=head_tail)": lambda w: w[:head] + w[head:][-(words - head):],
        f"first {2 * words} words": lambda w: w[: 2 * words],
    }
    rows = []
    for name, cut in cuts.items():
        trim = lambda texts: [" ".join(cut(str(t).split())) for t in texts]  # noqa: E731
        accuracy = tfidf_logreg_accuracy(trim(data.train_texts), data.train_labels, trim(data.test_texts),
                                         data.test_labels)
        rows.append({"words": name, "test_accuracy": accuracy})
        print(f"{100 * accuracy:6.2f} %  {name}")
    return {"rows": rows}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("gain", help="pretrained vs scratch per pair").add_argument("pairs", nargs="+")
    probe_parser = commands.add_parser("probe", help="linear probe of frozen encoders")
    probe_parser.add_argument("runs", nargs="+", help="finished bert-pretrain-mlm run folders")
    probe_parser.add_argument("--random", type=int, default=0, help="untrained encoders to add")
    probe_parser.add_argument("--examples", type=int, default=4000, help="training and test reviews each")
    probe_parser.add_argument("--seed", type=int, default=0)
    commands.add_parser("tfidf", help="TF-IDF on truncated reviews").add_argument("--words", type=int, default=100)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from kerarch.errors import KerarchError
    from kerarch.io import write_json

    try:
        if args.command == "gain":
            result = gain(args.pairs)
        elif args.command == "probe":
            result = probe(args.runs, args.random, args.examples, args.seed)
        else:
            result = tfidf(args.words)
    except KerarchError as error:  # a run that is no finished pretraining run, data not installed, ...
        sys.exit(f"error: {error}")
    out = ROOT / "benchmarks" / "results" / f"bert_transfer-{args.command}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    write_json(out, {"command": sys.argv, **result})
    print(f"written to {out}")


if __name__ == "__main__":
    main()
