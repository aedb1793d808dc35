"""Consent domain: pure rules, no I/O."""
