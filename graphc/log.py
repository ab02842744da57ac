"""graphc's logs: `GRAPHC_LOG=compile` (or `gc.set_log("compile")`) prints one line per
compile — what, why, how long each stage took, and whether the disk cache served it."""
from __future__ import annotations

import os
import sys

_ENABLED: set[str] = {t.strip() for t in os.environ.get("GRAPHC_LOG", "").split(",")
                      if t.strip()}


def set_log(*topics: str) -> None:
    """Turn logging on for these topics ("compile"); no topics turns it off."""
    _ENABLED.clear()
    _ENABLED.update(topics)


def enabled(topic: str) -> bool:
    return topic in _ENABLED or "all" in _ENABLED


def log(topic: str, message: str) -> None:
    if enabled(topic):
        print(f"graphc[{topic}] {message}", file=sys.stderr, flush=True)
