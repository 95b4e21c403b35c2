"""Headquarters: the `/hq/v1/` API for feeds (and later campaigns, funnels and outcomes)."""
