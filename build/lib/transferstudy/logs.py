"""Send a stage's progress and errors to one log file (the workflow gives each job its own)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def log_to(path, level=logging.INFO):
    """Route ``logging`` and stderr (tracebacks, warnings) to ``path``, line-buffered."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "w", buffering=1)
    sys.stderr = stream
    logging.basicConfig(stream=stream, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        force=True)
    logging.captureWarnings(True)
    return stream
