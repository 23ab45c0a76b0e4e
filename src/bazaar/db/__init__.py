"""Database plumbing: declarative Base, engines, UnitOfWork, outbox/inbox tables and migrations."""
