"""The durable store: SQLModel tables, the engine, upserts and migrations."""
