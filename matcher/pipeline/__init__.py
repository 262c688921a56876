"""The match as a pipeline: request, query, candidates, retrieval, ranking stages, explanation, result."""
