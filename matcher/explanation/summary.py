"""The one-sentence summary of an explanation, in the query's language."""

from __future__ import annotations

from matcher.explanation.related import RelatedTerm
from matcher.explanation.terms import SharedTerm


def summary(shared: list[SharedTerm], related: list[RelatedTerm], language: str, limit: int = 4) -> str:
    """E.g. "Shares laser welding, aluminium alloy; related: corrosion ~ rust." (or in Chinese)."""
    names = [term.term for term in shared[:limit]]
    pairs = [f"{pair.query_term} ~ {pair.match_term}" for pair in related[: max(1, limit // 2)]]
    if language == "zh":
        parts = ([f"共同关键词：{'、'.join(names)}"] if names else []) + (
            [f"相关：{'、'.join(pairs)}"] if pairs else []
        )
        return "；".join(parts) + "。" if parts else "无共同或相关词语，按整体语义匹配。"
    if names and pairs:
        return f"Shares {', '.join(names)}; related: {', '.join(pairs)}."
    if names:
        return f"Shares {', '.join(names)}."
    if pairs:
        return f"Related: {', '.join(pairs)}."
    return "No shared or related terms; matched on overall meaning."
