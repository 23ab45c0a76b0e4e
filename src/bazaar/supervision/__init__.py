"""Process supervision: heartbeat files and the `serve --workers N` supervisor."""
