"""Background work that reuses the api services and repositories without importing FastAPI.

Long jobs (indexing whole code repositories) run here, in this process or in the API's.
"""
