"""App configuration that loads every connector into the registry."""

from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connectors"

    def ready(self) -> None:
        # Importing a connector package registers it.
        import connectors.custom
        import connectors.http
        import connectors.logic
        import connectors.schedule
        import connectors.shopify
        import connectors.warehouse  # noqa: F401
