"""Schemathesis against the project's own OpenAPI schema, over loopback HTTP."""

import pytest
import schemathesis
from django.core.cache import cache
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from integrations import services as integration_services
from workflows.tutorial import tutorial_integration_create

pytestmark = pytest.mark.django_db(transaction=True)

# Generated requests per operation; kept small so the suite stays quick.
EXAMPLES_PER_OPERATION = 15


@pytest.fixture
def installed(workspace, end_user, connection, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"
    integration = tutorial_integration_create(
        workspace=workspace, stream_base_url="http://127.0.0.1:9"
    )
    return integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode))
def test_api_matches_schema(installed, api_key, live_server, mode):
    """Every operation returns a documented response, never a 5xx, to generated
    requests: valid ones (positive) and ones that break the schema (negative)."""
    loaded = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")
    headers = {"Authorization": f"Bearer {api_key}"}
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case):
            cache.clear()
            response = case.call(base_url=live_server.url, headers=headers)
            case.validate_response(
                response,
                checks=[
                    schemathesis.checks.not_a_server_error,
                    schemathesis.checks.response_schema_conformance,
                ],
            )

        check()
