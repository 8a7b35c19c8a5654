from django.apps import AppConfig


class FederationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "federation"
    verbose_name = "Hospital network"

    def ready(self):
        # the ledger imports nothing above it: it is handed the network's hooks instead
        from federation import quorum, tasks
        from ledger import selectors as ledger_selectors
        from ledger import services as ledger_services

        ledger_services.on_checkpoint(tasks.on_checkpoint)  # push each new checkpoint to the witnesses
        ledger_selectors.use_witnessed_provider(quorum.newest_witnessed)  # receipts' "witnessed"
