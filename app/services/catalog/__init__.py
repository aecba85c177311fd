"""The catalogue: categories, products, search."""
