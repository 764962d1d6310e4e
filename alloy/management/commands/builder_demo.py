"""Serve the builder on the getting-started integration, with a sign-in to use."""

import logging
import secrets
import threading
import uuid

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from alloy.management.commands.demo import worker_start
from alloy.server import BackgroundServer
from connectors.http.receiver import StreamReceiver
from connectors.shopify.sandbox import ShopifySandbox
from integrations import services as integration_services
from workflows.tutorial import ORDER_REQUESTED_SAMPLE, tutorial_integration_create

USERNAME = "author"


class Command(BaseCommand):
    help = (
        "Serve the builder on a fresh copy of the getting-started integration, with "
        "a local Shopify sandbox shop and stream receiver, and print the URL and a "
        "sign-in. Runs until interrupted (Ctrl-C)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--port",
            type=int,
            default=8000,
            help="TCP port of the builder on 127.0.0.1 (default 8000; 0 picks one).",
        )

    def handle(self, *args, port: int, verbosity: int, **options):
        if not 0 <= port <= 65535:
            raise CommandError(f"--port must be between 0 and 65535, not {port}.")
        if verbosity < 2:
            logging.getLogger().setLevel(logging.WARNING)
        call_command("migrate", verbosity=0, interactive=False)
        suffix = uuid.uuid4().hex[:6]
        sandbox = ShopifySandbox(
            client_id=settings.SHOPIFY_CLIENT_ID,
            client_secret=settings.SHOPIFY_CLIENT_SECRET,
        ).start()
        try:
            server = BackgroundServer(port=port).start()
        except OSError as exc:
            sandbox.stop()
            raise CommandError(
                f"Port {port} is taken ({exc}); pass --port with a free one."
            ) from exc
        settings.SHOPIFY_API_URL = sandbox.url
        settings.PUBLIC_BASE_URL = server.url
        worker = None
        if not settings.JOBS_IN_PROCESS:
            worker = worker_start(
                shopify_api_url=sandbox.url,
                public_base_url=server.url,
                verbosity=verbosity,
            )
        try:
            password, api_key, receiver = self._set_up(sandbox, server, suffix)
            self._report(server, password, api_key, receiver, sandbox)
            threading.Event().wait()
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=10)
            server.stop()
            sandbox.stop()

    def _set_up(self, sandbox: ShopifySandbox, server: BackgroundServer, suffix: str):
        workspace, signing_secret = integration_services.workspace_create(
            name="Acme Co", slug=f"acme-co-{suffix}"
        )
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=USERNAME)
        user.set_password(password)
        user.is_staff = user.is_superuser = True
        user.save()
        # Each start makes a new workspace; the author works in the newest one.
        user.workspaces.clear()
        workspace.members.add(user)

        _, api_key = integration_services.api_key_create(
            workspace=workspace, name="builder demo"
        )
        receiver = StreamReceiver(signing_secret).start()

        shop_domain = f"acme-builder-{suffix}.myshopify.com"
        token = sandbox.add_shop(shop_domain)
        end_user = integration_services.end_user_create(
            workspace=workspace, external_id="merchant-42", name="Jane's Widgets"
        )
        connection = integration_services.connection_create(
            end_user=end_user,
            app="shopify",
            account_id=shop_domain,
            credentials={"access_token": token},
        )

        integration = tutorial_integration_create(
            workspace=workspace,
            stream_base_url=receiver.url,
            published_by=USERNAME,
        )
        integration_services.installation_create(
            end_user=end_user, integration=integration, connection=connection
        )
        # One event, so the runs page has a run, its order and its stream delivery.
        requests.post(
            f"{server.url}/api/v1/events",
            json={
                "event": "order_requested",
                "user": "merchant-42",
                "data": ORDER_REQUESTED_SAMPLE,
            },
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=10,
        ).raise_for_status()
        return password, api_key, receiver

    def _report(self, server, password, api_key, receiver, sandbox) -> None:
        # The shop domain is what an end user enters on the connect page.
        mode = "in-process jobs" if settings.JOBS_IN_PROCESS else "an RQ worker"
        lines = [
            "",
            self.style.MIGRATE_HEADING("Alloy builder"),
            f"  Open      {server.url}/builder/",
            f"  Sign in   {USERNAME} / {password}",
            f"  Admin     {server.url}/admin/ (same sign-in)",
            f"  API key   {api_key}",
            f"  Shopify   sandbox at {sandbox.url}, shop "
            f"{', '.join(sandbox.shop_domains())}",
            f"  Streams   received by {receiver.url}",
            f"  Jobs      {mode}",
            "",
            "Press Ctrl-C to stop.",
        ]
        self.stdout.write("\n".join(lines))
