"""gpt-char: a small character-level GPT (Radford et al. 2018, 2019) on a text corpus.

The default corpus is the running Python's own standard library source (the
*.py files beside os.py, in sorted order): real text, on every machine,
deterministic; `data_dir=` takes a text file or a folder instead. The report
gives validation bits per character against unigram and bigram character
models, and samples (see kerarch.frame.language_model); results in README.md.
"""

import dataclasses
import typing

from kerarch.config import option
from kerarch.frame import register_recipe
from kerarch.frame.language_model import CausalLanguageModel, CausalLanguageModelConfig, check_heads
from kerarch.sequence.gpt import gpt


@dataclasses.dataclass
class GptCharConfig(CausalLanguageModelConfig):
    epochs: int = option(8, "Training epochs of steps_per_epoch batches each.", minimum=1)
    batch_size: int = option(16, "Global batch size, split across replicas.", minimum=1)
    steps_per_epoch: typing.Optional[int] = option(
        250, "Batches per epoch, drawn from the repeated, shuffled training chunks (none: one pass).", minimum=1
    )
    num_layers: int = option(2, "Transformer decoder layers.", minimum=1)
    num_heads: int = option(4, "Attention heads; must divide hidden_dim.", minimum=1)
    hidden_dim: int = option(128, "Model width.", minimum=1)
    intermediate_dim: int = option(512, "Feed-forward width.", minimum=1)
    dropout: float = option(0.0, "Dropout (0 keeps the fused attention kernel).", minimum=0.0)
    clipnorm: float = option(1.0, "Clip each gradient's norm to this (0: off).", minimum=0.0)


@register_recipe("gpt-char")
class GptChar(CausalLanguageModel):
    """Character-level GPT on a text corpus (default: Python's stdlib source) vs unigram and bigram baselines."""

    Config = GptCharConfig
    xla_on_cpu = True  # 0.68x the CPU time of a step without XLA (benchmarks/recipe_defaults.py)

    def load_data(self):
        check_heads(self.config.hidden_dim, self.config.num_heads)  # before the data is read
        return super().load_data()

    def build_model(self, data):
        cfg = self.config
        model = gpt(
            config="gpt2_small", vocabulary_size=data.vocab.size, num_layers=cfg.num_layers, num_heads=cfg.num_heads,
            hidden_dim=cfg.hidden_dim, intermediate_dim=cfg.intermediate_dim, max_sequence_length=cfg.block_size,
            dropout=cfg.dropout,
        )
        return self.compile(model, data)
