"""Measuring ranking quality on labelled sets in the BEIR layout."""
