"""Adapters: one module per backend behind a kernel port; only bootstrap.py chooses among them."""
