"""Introductions in bulk: all-pairs scoring, conflicts, the plan solver and its exports."""
