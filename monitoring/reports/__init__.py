"""Reports: the service (create, admit, find), the row's state, building, reading, runners, Celery shards."""
