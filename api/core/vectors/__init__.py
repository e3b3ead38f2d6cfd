"""Nearest-neighbour search shared by every domain that stores vectors (events, code chunks)."""
