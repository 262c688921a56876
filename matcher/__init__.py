"""techmatch's matching library: catalogue, embeddings, indexes, ranking and explanations."""

__version__ = "0.1.0"
