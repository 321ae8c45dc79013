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
sentence pairs (`load_pretraining_pairs`) of a text corpus or of IMDB's
training reviews, with a masked-token and a next-sentence output whose
accuracies are weighted by the mask, and reports test accuracies against
the most frequent training token and the majority label. It is not
exported (the model has four inputs and two outputs); instead its run
folder holds what fine-tuning starts from: vocabulary.txt (the WordPiece
vocabulary, token i on line i) and encoder.keras (the trained encoder
without its heads), which `load_pretrained_bert` reads back and checks.

A recipe says its config defaults and `build_model` (ending in
`self.compile(model, data)`).
"""

import dataclasses
import logging
import math
import os
import typing
from pathlib import Path

import keras
import numpy as np

from kerarch.config import RecipeConfig, option
from kerarch.data.corpus import load_char_chunks, load_pretraining_pairs, most_frequent_token
from kerarch.data.text import UNK, bigram_bits_per_char, unigram_bits_per_char
from kerarch.data.textclass import SPECIAL_TOKENS, read_vocabulary, write_vocabulary
from kerarch.errors import KerarchError
from kerarch.export.adapters import gpt_with_float_ids
from kerarch.frame.recipe import Recipe, get_recipe
from kerarch.io import atomic_path, read_json, write_text
from kerarch.model_files import load_model_file
from kerarch.sequence.bert import bert_model_architecture
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

#: What a finished MaskedLanguageModel run leaves for fine-tuning, in its run folder.
ENCODER_FILE = "encoder.keras"
VOCABULARY_FILE = "vocabulary.txt"

_MASKED_OUTPUTS = ("mlm_logits", "nsp_logits")
_NO_EXPORT = (
    "kerarch.export handles models with one input and one output; BERT pretraining has four inputs and two "
    "outputs. The trained model is the run's checkpoints/best.keras."
)


@dataclasses.dataclass
class MaskedLanguageModelConfig(LanguageModelConfig):
    """Keys of a masked-token model: the documents, their split, the vocabulary and the masks."""

    dataset: str = option("python_docstrings", "The corpus: docstrings of the Python standard library (data_dir= "
                          "replaces it by your text), or IMDB's training reviews (never its test reviews).",
                          choices=("python_docstrings", "imdb_reviews"))
    data_dir: typing.Optional[str] = option(
        None, "python_docstrings: a UTF-8 text file, or a folder searched for .txt/.md/.py/... files, as the "
        "corpus. imdb_reviews: the IMDB copy, as lstm-sentiment reads it (aclImdb folder, whose train/unsup "
        "reviews are used too; folder with reviews.json; TSV folder); default: the installed reviews.json."
    )
    max_documents: int = option(20000, "Read at most this many documents (paragraphs or docstrings).", minimum=2)
    held_out_percent: int = option(10, "Percent of the documents held out for validation, and again for test.",
                                   minimum=1)
    vocabulary_size: int = option(6000, "Largest WordPiece vocabulary learned from the training sentences.",
                                  minimum=len(SPECIAL_TOKENS) + 1)
    sequence_length: int = option(64, "Tokens per pair, [CLS] and both [SEP] included.", minimum=5)
    segments: str = option("sentences", "What A and B of a pair are: one sentence each, or spans of consecutive "
                           "sentences filling sequence_length (BERT's create_pretraining_data.py).",
                           choices=("sentences", "spans"))
    mask_rate: float = option(0.15, "Share of tokens selected for prediction (paper: 0.15).", minimum=0.0)
    max_predictions: int = option(12, "Selected positions per sequence at most (paper: 20 for 128 tokens).",
                                  minimum=1)
    next_sentence: bool = option(True, "Train the next-sentence head too (paper: yes); off: masked LM alone, as "
                                 "RoBERTa (Liu et al. 2019) and Cramming (Geiping & Goldstein 2022) found better.")
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
        if not self.config.next_sentence:  # the NSP head is still built and reported, but never trained
            options.setdefault("loss_weights", {"mlm_logits": 1.0, "nsp_logits": 0.0})
        return super().compile(model, data, **options)

    def load_data(self):
        """The masked pairs of the corpus; their vocabulary is recorded in the run folder (vocabulary.txt)."""
        cfg = self.config
        data = load_pretraining_pairs(
            cfg.data_dir, dataset=cfg.dataset, max_documents=cfg.max_documents, max_chars=cfg.max_chars,
            held_out_percent=cfg.held_out_percent, vocabulary_size=cfg.vocabulary_size,
            sequence_length=cfg.sequence_length, mask_rate=cfg.mask_rate, max_predictions=cfg.max_predictions,
            seed=cfg.seed, segments=cfg.segments,
        )
        write_vocabulary(self.run.path / VOCABULARY_FILE, data.tokenizer)
        return data

    def save_trained(self, model):
        """Records the trained model, and its encoder alone (encoder.keras) for fine-tuning to start from."""
        last = f"transformer_layer_{bert_model_architecture(model)['num_layers'] - 1}"
        inputs = {name: model.input[name] for name in ("token_ids", "segment_ids", "padding_mask")}
        outputs = {"sequence_output": model.get_layer(last).output,
                   "pooled_output": model.get_layer("pooled_dense").output}
        with atomic_path(self.run.path / ENCODER_FILE) as tmp:
            keras.Model(inputs, outputs, name="bert").save(tmp)
        super().save_trained(model)

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


# --- a pretraining run as the start of fine-tuning -----------------------------------------------


@dataclasses.dataclass
class PretrainedBert:
    """A finished BERT pretraining run's encoder and WordPiece vocabulary (token i is id i)."""

    encoder: keras.Model
    vocabulary: list
    source: str


def load_pretrained_bert(path, *, sequence_length):
    """The encoder and vocabulary of a finished MaskedLanguageModel run (bert-pretrain-mlm), checked for fine-tuning.

    Args:
        path: the run folder (its encoder.keras is used), or a .keras BERT
            model inside it (e.g. checkpoints/best.keras, the best epoch by
            validation loss); the vocabulary is always the run's
            vocabulary.txt.
        sequence_length: tokens per example the fine-tuning feeds; at most
            the pretrained position embeddings.

    Raises:
        KerarchError: naming what differs: no such path; not in a run
            folder; a run of another recipe; an unfinished run (no
            summary.json); no vocabulary.txt or encoder.keras; a vocabulary
            whose size is not the model's; `sequence_length` beyond the
            pretrained positions; a model that is no BERT.
    """
    path = Path(os.path.expanduser(os.fspath(path)))
    if not path.exists():
        raise KerarchError(f"pretrained={path}: no such run folder or model file (nor a keras-hub preset name).")
    run_dir = run_folder_of(path)
    if run_dir is None:
        raise KerarchError(f"pretrained={path} is not a kerarch run folder, nor a model file inside one (no "
                           "config.json): the vocabulary comes from the run. Give a bert-pretrain-mlm run folder.")
    recipe = read_json(run_dir / "config.json").get("recipe")
    if not _is_masked_language_model(recipe):
        raise KerarchError(f"pretrained={path} is a run of {recipe!r}, not of BERT pretraining (bert-pretrain-mlm); "
                           "give a bert-pretrain-mlm run folder.")
    if not (run_dir / "summary.json").is_file():
        raise KerarchError(f"pretrained={path}: the {recipe} run {run_dir} is unfinished (no summary.json); finish "
                           "it (run its command again) or give a finished run.")
    model_file = path if path.is_file() else run_dir / ENCODER_FILE
    for needed in (run_dir / VOCABULARY_FILE, model_file):
        if not needed.is_file():
            raise KerarchError(f"pretrained={path}: the {recipe} run {run_dir} has no {needed.name} (runs of older "
                               f"kerarch versions did not record it); pretrain again.")
    encoder, vocabulary = load_model_file(model_file), read_vocabulary(run_dir / VOCABULARY_FILE)
    sizes = bert_model_architecture(encoder)
    if len(vocabulary) != sizes["vocabulary_size"]:
        raise KerarchError(f"pretrained={path}: {VOCABULARY_FILE} holds {len(vocabulary):,} tokens, but "
                           f"{model_file.name} embeds {sizes['vocabulary_size']:,}.")
    if sequence_length > sizes["max_sequence_length"]:
        raise KerarchError(f"sequence_length={sequence_length} is longer than the {sizes['max_sequence_length']} "
                           f"positions the {recipe} run {run_dir} pretrained; use sequence_length<="
                           f"{sizes['max_sequence_length']}, or pretrain with a longer sequence_length.")
    return PretrainedBert(encoder, vocabulary, f"the {recipe} run {run_dir} ({model_file.name}, {VOCABULARY_FILE})")


def run_folder_of(path):
    """The kerarch run folder `path` is or lies in (a model file may lie deeper: checkpoints/best.keras); else None."""
    path = Path(path)
    folders = [path] if path.is_dir() else path.parents
    return next((folder for folder in folders if (folder / "config.json").is_file()), None)


def _is_masked_language_model(recipe):
    if not isinstance(recipe, str):
        return False
    try:
        return issubclass(get_recipe(recipe), MaskedLanguageModel)
    except KerarchError:  # a recipe this installation does not know
        return False
