"""Failures of the operational checks."""


class NoEventsTable(Exception):
    """The database was never migrated: there is nothing to measure."""
