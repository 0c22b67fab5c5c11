"""The JSON API (docs/api.md): core.py is its frame, reports.py, data.py and webhooks.py its
endpoints, schemas.py the shapes of its answers, urls.py what main/urls.py mounts."""
