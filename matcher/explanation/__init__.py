"""Why a match was made: shared keyphrases, related terms, evidence sentences and a summary."""
