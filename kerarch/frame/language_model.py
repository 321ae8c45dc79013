"""The language-model recipe kinds: next-token (causal) and masked-token models over a text corpus.

`LanguageModel` is their shared part: the corpus keys (`data_dir`,
`max_chars`), sparse categorical cross-entropy on logits, and the training
and validation datasets of a kerarch.data.corpus corpus (the training data
repeated when `steps_per_epoch` is set). An export is compared on logits.

`CausalLanguageModel` (gpt-char) trains on a character corpus cut by
position into chunks of `block_size` (`load_char_chunks`); its model reads
{"token_ids", "padding_mask"}. The report gives validation bits per
character against unigram and bigram models counted on the training split,
and samples from `prompts` drawn with the key/value cache (samples.txt).
The export reads float32 ids of `block_size`.

`MaskedLanguageModel` (bert-pretrain-mlm) pretrains on BERT's masked
sentence pairs (`load_pretraining_pairs`), with a masked-token and a
next-sentence output whose accuracies are weighted by the mask, and reports
test accuracies against the most frequent training token and the majority
label. It is not exported: the model has four inputs and two outputs.

A recipe says its config defaults and `build_model` (ending in
`self.compile(model, data)`).
"""

import dataclasses
import logging
import math
import typing

import keras
import numpy as np

from kerarch.config import RecipeConfig, option
from kerarch.data.corpus import load_char_chunks, load_pretraining_pairs, most_frequent_token
from kerarch.data.text import UNK, bigram_bits_per_char, unigram_bits_per_char
from kerarch.data.textclass import SPECIAL_TOKENS
from kerarch.errors import KerarchError
from kerarch.export.adapters import gpt_with_float_ids
from kerarch.frame.recipe import Recipe
from kerarch.io import write_text
from kerarch.sequence.generation import generate

log = logging.getLogger("kerarch")


def check_heads(hidden_dim, num_heads):
    """Raises KerarchError unless the attention heads split the model width evenly."""
    if hidden_dim % num_heads:
        raise KerarchError(f"hidden_dim={hidden_dim} must be divisible by num_heads={num_heads}.")


@dataclasses.dataclass
class LanguageModelConfig(RecipeConfig):
    """Keys of every language model: the corpus."""

    data_dir: typing.Optional[str] = option(
        None, "A UTF-8 text file, or a folder searched for .txt/.md/.py/... files, as the corpus (default: the "
        "dataset= corpus, from the Python standard library)."
    )
    max_chars: int = option(2_000_000, "Characters of the corpus used, from its start.", minimum=2)


class LanguageModel(Recipe):
    """A model over a token corpus trained with cross-entropy on logits, against counting baselines."""

    Config = LanguageModelConfig
    task = "regression"  # an export is compared on its logits, not an argmax over them

    @property
    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def num_train_examples(self, data):
        return data.num_train

    def datasets(self, data):
        cfg = self.config
        train = data.train_dataset(cfg.batch_size, seed=cfg.seed, repeat=cfg.steps_per_epoch is not None)
        return train, data.validation_dataset(cfg.batch_size)


# --- next token ----------------------------------------------------------------------------------


@dataclasses.dataclass
class CausalLanguageModelConfig(LanguageModelConfig):
    """Keys of a next-token model: the character corpus, its context length and the samples in the report."""

    dataset: str = option("text", "Character-level language modelling of the corpus below.", choices=("text",))
    validation_fraction: float = option(0.1, "Share of the text, at its end, for validation.", minimum=0.0)
    block_size: int = option(128, "Context length: characters per training sequence.", minimum=2)
    prompts: tuple[str, ...] = option(("def", "class", "import"), "Prompts the samples start from.")
    sample_length: int = option(100, "Characters generated per sample (prompt + sample fit in block_size).",
                                minimum=1)
    temperature: float = option(0.8, "Sampling temperature (0: greedy).", minimum=0.0)
    top_k: typing.Optional[int] = option(None, "Sample among the k most likely characters only.", minimum=1)
    top_p: typing.Optional[float] = option(0.95, "Nucleus sampling: the most likely characters holding this "
                                           "probability.", minimum=0.0)


class CausalLanguageModel(LanguageModel):
    """Next-character model: validation bits per character vs unigram and bigram models, and samples."""

    Config = CausalLanguageModelConfig
    metrics = ("accuracy",)

    def load_data(self):
        cfg = self.config
        self.check_samples(cfg.block_size)  # an error a run would otherwise meet only after training
        return load_char_chunks(cfg.data_dir, max_chars=cfg.max_chars, validation_fraction=cfg.validation_fraction,
                                block_size=cfg.block_size)

    def evaluate(self, model, data):
        """Validation bits per character vs unigram and bigram baselines on the same targets, and samples."""
        loss, accuracy = model.evaluate(data.validation_dataset(self.config.batch_size), verbose=0)  # nats/char
        previous, targets = data.val_chunks[:, :-1], data.val_chunks[:, 1:]
        size = data.vocab.size
        samples = self.write_samples(model, data.vocab)
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
            **{f"sample_{i}": one_line(text) for i, text in enumerate(samples, start=1)},
        }

    def check_samples(self, context_length):
        """Raises KerarchError unless every prompt and its sample fit in `context_length` tokens."""
        cfg = self.config
        if cfg.top_p is not None and not 0 < cfg.top_p <= 1:
            raise KerarchError(f"top_p must be in (0, 1], got {cfg.top_p}.")
        longest = max((len(p) for p in cfg.prompts), default=0)
        if not cfg.prompts or longest + cfg.sample_length > context_length:
            raise KerarchError(
                f"Samples need 1+ prompts, each with sample_length ({cfg.sample_length}) more characters within "
                f"block_size ({context_length}), the longest context the model learns; got prompts {cfg.prompts}."
            )

    def write_samples(self, model, vocab):
        """Samples from each prompt (key/value cache), logged and written to samples.txt; returns them."""
        cfg = self.config
        prompts = [vocab.encode(p) for p in cfg.prompts]
        ids = generate(model, prompts, cfg.sample_length, temperature=cfg.temperature, top_k=cfg.top_k,
                       top_p=cfg.top_p, seed=cfg.seed)  # (P, longest prompt + sample_length)
        samples = [vocab.decode(row[: len(p) + cfg.sample_length]) for row, p in zip(ids, prompts)]
        settings = f"temperature={cfg.temperature} top_k={cfg.top_k} top_p={cfg.top_p} seed={cfg.seed}"
        write_text(self.run.path / "samples.txt",
                   f"# {self.name} samples, {settings}\n\n" + "\n\n----------\n\n".join(samples) + "\n")
        for text in samples:
            log.info("Sample:\n%s\n", text)
        return samples

    def model_to_export(self, model):
        return gpt_with_float_ids(model, self.config.block_size)

    def export_inputs(self, data):
        """(B, T) float32 ids: training and validation chunks minus their last id."""
        inputs = lambda chunks: chunks[:, :-1].astype("float32")  # noqa: E731
        return inputs(data.train_chunks[:200]), inputs(data.val_chunks[:64]), None


def one_line(text, limit=160):
    """A sample for a Markdown table cell: newlines as ⏎, pipes escaped, cut at `limit` characters."""
    return text[:limit].replace("\n", "⏎").replace("|", "\\|")


# --- masked tokens -------------------------------------------------------------------------------

_MASKED_OUTPUTS = ("mlm_logits", "nsp_logits")
_NO_EXPORT = (
    "kerarch.export handles models with one input and one output; BERT pretraining has four inputs and two "
    "outputs. The trained model is the run's checkpoints/best.keras."
)


@dataclasses.dataclass
class MaskedLanguageModelConfig(LanguageModelConfig):
    """Keys of a masked-token model: the documents, their split, the vocabulary and the masks."""

    dataset: str = option("python_docstrings", "The default corpus: docstrings of the Python standard library "
                          "(data_dir= replaces it).", choices=("python_docstrings",))
    max_documents: int = option(20000, "Read at most this many documents (paragraphs or docstrings).", minimum=2)
    held_out_percent: int = option(10, "Percent of the documents held out for validation, and again for test.",
                                   minimum=1)
    vocabulary_size: int = option(6000, "Largest WordPiece vocabulary learned from the training sentences.",
                                  minimum=len(SPECIAL_TOKENS) + 1)
    sequence_length: int = option(64, "Tokens per pair, [CLS] and both [SEP] included.", minimum=5)
    mask_rate: float = option(0.15, "Share of tokens selected for prediction (paper: 0.15).", minimum=0.0)
    max_predictions: int = option(12, "Selected positions per sequence at most (paper: 20 for 128 tokens).",
                                  minimum=1)
    export: bool = option(False, "Off: " + _NO_EXPORT, choices=(False,))


class MaskedLanguageModel(LanguageModel):
    """Masked-token and next-sentence model: test accuracies vs the most frequent token and the majority label."""

    Config = MaskedLanguageModelConfig

    @property
    def loss(self):
        loss = super().loss
        return {name: loss for name in _MASKED_OUTPUTS}

    def compile(self, model, data, **options):
        """Compiles with accuracies weighted by the mask: masked tokens at the selected positions only."""
        options.setdefault("weighted_metrics", {name: ["sparse_categorical_accuracy"] for name in _MASKED_OUTPUTS})
        return super().compile(model, data, **options)

    def load_data(self):
        cfg = self.config
        return load_pretraining_pairs(
            cfg.data_dir, max_documents=cfg.max_documents, max_chars=cfg.max_chars,
            held_out_percent=cfg.held_out_percent, vocabulary_size=cfg.vocabulary_size,
            sequence_length=cfg.sequence_length, mask_rate=cfg.mask_rate, max_predictions=cfg.max_predictions,
            seed=cfg.seed,
        )

    def evaluate(self, model, data):
        """Test MLM accuracy at the selected positions vs the most frequent token; NSP accuracy vs the majority."""
        test = data.test
        outputs = model.predict(data.test_dataset(self.config.batch_size), verbose=0)
        selected = test["mask_weights"] > 0
        targets = test["mask_ids"][selected]
        predicted = outputs["mlm_logits"].argmax(-1)[selected]
        nsp = test["nsp_labels"]
        unigram = most_frequent_token(data.train["token_ids"])
        return {
            "documents_train_val_test": "/".join(str(n) for n in data.documents.values()),
            "train_pairs": len(data.train["nsp_labels"]),
            "test_pairs": len(nsp),
            "test_masked_tokens": int(selected.sum()),
            "vocabulary_size": data.tokenizer.vocabulary_size(),
            "test_mlm_accuracy": float(np.mean(predicted == targets)),
            "baseline_most_frequent_token_mlm_accuracy": float(np.mean(targets == unigram)),
            "test_nsp_accuracy": float(np.mean(outputs["nsp_logits"].argmax(-1) == nsp)),
            "baseline_majority_nsp_accuracy": float(max(nsp.mean(), 1 - nsp.mean())),
        }

    def export_inputs(self, data):
        raise KerarchError(f"{self.name} runs cannot be exported: {_NO_EXPORT}")
