import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings")
application = get_wsgi_application()

# The hourly refresher as a daemon thread of each web process, when settings.REFRESH_IN_WEB
# asks for it (only one process works at a time: monitoring/ingest/refresher.py).
from monitoring.ingest.refresher import start_web_refresher  # noqa: E402 (needs the app registry loaded above)

start_web_refresher()
