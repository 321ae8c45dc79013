"""Character-level text: corpora from files, vocabularies, chunks and n-gram baselines.

    corpus = load_text_corpus(max_chars=2_000_000)   # the Python standard library's own source
    vocab = CharVocabulary.from_text(corpus.text)
    ids = vocab.encode(corpus.text)                    # (T,) int32
    chunks = sequence_chunks(ids, 128)                 # (N, 129): inputs [:, :-1], targets [:, 1:]

A corpus is deterministic: files are read in sorted path order and the text
is cut at `max_chars`.
"""

import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

from kerarch.errors import KerarchError

TEXT_EXTENSIONS = (".txt", ".text", ".md", ".rst", ".py", ".c", ".h", ".js", ".html", ".csv", ".json", ".tex")
PAD, UNK, START, END = "[PAD]", "[UNK]", "[START]", "[END]"


@dataclasses.dataclass
class TextCorpus:
    """Text held in memory.

    Attributes:
        text: the characters, files joined by newlines, at most `max_chars`.
        files: the files read, in order (the last may be cut short).
        source: where the text came from, for people to read.
        notice: files skipped (not UTF-8), or None.
    """

    text: str
    files: list
    source: str
    notice: str | None = None


def stdlib_folder():
    """The folder of the running Python's standard library source (where os.py lives)."""
    return Path(os.__file__).parent


def load_text_corpus(data_dir=None, *, max_chars, extensions=TEXT_EXTENSIONS):
    """Reads a text file, or the text files of a folder, as one string.

    Args:
        data_dir: a text file (any name, UTF-8), or a folder searched
            recursively for files ending in `extensions`. None: the *.py
            files directly in the standard library folder (`stdlib_folder`).
        max_chars: keep at most this many characters.
        extensions: file endings read from a folder.

    Returns:
        A `TextCorpus`.

    Raises:
        KerarchError: data_dir missing, a folder without text files, or no
            readable text.
    """
    single_file = False
    if data_dir is None:
        folder = stdlib_folder()
        files = sorted(folder.glob("*.py"))
        where = f"the Python {sys.version.split()[0]} standard library source ({folder}, *.py)"
    else:
        path = Path(os.path.expanduser(os.fspath(data_dir)))
        if not path.exists():
            raise KerarchError(
                f"data_dir {path} does not exist; give a UTF-8 text file or a folder of text files "
                f"({', '.join(extensions)})."
            )
        single_file = path.is_file()
        found = (p for p in path.rglob("*") if p.suffix in extensions and p.is_file())
        files = [path] if single_file else sorted(found)
        if not files:
            raise KerarchError(f"data_dir {path} holds no text files (looked for {', '.join(extensions)}, "
                               "recursively).")
        where = f"data_dir {path}"
    text, used, skipped = _read_until(files, max_chars, strict=single_file)
    if not text:
        raise KerarchError(f"No text found in {where}: the files are empty or not UTF-8.")
    notice = f"Skipped {len(skipped)} file(s) that are not UTF-8 text: {', '.join(skipped[:5])}." if skipped else None
    source = f"{where}: {len(used)} file(s), {len(text):,} characters"
    return TextCorpus(text=text, files=used, source=source, notice=notice)


def _read_until(files, max_chars, *, strict):
    """(text of the files joined by newlines up to max_chars, files used, names skipped).

    A file that is not UTF-8 is skipped, or with `strict` an error.
    """
    parts, used, skipped, size = [], [], [], 0
    for path in files:
        if size >= max_chars:
            break
        try:
            content = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            if strict:
                raise KerarchError(f"{path} is not UTF-8 text.") from None
            skipped.append(path.name)
            continue
        except OSError as error:
            raise KerarchError(f"Cannot read {path}: {error}.") from None
        parts.append(content + "\n")
        used.append(str(path))
        size += len(content) + 1
    return "".join(parts)[:max_chars], used, skipped


class CharVocabulary:
    """Characters <-> integer ids; the special tokens take the first ids (id 0 is padding).

    Characters outside the vocabulary encode to `[UNK]` when it is one of
    the specials, and are an error otherwise. Decoding drops special tokens.
    """

    def __init__(self, chars, specials=(PAD, UNK)):
        chars = [c for c in dict.fromkeys(chars) if c not in specials]
        self.tokens = list(specials) + chars
        self.specials = tuple(specials)
        self._ids = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def from_text(cls, text, specials=(PAD, UNK)):
        """The vocabulary of every character in `text`, in code point order."""
        return cls(sorted(set(text)), specials)

    @property
    def size(self):
        return len(self.tokens)

    def id(self, token):
        """The id of a character or special token."""
        return self._ids[token]

    def encode(self, text):
        """(len(text),) int32 ids."""
        unknown = self._ids.get(UNK)
        ids = [self._ids.get(c, unknown) for c in text]
        if unknown is None and None in ids:
            missing = sorted({c for c in text if c not in self._ids})
            raise KerarchError(f"Characters {missing[:10]} are not in the vocabulary (and it has no {UNK}).")
        return np.array(ids, dtype="int32")

    def decode(self, ids):
        """The text of `ids`, special tokens dropped."""
        first = len(self.specials)
        return "".join(self.tokens[i] for i in np.asarray(ids).reshape(-1).tolist() if i >= first)


def decode_targets(ids, target_vocab):
    """Target strings of decoder outputs (N, 1 + T) that start with [START]: each cut at its first [END]."""
    end = target_vocab.id(END)
    strings = []
    for row in np.asarray(ids)[:, 1:]:
        hits = np.flatnonzero(row == end)
        strings.append(target_vocab.decode(row[: hits[0] if len(hits) else len(row)]))
    return strings


def sequence_chunks(ids, length):
    """Non-overlapping chunks for next-token training: (N, length + 1) int32.

    Chunk i covers ids[i * length : i * length + length + 1]; its first
    `length` ids are the inputs and its last `length` the targets, so
    consecutive chunks share one id and every id after the first is a
    target exactly once.
    """
    ids = np.asarray(ids, dtype="int32")
    count = (len(ids) - 1) // length
    if count < 1:
        raise KerarchError(f"The text has {len(ids)} characters; a chunk needs {length + 1}.")
    return np.lib.stride_tricks.sliding_window_view(ids, length + 1)[: count * length : length].copy()


def unigram_bits_per_char(train_ids, targets, vocabulary_size, *, alpha=1.0):
    """Cross-entropy in bits of `targets` under add-`alpha` smoothed training character frequencies."""
    counts = np.bincount(np.asarray(train_ids).reshape(-1), minlength=vocabulary_size) + alpha
    probs = counts / counts.sum()
    return float(-np.log2(probs[np.asarray(targets).reshape(-1)]).mean())


def bigram_bits_per_char(train_ids, previous, targets, vocabulary_size, *, alpha=1.0):
    """Cross-entropy in bits of each target given the character before it (`previous`).

    p(b | a) = (count(a b) + alpha) / (count(a) + alpha * V), counted over
    consecutive pairs of `train_ids` (add-one smoothing by default).
    """
    train_ids = np.asarray(train_ids, dtype="int64").reshape(-1)
    pairs = train_ids[:-1] * vocabulary_size + train_ids[1:]
    counts = np.bincount(pairs, minlength=vocabulary_size**2).reshape(vocabulary_size, vocabulary_size) + alpha
    probs = counts / counts.sum(axis=1, keepdims=True)  # (V, V), rows: previous character
    picked = probs[np.asarray(previous).reshape(-1), np.asarray(targets).reshape(-1)]
    return float(-np.log2(picked).mean())
