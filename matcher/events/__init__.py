"""Matchmaking events: a named, dated scope of projects and needs, its plan, and the staff's review of it."""
