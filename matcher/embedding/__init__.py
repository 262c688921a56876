"""Sentence embeddings: the encoder backends and the on-disk cache that never encodes a text twice."""
