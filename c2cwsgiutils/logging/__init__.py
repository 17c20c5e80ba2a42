"""Logging: the context filter, JSON / CEE syslog formatters and handlers, the collector handler."""
