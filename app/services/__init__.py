"""The domain. Plain functions taking a SQLAlchemy session and ids; no Flask request objects."""
