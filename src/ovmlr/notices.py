"""Notices from the libraries ovmlr runs on that a run would print every time and a user cannot act on."""

from __future__ import annotations

import warnings

# (message regex, category): open_clip's torch.jit.script; kedro's and kedro-mlflow's register_new_resolver;
# MLflow's advice on type hints and input examples for a pyfunc (ovmlr gives its signature explicitly:
# ovmlr.trained.pyfunc.model_signature).
LIBRARY_NOTICES: tuple[tuple[str, type[Warning]], ...] = (
    (r"`torch\.jit\.script` is deprecated", FutureWarning),
    (r"register_new_resolver\(\) is deprecated", UserWarning),
    (r".*Add type hints to the `predict` method", UserWarning),
    (r".*An input example was not provided when logging the model", UserWarning),
)


def silence_library_notices() -> None:
    """Ignore exactly the notices of ``LIBRARY_NOTICES``; every other warning still shows."""
    for message, category in LIBRARY_NOTICES:
        warnings.filterwarnings("ignore", message=message, category=category)
