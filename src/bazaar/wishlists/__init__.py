"""Wish lists, back-in-stock and price-drop alerts ("notify me"), and recently viewed products."""
