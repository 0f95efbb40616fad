"""The shared relation fixtures (tests/support/relation_fixtures.py)."""

from relation_fixtures import *  # noqa: F403
