"""Build the bench's workspace and workflows through the services; print JSON.

Run by ``manage.py bench`` as ``python -m alloy.bench.prepare SINK_URL`` in
the environment of the stack it measures, after ``migrate``. It installs one
integration with two published workflows for one end user:

- custom event ``bench_order_placed`` -> HTTP POST of three mapped fields to
  ``SINK_URL/custom-event``;
- Shopify Order Created, streamed to ``SINK_URL/shopify-webhook``.

Installing subscribes the shop to webhook topics through the Shopify API, so
a Shopify sandbox handles those calls while this runs.
"""

import json
import sys

import django


def main(sink_url: str) -> dict:
    django.setup()
    from django.conf import settings

    from alloy.bench import workloads
    from connectors.shopify.sandbox import ShopifySandbox
    from integrations import services
    from workflows.services import versions

    sandbox = ShopifySandbox(client_secret=workloads.SHOPIFY_CLIENT_SECRET).start()
    try:
        settings.SHOPIFY_API_URL = sandbox.url
        token = sandbox.add_shop(workloads.SHOP_DOMAIN)
        workspace, signing_secret = services.workspace_create(name="Bench")
        _, api_key = services.api_key_create(workspace=workspace, name="bench")
        end_user = services.end_user_create(
            workspace=workspace, external_id=workloads.END_USER_ID, name="Bench"
        )
        connection = services.connection_create(
            end_user=end_user,
            app="shopify",
            account_id=workloads.SHOP_DOMAIN,
            credentials={"access_token": token},
        )
        integration = services.integration_create(
            workspace=workspace, name="Bench", app="shopify"
        )
        custom = versions.workflow_create(
            integration=integration,
            name="Send placed orders to the sink",
            trigger_connector="custom",
            trigger_operation="custom_event",
            trigger_config={
                "event_name": workloads.EVENT_NAME,
                "schema": workloads.EVENT_SCHEMA,
                "sample": workloads.EVENT_SAMPLE,
            },
        )
        block = versions.action_add(
            version=custom.versions.get(),
            key="deliver",
            connector="http",
            operation="post_json",
        )
        versions.mapping_set(
            block=block,
            target="url",
            kind="literal",
            value=f"{sink_url}/{workloads.CUSTOM_EVENT}",
        )
        for field in workloads.MAPPED_FIELDS:
            versions.mapping_set(
                block=block,
                target=f"body.{field}",
                kind="expression",
                value=f"event.{field}",
            )
        streamed = versions.workflow_create(
            integration=integration,
            name="Stream new Shopify orders to the sink",
            trigger_connector="shopify",
            trigger_operation="order_created",
            trigger_config={"stream_url": f"{sink_url}/{workloads.SHOPIFY_WEBHOOK}"},
        )
        for workflow in (custom, streamed):
            version = workflow.versions.get()
            versions.version_release(version=version, released_by="bench")
            versions.version_publish(version=version, published_by="bench")
        services.installation_create(
            end_user=end_user, integration=integration, connection=connection
        )
    finally:
        sandbox.stop()
    return {
        "workspace_id": workspace.pk,
        "api_key": api_key,
        "signing_secret": signing_secret,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
