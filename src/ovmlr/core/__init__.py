"""Shared types and helpers, below every package that uses them: the vocabulary and its prompt names,
feature splits and cache chunks, the scoring loop, the C²SRT model factory, device resolution, and the
parameter checks. ``core`` imports only ``models``; ``tests/test_layers.py`` keeps it so.

Shape letters: B images, C categories, P patches, D feature width, K neighbours.
"""
