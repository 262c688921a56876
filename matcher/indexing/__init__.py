"""Keeping the catalogue and its indexes in step: ingestion (all or nothing) and index upkeep."""
