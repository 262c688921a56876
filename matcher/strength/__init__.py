"""How much to trust a match: a calibrated strength per match, its band, and "no good match"."""
