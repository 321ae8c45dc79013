"""gpt-char: a small character-level GPT (Radford et al. 2018, 2019) on a text corpus.

The default corpus is the running Python's own standard library source (the
*.py files beside os.py, in sorted order, cut at `max_chars`): real text,
on every machine, deterministic. `data_dir=` takes a text file or a folder
of text files instead. The vocabulary is the training text's characters;
the last `validation_fraction` of the text (by position) is the validation
split. The report gives validation loss, perplexity and bits per character
against a unigram and a bigram character model (add-one smoothed, counted
on the training split) scored on the same validation targets, and samples
drawn with the key/value cache (`temperature`, `top_k`, `top_p`), also in
samples.txt.

Measured with the defaults (`make recipe NAME=gpt-char`; 2 layers, width
128, context 128, 2,000 steps of 16 sequences, 0.43M parameters, 2 MB of
Python 3.11 stdlib source) on a 2-core CPU shared with other jobs (load
average 6-9): 844 s wall (9.4 CPU-minutes), validation 2.24 bits per
character (perplexity 4.73) against 3.50 for the bigram and 4.57 for the
unigram baseline; still improving at the end (more epochs= help).
"""

import dataclasses
import logging
import math
import typing

import keras
import numpy as np
import tensorflow as tf

from kerarch.config import RecipeConfig, option
from kerarch.data import make_dataset
from kerarch.data.text import (
    UNK,
    CharVocabulary,
    bigram_bits_per_char,
    load_text_corpus,
    sequence_chunks,
    unigram_bits_per_char,
)
from kerarch.errors import KerarchError
from kerarch.io import write_text
from kerarch.frame import Recipe, register_recipe
from kerarch.sequence.generation import generate
from kerarch.sequence.gpt import gpt

log = logging.getLogger("kerarch")


@dataclasses.dataclass
class GptCharConfig(RecipeConfig):
    epochs: int = option(8, "Training epochs of steps_per_epoch batches each.", minimum=1)
    batch_size: int = option(16, "Global batch size, split across replicas.", minimum=1)
    steps_per_epoch: typing.Optional[int] = option(
        250, "Batches per epoch, drawn from the repeated, shuffled training chunks (none: one pass).", minimum=1
    )
    dataset: str = option("text", "Character-level language modelling of the corpus below.", choices=("text",))
    data_dir: typing.Optional[str] = option(
        None, "A UTF-8 text file, or a folder searched for .txt/.md/.py/... files (default: the Python standard "
        "library's *.py source)."
    )
    max_chars: int = option(2_000_000, "Characters of the corpus used, from its start.", minimum=2)
    validation_fraction: float = option(0.1, "Share of the text, at its end, for validation.", minimum=0.0)
    block_size: int = option(128, "Context length: characters per training sequence.", minimum=2)
    num_layers: int = option(2, "Transformer decoder layers.", minimum=1)
    num_heads: int = option(4, "Attention heads; must divide hidden_dim.", minimum=1)
    hidden_dim: int = option(128, "Model width.", minimum=1)
    intermediate_dim: int = option(512, "Feed-forward width.", minimum=1)
    dropout: float = option(0.0, "Dropout (0 keeps the fused attention kernel).", minimum=0.0)
    clipnorm: float = option(1.0, "Clip each gradient's norm to this (0: off).", minimum=0.0)
    prompts: tuple[str, ...] = option(("def", "class", "import"), "Prompts the samples start from.")
    sample_length: int = option(100, "Characters generated per sample (prompt + sample fit in block_size).",
                                minimum=1)
    temperature: float = option(0.8, "Sampling temperature (0: greedy).", minimum=0.0)
    top_k: typing.Optional[int] = option(None, "Sample among the k most likely characters only.", minimum=1)
    top_p: typing.Optional[float] = option(0.95, "Nucleus sampling: the most likely characters holding this "
                                           "probability.", minimum=0.0)


@dataclasses.dataclass
class CharData:
    """Chunks of the encoded corpus: (N, block_size + 1) ids per split."""

    vocab: CharVocabulary
    train_ids: np.ndarray
    train_chunks: np.ndarray
    val_chunks: np.ndarray
    source: str
    notice: str | None


def next_token_pairs(chunk):
    """tf.data map: a chunk (T + 1,) -> ({token_ids, padding_mask} (T,), next ids (T,))."""
    inputs = chunk[:-1]
    return {"token_ids": inputs, "padding_mask": tf.ones_like(inputs)}, chunk[1:]


@register_recipe("gpt-char")
class GptChar(Recipe):
    """Character-level GPT on a text corpus (default: Python's stdlib source) vs unigram and bigram baselines."""

    Config = GptCharConfig
    task = "regression"  # the export is compared on its (T, V) logits

    def load_data(self):
        cfg = self.config
        self.check_config()
        corpus = load_text_corpus(cfg.data_dir, max_chars=cfg.max_chars)
        cut = int(len(corpus.text) * (1 - cfg.validation_fraction))
        train_text, val_text = corpus.text[:cut], corpus.text[cut:]
        vocab = CharVocabulary.from_text(train_text)
        train_ids, val_ids = vocab.encode(train_text), vocab.encode(val_text)
        for name, ids in (("training", train_ids), ("validation", val_ids)):
            if len(ids) <= cfg.block_size:
                raise KerarchError(
                    f"The {name} text has {len(ids):,} characters, too few for one sequence of block_size="
                    f"{cfg.block_size}; use more text (max_chars=, data_dir=) or a smaller block_size."
                )
        return CharData(
            vocab=vocab, train_ids=train_ids, train_chunks=sequence_chunks(train_ids, cfg.block_size),
            val_chunks=sequence_chunks(val_ids, cfg.block_size), source=corpus.source, notice=corpus.notice,
        )

    def check_config(self):
        """Errors a run would otherwise meet only after training."""
        cfg = self.config
        if not 0 < cfg.validation_fraction < 1:
            raise KerarchError(f"validation_fraction must be between 0 and 1, got {cfg.validation_fraction}.")
        if cfg.hidden_dim % cfg.num_heads:
            raise KerarchError(f"hidden_dim={cfg.hidden_dim} must be divisible by num_heads={cfg.num_heads}.")
        if cfg.top_p is not None and not 0 < cfg.top_p <= 1:
            raise KerarchError(f"top_p must be in (0, 1], got {cfg.top_p}.")
        longest = max((len(p) for p in cfg.prompts), default=0)
        if not cfg.prompts or longest + cfg.sample_length > cfg.block_size:
            raise KerarchError(
                f"Samples need 1+ prompts, each with sample_length ({cfg.sample_length}) more characters within "
                f"block_size ({cfg.block_size}), the longest context the model learns; got prompts {cfg.prompts}."
            )

    def build_model(self, data):
        cfg = self.config
        model = gpt(
            config="gpt2_small", vocabulary_size=data.vocab.size, num_layers=cfg.num_layers, num_heads=cfg.num_heads,
            hidden_dim=cfg.hidden_dim, intermediate_dim=cfg.intermediate_dim, max_sequence_length=cfg.block_size,
            dropout=cfg.dropout,
        )
        model.compile(
            optimizer=self.make_optimizer(data),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=self.jit_compile,
        )
        return model

    def num_train_examples(self, data):
        return len(data.train_chunks)

    def datasets(self, data):
        cfg = self.config
        train = make_dataset(
            data.train_chunks, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed, map_fn=next_token_pairs,
            repeat=cfg.steps_per_epoch is not None, drop_remainder=True,
        )
        return train, make_dataset(data.val_chunks, batch_size=cfg.batch_size, map_fn=next_token_pairs)

    def evaluate(self, model, data):
        """Validation bits per character vs the n-gram baselines on the same targets, and samples."""
        val = make_dataset(data.val_chunks, batch_size=self.config.batch_size, map_fn=next_token_pairs)
        loss, accuracy = model.evaluate(val, verbose=0)  # mean nats per predicted character
        previous, targets = data.val_chunks[:, :-1], data.val_chunks[:, 1:]
        size = data.vocab.size
        samples = self.write_samples(model, data)
        return {
            "corpus": f"{len(data.train_ids):,} training characters, {targets.size:,} validation targets "
                      f"({int((targets == data.vocab.id(UNK)).sum())} unseen in training, scored as [UNK]), "
                      f"{size} ids (characters + [PAD], [UNK])",
            "val_loss_nats": float(loss),
            "val_perplexity": math.exp(loss),
            "val_bits_per_char": loss / math.log(2),
            "val_accuracy": float(accuracy),
            "baseline_unigram_bits_per_char": unigram_bits_per_char(data.train_ids, targets, size),
            "baseline_bigram_bits_per_char": bigram_bits_per_char(data.train_ids, previous, targets, size),
            "samples_file": "samples.txt",
            **{f"sample_{i}": _one_line(text) for i, text in enumerate(samples, start=1)},
        }

    def write_samples(self, model, data):
        """Samples from each prompt (key/value cache), logged and written to samples.txt; returns them."""
        cfg = self.config
        prompts = [data.vocab.encode(p) for p in cfg.prompts]
        ids = generate(model, prompts, cfg.sample_length, temperature=cfg.temperature, top_k=cfg.top_k,
                       top_p=cfg.top_p, seed=cfg.seed)  # (P, longest prompt + sample_length)
        samples = [data.vocab.decode(row[: len(p) + cfg.sample_length]) for row, p in zip(ids, prompts)]
        settings = f"temperature={cfg.temperature} top_k={cfg.top_k} top_p={cfg.top_p} seed={cfg.seed}"
        write_text(self.run.path / "samples.txt",
                   f"# {self.name} samples, {settings}\n\n" + "\n\n----------\n\n".join(samples) + "\n")
        for text in samples:
            log.info("Sample:\n%s\n", text)
        return samples

    def model_to_export(self, model):
        return single_input(model, self.config.block_size)

    def export_inputs(self, data):
        inputs = lambda chunks: chunks[:, :-1].astype("float32")  # noqa: E731
        return inputs(data.train_chunks[:200]), inputs(data.val_chunks[:64]), None


def single_input(model, length):
    """A one-input view of the trained model for export: (B, length) float ids -> (B, length, V) logits.

    kerarch's exporter takes one float input: the ids arrive as float32
    (exact below 2**24) and the padding mask is all ones. The length is
    fixed because LiteRT's XNNPack delegate cannot resize this graph at run
    time. Same layers and weights as `model`.
    """
    ids_in = keras.Input(shape=(length,), dtype="float32", name="token_ids")
    ids = keras.ops.cast(ids_in, "int32")
    logits = model({"token_ids": ids, "padding_mask": keras.ops.ones_like(ids)})
    return keras.Model(ids_in, logits, name=f"{model.name}_token_ids")


def _one_line(text, limit=160):
    """A sample for a Markdown table cell: newlines as ⏎, pipes escaped, cut at `limit` characters."""
    return text[:limit].replace("\n", "⏎").replace("|", "\\|")
