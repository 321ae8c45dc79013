"""Sequence builders: recurrent networks, the Transformer, BERT, DistilBERT and GPT.

Importing the package registers the builders `simple_rnn`, `lstm`, `gru`,
`transformer`, `bert`, `bert_pretraining`, `bert_classifier`, `distilbert`
and `gpt` (build them with `kerarch.build(name, ...)`), and exposes the
decoding functions `generate`, `greedy_decode`, `beam_search` and
`sequence_log_probs`. The modules keep the builder functions
(`kerarch.sequence.gpt.gpt`); the package does not re-export them, since
`bert`, `gpt` and `transformer` would shadow their modules.
"""

from kerarch.sequence import attention, bert, generation, gpt, recurrent, transformer  # noqa: F401
from kerarch.sequence.generation import beam_search, generate, greedy_decode, sequence_log_probs  # noqa: F401
