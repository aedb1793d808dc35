"""Storage and cache adapters."""
