"""The web application: one static page and a small JSON API over a :class:`~ovmlr.app.tagging.Tagger`.

Routes:

- ``GET /``: the page (``static/index.html`` and ``static/app.js``: plain HTML, canvas and ``fetch``);
- ``GET /api/model``: the model, its vocabulary, whether it has calibrated thresholds, the limits;
- ``POST /api/tag``: ``{"images": [{"name", "data"}], "labels": [...], "top_k": k}`` → tags and explanations;
  a bad request is HTTP 400 ``{"error": message}``, the message the page shows.

Starlette (the ASGI toolkit under FastAPI, already installed with MLflow) and uvicorn serve it; the model work
runs in a worker thread, one request at a time.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ovmlr.trained.limits import ServingLimits
from ovmlr.trained.model import TrainedC2SRT

from .tagging import BadRequest, Tagger

logger = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
HOST = "127.0.0.1"  # the page is served to this machine only


def create_app(trained: TrainedC2SRT, limits: ServingLimits | None = None) -> Starlette:
    """The ASGI application of the page over ``trained`` (limits default: the ``OVMLR_*`` environment)."""
    limits = limits if limits is not None else ServingLimits.from_env()
    tagger = Tagger(trained, limits)

    async def page(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html")

    async def model(request: Request) -> JSONResponse:
        return JSONResponse(tagger.describe())

    async def tag(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > limits.max_request_bytes * 2:  # base64 and JSON around the data the limit counts
            message = (
                f"the request has {len(body):,} bytes: more than twice the limit of "
                f"{limits.max_request_bytes:,} (max_request_bytes)"
            )
            return JSONResponse({"error": message}, status_code=413)
        try:
            payload = json.loads(body or b"null")
            if not isinstance(payload, dict):
                raise BadRequest("the request must be a JSON object {images, labels}")
            return JSONResponse(await run_in_threadpool(tagger.tag, payload))
        except json.JSONDecodeError as exc:
            return JSONResponse({"error": f"the request is not JSON ({exc})"}, status_code=400)
        except BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    routes = [
        Route("/", page),
        Route("/api/model", model),
        Route("/api/tag", tag, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes)


def serve(trained: TrainedC2SRT, port: int, limits: ServingLimits | None = None) -> None:
    """Serve the page on ``http://127.0.0.1:<port>`` until interrupted."""
    trained.head(), trained.image_encoder()  # built before the first request
    logger.info("ovmlr app: http://%s:%d  (%r)", HOST, port, trained)
    uvicorn.run(create_app(trained, limits), host=HOST, port=port, log_level="info")
