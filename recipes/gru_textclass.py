"""gru-textclass: a GRU (Cho et al. 2014) topic classifier: AG News online, Debian package descriptions offline.

Data (`dataset=auto`, kerarch.data.textclass.load_topics): AG News (Zhang et
al. 2015; 4 news topics) when TFDS has it, else the Description synopses of
Debian packages labelled by archive section (`apt-cache dumpavail`, else
/var/lib/dpkg/status), test packages chosen by a hash of their name; or
`data_dir=` a TSV folder. The report compares test accuracy with the majority
class and TF-IDF + logistic regression; measured numbers: README, "Recipes".
"""

import dataclasses
import typing

from kerarch.config import option
from kerarch.data.textclass import load_topics
from kerarch.frame import register_recipe
from kerarch.frame.text_classification import RecurrentOptions, RecurrentTextClassification, TextClassificationConfig
from kerarch.sequence.recurrent import gru


@dataclasses.dataclass
class GruTextclassConfig(RecurrentOptions, TextClassificationConfig):
    epochs: int = option(4, "Passes over the training data.", minimum=1)
    dataset: str = option(
        "auto", "auto: AG News from TFDS when prepared or downloadable, else Debian package descriptions "
        "(with a notice in the report); ag_news; debian_packages.", choices=("auto", "ag_news", "debian_packages"),
    )
    data_dir: typing.Optional[str] = option(
        None, "A TSV folder (train.tsv and test.tsv, header sentence<TAB>label, labels class ids or names); "
        "replaces dataset.",
    )
    num_classes: int = option(20, "Debian: keep this many of the largest archive sections.", minimum=2)
    min_examples: int = option(200, "Debian: drop sections with fewer packages than this.", minimum=1)
    vocabulary_size: int = option(8000, "Largest WordPiece vocabulary learned from the training texts.", minimum=6)
    sequence_length: int = option(32, "Tokens per text (Debian synopses: 99 % fit in 21; AG News is cut).",
                                  minimum=1)
    embedding_dim: int = option(64, "Width of the token embedding.", minimum=1)
    dropout: float = option(0.3, "Dropout after each GRU layer.", minimum=0.0)


@register_recipe("gru-textclass")
class GruTextclass(RecurrentTextClassification):
    """Bidirectional GRU topic classifier; accuracy vs the majority class and TF-IDF logistic regression."""

    Config = GruTextclassConfig
    xla_on_cpu = True  # 0.69x the CPU time of a step without XLA (benchmarks/recipe_defaults.py)
    builder = staticmethod(gru)

    def load_texts(self):
        cfg = self.config
        return load_topics(cfg.dataset, cfg.data_dir, num_classes=cfg.num_classes, min_examples=cfg.min_examples)
