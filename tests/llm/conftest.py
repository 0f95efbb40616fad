"""Shared by the LLM tests: makes ``recorded_openai_server`` (the test HTTP server) importable."""

import sys
from pathlib import Path

# pytest runs with --import-mode=importlib, which puts no test folder on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
