"""Everything `make run` needs in one process: migrate, load the sample data into an
empty database, then serve the app.

One process keeps the embedded PostgreSQL up for the whole session, and Ctrl-C
or SIGTERM stops both the web server and (as the last user) the database.
"""
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from monitoring.alerts import delivery
from monitoring.ingest.refresher import start_web_refresher
from monitoring.models import Store
from monitoring.reports import runners


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--no-sample", action="store_true", help="do not load the sample data")

    def handle(self, *args, host: str, port: str, no_sample: bool, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if not no_sample and not Store.objects.exists():
            self.stdout.write(f"Empty database: loading the sample data from {settings.MONITORING_DATA_DIR}")
            call_command("runscript", "load", verbosity=options["verbosity"])
        # Reports a restart left Pending or Running resume now, not on the first trigger.
        runners.start_background()
        # Webhooks are sent from this process too: a new subscription works with no other process.
        delivery.start_background()
        if start_web_refresher():
            self.stdout.write(f"Refreshing {settings.MONITORING_DATA_DIR} every {settings.REFRESH_INTERVAL_SECONDS} s")
        self.stdout.write(self.style.SUCCESS(f"Serving at http://{host}:{port}/ (Ctrl-C stops it and its database)"))
        call_command("runserver", f"{host}:{port}", use_reloader=False)
