"""ovmlr: open-vocabulary multi-label image recognition (C²SRT) as Kedro pipelines."""

__version__ = "0.1.0"
