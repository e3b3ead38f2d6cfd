"""Operational checks on the stored data (today: whether `events` should be partitioned)."""
