"""techmatch's matching library: catalogue, embeddings, indexes, ranking and explanations.

The public surface is :func:`open` (the composition root), :class:`Matcher`, the settings and the
request and result types; everything else is reached through its package. Nothing heavy is
imported until one of these is first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Direction",
    "IngestReport",
    "Kind",
    "Match",
    "MatchRequest",
    "MatchResult",
    "Matcher",
    "MatcherError",
    "Record",
    "Settings",
    "__version__",
    "load_settings",
    "open",
]

_EXPORTS = {
    "Direction": "matcher.pipeline.request",
    "IngestReport": "matcher.indexing.ingestion",
    "Kind": "matcher.records",
    "Match": "matcher.pipeline.request",
    "MatchRequest": "matcher.pipeline.request",
    "MatchResult": "matcher.pipeline.request",
    "Matcher": "matcher.engine",
    "MatcherError": "matcher.errors",
    "Record": "matcher.records",
    "Settings": "matcher.config",
    "load_settings": "matcher.config",
    "open": "matcher.engine",
}

if TYPE_CHECKING:
    from matcher.config import Settings, load_settings
    from matcher.engine import Matcher, open
    from matcher.errors import MatcherError
    from matcher.indexing.ingestion import IngestReport
    from matcher.pipeline.request import Direction, Match, MatchRequest, MatchResult
    from matcher.records import Kind, Record


def __getattr__(name: str) -> Any:
    """The public names, imported on first use (so ``import matcher`` stays light)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'matcher' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
