"""Tax context: destination rates and per-line rounding."""
