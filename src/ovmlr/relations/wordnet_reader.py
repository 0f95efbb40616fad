"""NLTK's WordNet reader over the dict files of the Debian package ``wordnet-base``.

NLTK's :class:`~nltk.corpus.reader.wordnet.WordNetCorpusReader` reads the WordNet 3.0 database files
(``wndb(5WN)``) that Debian installs in ``/usr/share/wordnet``, with two gaps of that package bridged by
:class:`DebianWordNetReader`: Debian ships no ``lexnames`` (the fixed table of the 45 lexicographer files of
``lexnames(5WN)``, served from :data:`LEXNAMES`), and NLTK maps any WordNet other than its own download onto
that download for its multilingual functions (unused here: the mapping is skipped). NLTK reads only below
the directories of ``nltk.data.path`` (its sandbox); :func:`open_wordnet` adds the root there.

Importing NLTK takes about 2 s: :mod:`.wordnet` imports this module only when the ``wordnet`` source runs.
"""

from __future__ import annotations

import functools
import io
import warnings
from pathlib import Path

import nltk.data
from nltk.corpus.reader.wordnet import WordNetCorpusReader

DEBIAN_PACKAGE = "wordnet-base"
# The files NLTK's reader opens when it loads (WordNet 3.0 database files, wndb(5WN)).
REQUIRED_FILES = tuple(
    name for pos in ("noun", "verb", "adj", "adv") for name in (f"index.{pos}", f"data.{pos}", f"{pos}.exc")
)
# lexnames(5WN): the lexicographer files, numbered 00-44; unchanged since WordNet 1.6.
LEXNAMES = (
    *("adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact"),
    *("noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling"),
    *("noun.food", "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person"),
    *("noun.phenomenon", "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation"),
    *("noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change"),
    *("verb.cognition", "verb.communication", "verb.competition", "verb.consumption", "verb.contact"),
    *("verb.creation", "verb.emotion", "verb.motion", "verb.perception", "verb.possession", "verb.social"),
    *("verb.stative", "verb.weather", "adj.ppl"),
)
_SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


class DebianWordNetReader(WordNetCorpusReader):
    """NLTK's WordNet reader for a dict directory without ``lexnames`` (Debian's ``wordnet-base``)."""

    def open(self, file: str):
        """The file's stream; ``lexnames`` from :data:`LEXNAMES` when the directory has none."""
        if file == "lexnames" and not (Path(self.root.path) / file).is_file():
            lines = (
                f"{i:02d}\t{name}\t{_SYNTACTIC_CATEGORY[name.split('.')[0]]}\n"
                for i, name in enumerate(LEXNAMES)
            )
            return io.StringIO("".join(lines))
        return super().open(file)

    def map_wn(self, version: str = "wordnet") -> None:
        """No mapping onto NLTK's downloaded WordNet (only its multilingual functions use one)."""
        return None


@functools.cache
def open_wordnet(root: str) -> WordNetCorpusReader:
    """The WordNet of the dict directory ``root``, loaded once per process.

    Raises:
        FileNotFoundError: When ``root`` lacks a database file, naming it and the Debian package.
    """
    path = Path(root).expanduser().resolve()
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"relation_mining.wordnet.root: no WordNet 3.0 database at {root!r} (missing {missing[:3]}); "
            f"install the Debian package {DEBIAN_PACKAGE} (apt-get install {DEBIAN_PACKAGE}) or point "
            "relation_mining.wordnet.root at a WordNet dict directory"
        )
    if str(path) not in nltk.data.path:
        nltk.data.path.append(str(path))  # NLTK's sandbox: authorise the directory
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The multilingual functions are not available")
        return DebianWordNetReader(str(path), None)
