"""Your own images and tags (``kedro run --env custom``): a folder of images plus a tag file.

Tag files (``readers``): CSV (``path,tags``, tags joined by a separator), JSON Lines (``{"path": ..., "tags":
[...]}``) or COCO instances JSON (``images``, ``categories``, ``annotations``: the export format of common
labelling tools). Optional split files (one image path per line) and an optional unseen-category file
(``release``). The tag vocabulary filter (``vocabulary``) normalises tags, drops stop tags and rare tags, and
reports every dropped tag; the builder (``builder``) then cuts a seeded split (or follows the split files)
and produces the same tables as every other dataset (``ovmlr.data.tables``).
"""
