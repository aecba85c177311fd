"""Operations: what runs the shop in production and watches it, one module per job."""
