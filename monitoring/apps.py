from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Store monitoring"

    def ready(self) -> None:
        # Only connects a signal: `runscript load -v 0` learns its verbosity from it.
        from django_extensions.management.signals import pre_command

        from monitoring.ingest.summary import remember_runscript_options

        pre_command.connect(remember_runscript_options, dispatch_uid="monitoring-runscript-options")
