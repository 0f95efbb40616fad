"""A local web page that tags your images with your labels and shows why (``make app``, docs/app.md).

:mod:`.tagging` answers the page's requests with :mod:`ovmlr.trained.explain` (scores, ISR's patches, IST's
neighbours) within the server's :class:`~ovmlr.trained.limits.ServingLimits`; :mod:`.server` is the Starlette
application and its static page; ``python -m ovmlr.app`` loads a registered model and serves it on 127.0.0.1.
"""

from .server import create_app, serve
from .tagging import BadRequest, Tagger

__all__ = ["BadRequest", "Tagger", "create_app", "serve"]
