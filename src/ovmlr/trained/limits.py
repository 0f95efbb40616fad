"""What a client may send to a model, and which files a request may name: one rule for every front end.

Every place that takes images or label names from outside the machine goes through this module: the served
MLflow model (:mod:`ovmlr.trained.pyfunc`, behind ``mlflow models serve`` or in-process), the ``predict``
pipeline (the pixel limit only: its user names the folder it reads) and any web front end written later.
A front end builds one :class:`ServingLimits` when it starts, from the machine's configuration
(:meth:`ServingLimits.from_env`), never from a request, and calls its ``check_*`` methods before it decodes or
scores anything::

    limits = ServingLimits.from_env()          # once, at start-up
    limits.check_request(rows=len(frame), request_bytes=size, labels=names)
    path = limits.resolve_path(row["path"])    # PathRefused unless under OVMLR_SERVE_PATH_ROOT
    image = open_image(path, max_pixels=limits.max_image_pixels)

Each limit is a field, set by the environment variable ``OVMLR_<FIELD>`` (upper case) of the serving machine:

=========================  =================  ==========================================================
field                      default            what it bounds
=========================  =================  ==========================================================
``max_rows``               64                 images per request
``max_labels``             256                label names per request (new names cost the text tower)
``max_label_chars``        100                characters per label name
``max_image_pixels``       50,000,000         decoded pixels per image, checked from the header before
                                              decoding (decompression bombs)
``max_request_bytes``      64 MiB             the request's data: image cells, path cells and label
                                              names (the body size, less the JSON around them)
``label_cache_entries``    32                 label lists kept prepared between requests
``label_cache_bytes``      64 MiB             bytes of those prepared label lists
``serve_path_root``        unset: ``path``    the one folder whose files a ``path`` cell may name
                           input is off
=========================  =================  ==========================================================

A request over a limit fails with :class:`LimitExceeded` (the served model answers HTTP 400), whose message
names the limit. A ``path`` outside the root (``..``, an absolute path elsewhere, a symlink that leads out)
fails with :class:`PathRefused` and one message, the same whether the file exists or not.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "OVMLR_"
MIB = 1 << 20
PATH_REFUSED = "refused: the server reads no file outside the folder its operator allows"
PATH_INPUT_OFF = (
    "the server reads no file a request names (path input is off): send the image's bytes, base64-encoded, "
    f"in column 'image' (the server's operator can allow one folder with {ENV_PREFIX}SERVE_PATH_ROOT)"
)


class LimitExceeded(ValueError):
    """A request over one of the :class:`ServingLimits` (the message names the limit)."""


class PathRefused(ValueError):
    """A ``path`` the server may not read (the message does not say whether the file exists)."""


def env_name(field: str) -> str:
    """The environment variable of a :class:`ServingLimits` field: ``max_rows`` -> ``OVMLR_MAX_ROWS``."""
    return f"{ENV_PREFIX}{field.upper()}"


def check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    """Refuse an image whose header claims more than ``max_pixels`` pixels (``None``: no limit).

    Raises:
        LimitExceeded: Naming the size and the limit ``max_image_pixels``.
    """
    if max_pixels is not None and width * height > max_pixels:
        raise LimitExceeded(
            f"{width} x {height} = {width * height:,} pixels: more than the limit of {max_pixels:,} decoded "
            "pixels per image (max_image_pixels)"
        )


@dataclass(frozen=True)
class ServingLimits:
    """The limits of one server (or pipeline): see the module docstring for each field's meaning.

    Raises:
        ValueError: A limit that is not a positive integer.
    """

    max_rows: int = 64
    max_labels: int = 256
    max_label_chars: int = 100
    max_image_pixels: int = 50_000_000
    max_request_bytes: int = 64 * MIB
    label_cache_entries: int = 32
    label_cache_bytes: int = 64 * MIB
    serve_path_root: Path | None = None

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name != "serve_path_root" and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(
                    f"{field.name} ({env_name(field.name)}) must be a positive integer, got {value!r}"
                )
        if self.serve_path_root is not None:
            object.__setattr__(self, "serve_path_root", Path(self.serve_path_root).resolve())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServingLimits:
        """The limits set by ``OVMLR_*`` variables of ``environ`` (default: this process's environment).

        Raises:
            ValueError: Naming the variable whose value is not a positive integer, or a path root that is not
                a folder.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(env_name(field.name), "").strip()
            if not raw:
                continue
            if field.name == "serve_path_root":
                if not Path(raw).is_dir():
                    raise ValueError(f"{env_name(field.name)}={raw!r} is not a folder")
                values[field.name] = Path(raw)
                continue
            try:
                values[field.name] = int(raw)
            except ValueError as exc:
                raise ValueError(f"{env_name(field.name)}={raw!r} is not an integer") from exc
        return cls(**values)

    def check_request(self, rows: int, request_bytes: int, labels: Sequence[object] | None) -> None:
        """Refuse a request over the row, size or label limits (before anything is decoded).

        Args:
            rows: Images in the request.
            request_bytes: Characters of its image and path cells and label names.
            labels: The label names asked for (``None`` or empty: the model's own vocabulary).

        Raises:
            LimitExceeded: Naming the first limit exceeded.
        """
        if rows > self.max_rows:
            raise LimitExceeded(f"the request has {rows} images: the limit is {self.max_rows} (max_rows)")
        if request_bytes > self.max_request_bytes:
            raise LimitExceeded(
                f"the request carries {request_bytes:,} bytes of images, paths and labels: the limit is "
                f"{self.max_request_bytes:,} (max_request_bytes)"
            )
        self.check_labels(labels or [])

    def check_labels(self, labels: Sequence[object]) -> None:
        """Refuse more than ``max_labels`` names, or a name longer than ``max_label_chars``.

        Raises:
            LimitExceeded: Naming the limit (and the offending label's index).
        """
        if len(labels) > self.max_labels:
            raise LimitExceeded(
                f"the request asks for {len(labels)} labels: the limit is {self.max_labels} (max_labels)"
            )
        for i, label in enumerate(labels):
            if isinstance(label, str) and len(label) > self.max_label_chars:
                raise LimitExceeded(
                    f"labels[{i}] has {len(label)} characters: the limit is {self.max_label_chars} "
                    "(max_label_chars)"
                )

    def resolve_path(self, path: str) -> Path:
        """The file a request's ``path`` names, resolved (``..`` and symlinks followed) under the root.

        A relative path is taken from the root. The answer is the same for a file outside the root that
        exists and one that does not: the refusal tells a client nothing about the machine's files.

        Raises:
            PathRefused: Path input off (no ``serve_path_root``), or the path leads outside the root.
        """
        root = self.serve_path_root
        if root is None:
            raise PathRefused(PATH_INPUT_OFF)
        try:
            resolved = (root / path).resolve()  # an absolute `path` replaces the root in the join
        except (OSError, ValueError, RuntimeError) as exc:  # a NUL byte, a symlink loop
            raise PathRefused(PATH_REFUSED) from exc
        if not resolved.is_relative_to(root):
            raise PathRefused(PATH_REFUSED)
        return resolved
