"""The demo shop: its catalogue and its generated product images (``flask demo seed``)."""
