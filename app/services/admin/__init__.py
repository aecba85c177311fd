"""The owner's admin: what needs doing, the shop's figures, and the order desk."""
