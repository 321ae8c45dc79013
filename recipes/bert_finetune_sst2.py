"""bert-finetune-sst2: BERT (Devlin et al. 2019) fine-tuned on GLUE SST-2 sentiment.

GLUE SST-2 (Socher et al. 2013; the dev set is the held-out set) from TFDS
glue/sst2 or `data_dir=` (the unzipped SST-2 folder). `bert_classifier`
starts from `pretrained=`: a finished bert-pretrain-mlm run (its encoder
weights and WordPiece vocabulary), or a keras-hub preset; when the preset
cannot be loaded (offline), a notice says so and the `scratch_config` BERT
trains from random initialisation on a WordPiece vocabulary learned from
the training sentences (kerarch.frame.text_classification.BertTextClassification).
AdamW decayed linearly to 0, as in the paper; the report compares dev
accuracy with the majority class. The export takes float32 token ids.
"""

import dataclasses
import typing

from kerarch.config import option
from kerarch.frame import register_recipe
from kerarch.frame.text_classification import BertFinetuneConfig, BertTextClassification


@dataclasses.dataclass
class BertFinetuneSst2Config(BertFinetuneConfig):
    dataset: str = option("sst2", "GLUE SST-2 (binary sentiment of movie-review sentences).", choices=("sst2",))
    data_dir: typing.Optional[str] = option(None, "The unzipped GLUE SST-2 folder (train.tsv and dev.tsv, header "
                                            "sentence<TAB>label); default: TFDS glue/sst2.")
    learning_rate: typing.Optional[float] = option(None, "Peak AdamW learning rate; none: 5e-5 with pretrained "
                                                   "weights (the paper's grid: 2e-5 to 5e-5), 3e-4 from scratch.",
                                                   minimum=0.0)


@register_recipe("bert-finetune-sst2")
class BertFinetuneSst2(BertTextClassification):
    """BERT fine-tuned on SST-2 from a pretraining run or preset (else from scratch); dev accuracy vs majority class."""

    Config = BertFinetuneSst2Config
