"""Fixtures for the script tests (the knowledge base and the seeded library live in the root
conftest)."""

from tests.customers.conftest import customers_book  # noqa: F401  (shared fixture)
