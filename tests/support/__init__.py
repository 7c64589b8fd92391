"""Helpers shared by the test suites (a live gateway, signed requests)."""
