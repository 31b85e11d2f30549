"""Business rules, one module per domain concept. Services flush but never commit."""
