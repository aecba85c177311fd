"""People: registration, log-in and lock-out, owners, password resets."""
