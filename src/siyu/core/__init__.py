"""Canonical data: configuration, event and entity schemas, identifiers, time, errors."""
