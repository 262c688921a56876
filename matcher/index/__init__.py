"""Each side's search indexes: FAISS vectors, BM25 tokens, and their atomic saves under one manifest."""
