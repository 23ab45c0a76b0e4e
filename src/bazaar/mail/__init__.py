"""Email: an outbox of emails made from events, sent through SMTP (or written as .eml files) exactly once."""
