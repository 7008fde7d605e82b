"""Rank generated ad-copy variants for relevance and diversity, and score the results."""
