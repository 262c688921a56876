"""Reading and validating catalogue files and batches."""
