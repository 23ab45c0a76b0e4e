"""Recommendations: bought together (co-purchases), similar (the search index) and for you (a buyer's history)."""
