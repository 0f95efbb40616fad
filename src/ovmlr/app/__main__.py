"""``python -m ovmlr.app``: serve the page over a registered model (``make app``).

The model: ``--model-uri`` or ``APP_MODEL_URI`` (any ``models:/<name>/<version>``, ``models:/<name>@alias``,
``runs:/…`` URI), else the champion of ``--model-name`` (the dataset's registered model). The port:
``--port`` or ``APP_PORT`` (default 8080). The tracking store: ``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import argparse
import logging
import os

from kedro.io import DatasetError

from ovmlr.datasets.mlflow_registry import MlflowRegisteredModelDataset

from .server import serve

DEFAULT_PORT = 8080


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ovmlr.app", description=__doc__.splitlines()[0])
    parser.add_argument("--model-name", required=True, help="registered model (its champion is served)")
    parser.add_argument(
        "--model-uri", default=os.environ.get("APP_MODEL_URI") or None, help="any models:/ URI instead"
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("APP_PORT") or DEFAULT_PORT))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        trained = MlflowRegisteredModelDataset(args.model_name, model_uri=args.model_uri).load()
    except DatasetError as exc:
        raise SystemExit(
            f"ovmlr app: no model to serve ({exc}). Train and register one with `make run`, or name one with "
            "APP_MODEL_URI=models:/<name>/<version>"
        ) from exc
    serve(trained, args.port)


if __name__ == "__main__":
    main()
