"""Look after the embedded PostgreSQL: `status`, `stop` (for sure), `reset` (delete its data).

The server normally stops when the last app process exits; `stop` is for a
server left behind by a process that was killed with SIGKILL.
"""
import shutil

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from main import embedded_server


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["status", "stop", "reset"])

    def handle(self, *args, action: str, **options) -> None:
        pgdata = settings.EMBEDDED_PGDATA
        if settings.DATABASE_URL:
            raise CommandError("DATABASE_URL is set: the embedded PostgreSQL is not in use.", returncode=2)
        if action == "status":
            state = "running" if embedded_server.is_running(pgdata) else "stopped"
            self.stdout.write(f"embedded PostgreSQL in {pgdata}: {state}")
        elif action == "stop":
            stopped = embedded_server.stop(pgdata)
            self.stdout.write(self.style.SUCCESS("stopped") if stopped else "was not running")
        else:
            embedded_server.stop(pgdata)
            shutil.rmtree(pgdata, ignore_errors=True)
            self.stdout.write(self.style.SUCCESS(f"deleted {pgdata}"))
