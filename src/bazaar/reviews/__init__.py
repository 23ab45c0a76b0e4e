"""Reviews: verified buyers' ratings and words about a product, and the product's rating built from them."""
