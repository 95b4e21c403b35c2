"""Compliance: the one checker for banned phrases and disclosures, used everywhere."""
