"""Re-ranking learnt from recorded outcomes: pair features, training with grouped cross-validation, a JSON model."""
