"""What happened to proposed pairs: the outcome store and how well scores foretold outcomes."""
