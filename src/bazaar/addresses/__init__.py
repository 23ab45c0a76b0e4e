"""Address book: a buyer's saved shipping addresses, one of them the default."""
