"""Text processing: tokenisation with offsets (English and Chinese), terms and language."""
