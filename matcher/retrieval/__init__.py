"""Retrieval: ranking policies and the dense + BM25 scoring of one side's candidates."""
