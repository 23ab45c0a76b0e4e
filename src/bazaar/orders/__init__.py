"""Orders context: orders, lines, status history, cancellations and returns."""
