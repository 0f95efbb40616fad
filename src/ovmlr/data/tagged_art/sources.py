"""Metadata of the tagged-art sources: SVG RDF bags (Openclipart) and CLDR emoji annotations.

Both parsers take the file's text and return plain values, so they are tested on small strings; the Kedro
dataset ``ovmlr.datasets.TaggedArtDataset`` reads the files.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

NAMESPACES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "cc": "http://web.resource.org/cc/",
}
RDF_RESOURCE = f"{{{NAMESPACES['rdf']}}}resource"
# Fitzpatrick skin-tone modifiers: an emoji with one is the same drawing in another skin colour.
SKIN_TONES = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))


@dataclass(frozen=True)
class ArtMetadata:
    """What an SVG's RDF metadata says about the drawing."""

    title: str  # dc:title of the cc:Work ("" when absent)
    tags: tuple[str, ...]  # dc:subject bag items, as written (stripped, empty ones dropped)
    creator: str  # dc:creator's agent title ("" when absent)
    licence: str  # cc:license's rdf:resource URL ("" when absent)


def parse_svg_metadata(text: str | bytes, source: str) -> ArtMetadata:
    """The ``cc:Work`` metadata of an SVG document.

    Args:
        text: The SVG file's content.
        source: The file's name, for errors.

    Raises:
        ValueError: The document is not well-formed XML, or has no ``cc:Work`` (no RDF metadata);
            the message names ``source``.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"{source}: not well-formed XML ({exc})") from exc
    work = root.find(".//cc:Work", NAMESPACES)
    if work is None:
        raise ValueError(f"{source}: no RDF metadata (cc:Work)")
    tags = tuple(
        li.text.strip()
        for li in work.findall("dc:subject/rdf:Bag/rdf:li", NAMESPACES)
        if li.text and li.text.strip()
    )
    licence = work.find("cc:license", NAMESPACES)
    return ArtMetadata(
        title=_text(work.find("dc:title", NAMESPACES)),
        tags=tags,
        creator=_text(work.find("dc:creator/cc:Agent/dc:title", NAMESPACES)),
        licence="" if licence is None else licence.get(RDF_RESOURCE, ""),
    )


def _text(element: ET.Element | None) -> str:
    return "" if element is None or element.text is None else " ".join(element.text.split())


@dataclass(frozen=True)
class EmojiAnnotation:
    """CLDR's English keywords and short name of one emoji (a code point sequence)."""

    sequence: str  # the emoji, as characters
    name: str  # the "tts" short name (e.g. "grinning face")
    keywords: tuple[str, ...]  # the "|"-separated keywords, in file order, without repeats


def parse_cldr_annotations(text: str | bytes, source: str) -> dict[str, EmojiAnnotation]:
    """Keywords and names of every annotated emoji of a CLDR ``annotations`` XML file.

    Sequences with a skin-tone modifier are left out (the same drawing in another colour), and so are
    entries without keywords.

    Raises:
        ValueError: Not well-formed XML, or no ``annotation`` element; the message names ``source``.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"{source}: not well-formed XML ({exc})") from exc
    names: dict[str, str] = {}
    keywords: dict[str, tuple[str, ...]] = {}
    elements = list(root.iter("annotation"))
    if not elements:
        raise ValueError(f"{source}: no <annotation> element (not a CLDR annotations file?)")
    for element in elements:
        sequence = element.get("cp", "")
        if not sequence or SKIN_TONES.intersection(sequence) or element.text is None:
            continue
        if element.get("type") == "tts":
            names[sequence] = " ".join(element.text.split())
        else:
            words = (" ".join(w.split()) for w in element.text.split("|"))
            keywords[sequence] = tuple(dict.fromkeys(w for w in words if w))
    return {
        seq: EmojiAnnotation(sequence=seq, name=names.get(seq, words[0]), keywords=words)
        for seq, words in keywords.items()
        if words
    }


def merge_annotations(*files: dict[str, EmojiAnnotation]) -> dict[str, EmojiAnnotation]:
    """Annotations of several files (``annotations`` then ``annotationsDerived``): the first file's name
    wins, keywords are united in order."""
    merged: dict[str, EmojiAnnotation] = {}
    for file_annotations in files:
        for seq, entry in file_annotations.items():
            if seq in merged:
                words = tuple(dict.fromkeys(merged[seq].keywords + entry.keywords))
                merged[seq] = EmojiAnnotation(seq, merged[seq].name, words)
            else:
                merged[seq] = entry
    return merged
