"""Helpers shared by test files (fixtures stay in tests/conftest.py): sample repositories,
job polling, a real uvicorn server, hostile archives and the upload memory probe."""
