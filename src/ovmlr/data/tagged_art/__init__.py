"""Tagged art: the offline rich-vocabulary benchmark (clip-art and emoji with their human-assigned tags).

Two public sources installable from Debian's packages stand in for a Flickr-like photo collection with user
tags (NUS-WIDE):

* ``openclipart-svg``: 8,121 public-domain SVG clip-arts; each file's RDF metadata carries a title
  (``dc:title``), its author (``dc:creator``), its licence (``cc:license``) and a bag of free-form tags
  (``dc:subject``), noisy the way user tags are.
* ``fonts-noto-color-emoji`` + ``unicode-cldr-core``: the Noto colour emoji glyphs (SIL OFL 1.1) with the
  English CLDR keywords of each emoji (Unicode licence).

Modules: ``sources`` parses the metadata, ``render`` turns SVGs and glyphs into RGBA pixels, ``vocabulary``
filters the tags into categories, ``builder`` draws the item pools and renders the multi-label mosaics,
``style_shift`` names the renderings to test on and to train on (an option of the builder, off by default).
"""
