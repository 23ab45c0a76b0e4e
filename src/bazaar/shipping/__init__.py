"""Shipping context: addresses, carrier rates, shipments and tracking."""
