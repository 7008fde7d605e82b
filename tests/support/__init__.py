"""Test infrastructure shared across the tree (real databases, servers)."""
