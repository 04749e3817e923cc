"""Storage behind the core's store Protocols: SQLAlchemy Core on SQLite or PostgreSQL."""
