"""bert-pretrain-mlm: BERT pretraining (Devlin et al. 2019): masked language model and next-sentence prediction.

Corpus: `data_dir=` (text files give one document per paragraph, Python files
one per docstring), by default the docstrings of the Python standard library;
or, with `dataset=imdb_reviews`, IMDB's training reviews (one document each;
aclImdb's unlabelled train/unsup ones too, never the test reviews) for
in-domain pretraining before bert-finetune-imdb. Documents, not pairs, are
split into training, validation and test sets; the WordPiece vocabulary is
learned from the training documents.
Pairs and masks as in the paper, section 3.1 (kerarch.data.corpus), the masks
drawn afresh for every training batch (dynamic masking, as RoBERTa; the paper
masked each sequence 10 fixed ways); next_sentence=false trains the masked LM
alone (RoBERTa, Liu et al. 2019); AdamW with the rate decayed linearly to 0. The
report sets test MLM and NSP accuracy beside the most frequent token and the
majority label; results in README.md. The run folder keeps vocabulary.txt
and encoder.keras: `pretrained=<run folder>` of the bert-finetune-* recipes
fine-tunes from them.
"""

import dataclasses

from kerarch.config import OPTIMIZERS, SCHEDULES, option
from kerarch.frame import register_recipe
from kerarch.frame.language_model import MaskedLanguageModel, MaskedLanguageModelConfig
from kerarch.sequence.bert import BERT_CONFIGS, bert_pretraining


@dataclasses.dataclass
class BertPretrainMlmConfig(MaskedLanguageModelConfig):
    epochs: int = option(10, "Passes over the training pairs.", minimum=1)
    batch_size: int = option(32, "Global batch size, split across replicas.", minimum=1)
    max_chars: int = option(3_000_000, "Stop reading once the documents hold this many characters.", minimum=1)
    config: str = option("tiny", "BERT size (Turc et al. 2019 tiny to medium, Devlin et al. base, large).",
                         choices=tuple(BERT_CONFIGS))
    learning_rate: float = option(5e-4, "Peak AdamW learning rate, decayed linearly to 0.", minimum=0.0)
    weight_decay: float = option(0.01, "Decoupled weight decay (paper: 0.01).", minimum=0.0)
    optimizer: str = option("adamw", "Optimizer (paper: Adam with decoupled weight decay).", choices=OPTIMIZERS)
    schedule: str = option("linear", "Learning-rate schedule (paper: linear decay to 0 after a warmup).",
                           choices=SCHEDULES)
    dropout: float = option(0.1, "Dropout of embeddings, attention and residuals (paper: 0.1).", minimum=0.0)


@register_recipe("bert-pretrain-mlm")
class BertPretrainMlm(MaskedLanguageModel):
    """BERT pretraining (masked LM + next sentence) on a text corpus; accuracies vs unigram and chance."""

    Config = BertPretrainMlmConfig
    xla_on_cpu = True  # 0.86x the CPU time of a step without XLA (benchmarks/recipe_defaults.py)

    def build_model(self, data):
        cfg = self.config
        model = bert_pretraining(config=cfg.config, vocabulary_size=data.tokenizer.vocabulary_size(),
                                 max_sequence_length=cfg.sequence_length, dropout=cfg.dropout)
        return self.compile(model, data)
