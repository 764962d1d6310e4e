"""Management command that runs the local Shopify sandbox until interrupted."""

from __future__ import annotations

import threading
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from connectors.shopify.sandbox import ShopifySandbox


def parse_shop_argument(value: str) -> tuple[str, str | None]:
    """Split ``DOMAIN:TOKEN`` into its parts. The token is optional."""
    domain, separator, token = value.partition(":")
    if not domain.strip():
        raise CommandError(f"invalid --shop {value!r}, expected DOMAIN or DOMAIN:TOKEN")
    if separator and not token.strip():
        raise CommandError(f"invalid --shop {value!r}, the token after ':' is empty")
    return domain.strip(), token.strip() or None


class Command(BaseCommand):
    help = (
        "Run a local Shopify sandbox that serves the Admin GraphQL API subset the "
        "platform uses and sends signed webhooks. Runs until Ctrl-C."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="Address to listen on (default: 127.0.0.1).",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=8765,
            help="TCP port to listen on, 0 for any free port (default: 8765).",
        )
        parser.add_argument(
            "--client-secret",
            required=True,
            help="App client secret that signs webhooks in X-Shopify-Hmac-Sha256.",
        )
        parser.add_argument(
            "--client-id",
            default="sandbox-client-id",
            help="App client id that OAuth installs must name, the platform's "
            "SHOPIFY_CLIENT_ID (default: sandbox-client-id).",
        )
        parser.add_argument(
            "--api-version",
            default="2026-07",
            help="Admin API version sent in X-Shopify-API-Version (default: 2026-07).",
        )
        parser.add_argument(
            "--shop",
            action="append",
            default=[],
            metavar="DOMAIN[:TOKEN]",
            help=(
                "Shop to create at start, such as acme-demo.myshopify.com:shpat_123. "
                "A token is generated when left out. Repeat for several shops."
            ),
        )
        parser.add_argument(
            "--currency",
            default="USD",
            help="ISO 4217 currency of the shops created by --shop (default: USD).",
        )
        parser.add_argument(
            "--utc-offset",
            default="-05:00",
            help="UTC offset of the shops created by --shop (default: -05:00).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        shops = [parse_shop_argument(value) for value in options["shop"]]
        try:
            sandbox = ShopifySandbox(
                client_secret=options["client_secret"],
                client_id=options["client_id"],
                api_version=options["api_version"],
                host=options["host"],
                port=options["port"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        try:
            sandbox.start()
        except OSError as error:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {error}"
            ) from error

        try:
            for domain, token in shops:
                try:
                    token = sandbox.add_shop(
                        domain,
                        access_token=token,
                        currency=options["currency"],
                        utc_offset=options["utc_offset"],
                    )
                except ValueError as error:
                    raise CommandError(str(error)) from error
                self.stdout.write(f"Shop {domain.lower()} with access token {token}")
            self.stdout.write(f"Shopify sandbox listening on {sandbox.url}")
            self.stdout.write(
                "Name the shop in each request's Host header. Press Ctrl-C to stop."
            )
            threading.Event().wait()
        except KeyboardInterrupt:
            self.stdout.write("Stopping the Shopify sandbox.")
        finally:
            sandbox.stop()
