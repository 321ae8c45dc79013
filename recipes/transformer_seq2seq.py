"""transformer-seq2seq: the encoder-decoder Transformer (Vaswani et al. 2017) translating dates to ISO 8601.

Dates 1950-2049 written in varied human formats ("23 November 2026", "nov 23,
26", "23.11.2026", ...; kerarch.data.dates, generated offline) are translated
character by character to "2026-11-23"; no held-out date appears in training
in any format. Reported: exact match of greedy and beam-search translations
against two source-blind baselines; results in README.md.
"""

import dataclasses

from kerarch.config import option
from kerarch.data.dates import SOURCE_LENGTH, TARGET_LENGTH, load_date_pairs, teacher_forcing
from kerarch.export.adapters import packed_encoder_decoder
from kerarch.frame import register_recipe
from kerarch.frame.language_model import check_heads
from kerarch.frame.sequence_to_sequence import Translation, TranslationConfig
from kerarch.sequence.transformer import transformer


@dataclasses.dataclass
class TransformerSeq2seqConfig(TranslationConfig):
    epochs: int = option(6, "Passes over the training pairs.", minimum=1)
    batch_size: int = option(128, "Global batch size, split across replicas.", minimum=1)
    dataset: str = option("dates", "The generated task: human-written dates -> ISO 8601.", choices=("dates",))
    train_examples: int = option(20000, "Training pairs (one random format per date).", minimum=1)
    validation_examples: int = option(1000, "Validation pairs, on dates of their own.", minimum=1)
    test_examples: int = option(1000, "Held-out test pairs, on dates never seen in training.", minimum=1)
    num_layers: int = option(2, "Encoder layers and as many decoder layers.", minimum=1)
    num_heads: int = option(4, "Attention heads; must divide hidden_dim.", minimum=1)
    hidden_dim: int = option(64, "d_model.", minimum=1)
    intermediate_dim: int = option(128, "d_ff, the feed-forward width.", minimum=1)
    dropout: float = option(0.1, "Dropout of embeddings, attention and residuals.", minimum=0.0)
    learning_rate: float = option(2e-3, "Learning rate.", minimum=0.0)


@register_recipe("transformer-seq2seq")
class TransformerSeq2seq(Translation):
    """Encoder-decoder Transformer translating human-written dates to ISO 8601, scored by exact match."""

    Config = TransformerSeq2seqConfig
    model_pairs = staticmethod(teacher_forcing)

    def load_data(self):
        cfg = self.config
        return load_date_pairs(seed=cfg.seed, train_examples=cfg.train_examples,
                               validation_examples=cfg.validation_examples, test_examples=cfg.test_examples)

    def build_model(self, data):
        cfg = self.config
        check_heads(cfg.hidden_dim, cfg.num_heads)
        model = transformer(
            vocabulary_size=data.source_vocab.size, target_vocabulary_size=data.target_vocab.size,
            num_layers=cfg.num_layers, num_heads=cfg.num_heads, hidden_dim=cfg.hidden_dim,
            intermediate_dim=cfg.intermediate_dim, dropout=cfg.dropout,
        )
        return self.compile(model, data)

    def model_to_export(self, model):
        return packed_encoder_decoder(model, SOURCE_LENGTH, TARGET_LENGTH + 1)
