"""Email: writing messages into the outbox, and sending the outbox."""
