"""Domain: the action catalogue, engagement rules and arbitration (pure Python, no I/O)."""
