"""Small helpers with no knowledge of matching: NumPy idioms, atomic file writes, a cross-process lock."""
