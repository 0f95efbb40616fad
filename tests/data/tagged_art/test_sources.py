import pytest

from ovmlr.data.tagged_art.sources import merge_annotations, parse_cldr_annotations, parse_svg_metadata

SVG = """<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">
  <metadata>
    <rdf:RDF xmlns:cc="http://web.resource.org/cc/" xmlns:dc="http://purl.org/dc/elements/1.1/"
             xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
      <cc:Work rdf:about="">
        <dc:title>Red   apple</dc:title>
        <dc:subject><rdf:Bag>
          <rdf:li>fruit</rdf:li><rdf:li> Food </rdf:li><rdf:li></rdf:li>
        </rdf:Bag></dc:subject>
        <dc:creator><cc:Agent><dc:title>Jane Doe</dc:title></cc:Agent></dc:creator>
        <cc:license rdf:resource="http://web.resource.org/cc/PublicDomain"/>
      </cc:Work>
    </rdf:RDF>
  </metadata>
  <rect width="10" height="10" fill="red"/>
</svg>"""

CLDR = """<ldml><annotations>
  <annotation cp="🍎">apple | fruit | red</annotation>
  <annotation cp="🍎" type="tts">red apple</annotation>
  <annotation cp="👍🏽">thumbs up | medium skin tone</annotation>
  <annotation cp="🐈">cat</annotation>
</annotations></ldml>"""


def test_svg_metadata_reads_title_tags_creator_and_licence():
    meta = parse_svg_metadata(SVG, "apple.svg")
    assert meta.title == "Red apple"
    assert meta.tags == ("fruit", "Food")
    assert meta.creator == "Jane Doe"
    assert meta.licence == "http://web.resource.org/cc/PublicDomain"


def test_svg_without_metadata_or_malformed_is_an_error_naming_the_file():
    with pytest.raises(ValueError, match=r"plain.svg: no RDF metadata"):
        parse_svg_metadata('<svg xmlns="http://www.w3.org/2000/svg"/>', "plain.svg")
    with pytest.raises(ValueError, match=r"broken.svg: not well-formed XML"):
        parse_svg_metadata("<svg><metadata>", "broken.svg")


def test_cldr_keywords_names_and_skin_tones_left_out():
    annotations = parse_cldr_annotations(CLDR, "en.xml")
    assert set(annotations) == {"🍎", "🐈"}
    assert annotations["🍎"].keywords == ("apple", "fruit", "red")
    assert annotations["🍎"].name == "red apple"
    assert annotations["🐈"].name == "cat"  # no tts entry: the first keyword


def test_malformed_cldr_file_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"en.xml: not well-formed XML"):
        parse_cldr_annotations("<ldml><annotations>", "en.xml")
    with pytest.raises(ValueError, match=r"en.xml: no <annotation> element"):
        parse_cldr_annotations("<ldml/>", "en.xml")


def test_annotation_files_merge_keywords_and_keep_the_first_name():
    first = parse_cldr_annotations(CLDR, "a.xml")
    second = parse_cldr_annotations(
        '<ldml><annotations><annotation cp="🍎">apple | orchard</annotation>'
        '<annotation cp="🍎" type="tts">apple</annotation></annotations></ldml>',
        "b.xml",
    )
    merged = merge_annotations(first, second)
    assert merged["🍎"].keywords == ("apple", "fruit", "red", "orchard")
    assert merged["🍎"].name == "red apple"
