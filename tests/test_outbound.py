"""Outbound URL checks against internal addresses, and where they apply."""

import pytest

from alloy.outbound import OutboundURLError, outbound_url_check
from connectors.http.client import post_signed_json


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://100.100.100.200/hook",
    ],
)
def test_internal_address_rejected(settings, url):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with pytest.raises(OutboundURLError, match="OUTBOUND_ALLOWED_NETWORKS"):
        outbound_url_check(url)


def test_allowed_network_accepted(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    outbound_url_check("http://127.0.0.1:8000/hook")


def test_public_address_accepted(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    outbound_url_check("https://93.184.215.14/hook")


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///path", "hook"])
def test_malformed_url_rejected(url):
    with pytest.raises(OutboundURLError, match="not an http or https URL"):
        outbound_url_check(url)


def test_unresolvable_host_rejected():
    with pytest.raises(OutboundURLError, match="could not be resolved"):
        outbound_url_check("http://no-such-host.invalid/hook")


def test_post_to_internal_address_not_sent(settings, receiver):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    result = post_signed_json(
        receiver.url, {"a": 1}, secret="s", delivery_id="d", timeout=1
    )
    assert result.blocked is True
    assert result.retryable is False
    assert receiver.deliveries == []


def test_stream_url_on_metadata_rejected(settings, workspace):
    from alloy.errors import ValidationError
    from integrations.services import integration_create
    from workflows.services import versions

    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    integration = integration_create(workspace=workspace, name="Ops", app="shopify")
    with pytest.raises(ValidationError) as raised:
        versions.workflow_create(
            integration=integration,
            name="Out",
            trigger_connector="shopify",
            trigger_operation="order_created",
            trigger_config={"stream_url": "http://169.254.169.254/x"},
        )
    assert raised.value.fields[0]["path"] == "$.config.stream_url"
