"""Logic and utility blocks inside real runs, executed by a real RQ worker."""

import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations import services as integration_services
from workflows.models import Run
from workflows.services import intake, versions
from workflows.services.reconcile import runs_reconcile
from workflows.services.runs import run_retry

pytestmark = pytest.mark.django_db(transaction=True)

ORDER_SCHEMA = {
    "type": "object",
    "required": ["email"],
    "properties": {
        "email": {"type": "string"},
        "total": {"type": "number"},
        "line_items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "quantity": {"type": "integer"},
                },
            },
        },
    },
}
ORDER = {
    "email": "jane@example.com",
    "total": 150,
    "line_items": [
        {"title": "Widget", "quantity": 1},
        {"title": "Gadget", "quantity": 2},
        {"title": "Gizmo", "quantity": 3},
    ],
}
FINISHED = (Run.Status.SUCCEEDED, Run.Status.FAILED, Run.Status.FILTERED)


class Recorder(ThreadingHTTPServer):
    """A loopback HTTP server that records requests and responds from a script.

    ``statuses`` maps a request body's ``title`` (or None for any) to the
    statuses to respond with in turn; once a list is used up it responds 200.
    """

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RecorderHandler)
        self.requests: list[dict] = []
        self.statuses: dict = {}
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.response_headers: dict[str, str] = {}


class _RecorderHandler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        self.server.requests.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "body": body,
            }
        )
        title = body.get("title") if isinstance(body, dict) else None
        script = self.server.statuses.get(title) or self.server.statuses.get(None)
        status = script.pop(0) if script else 200
        payload = json.dumps({"received": body, "ok": status < 300}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in self.server.response_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *args) -> None:
        return


@pytest.fixture
def recorder():
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def publish(workspace, end_user, connection):
    """Return a function that builds, releases, publishes and installs a workflow."""

    def build(add_blocks, schema=ORDER_SCHEMA) -> None:
        integration = integration_services.integration_create(
            workspace=workspace, name="Orders", app="shopify"
        )
        workflow = versions.workflow_create(
            integration=integration,
            name="Order placed",
            trigger_connector="custom",
            trigger_operation="custom_event",
            trigger_config={"event_name": "order_placed", "schema": schema},
        )
        draft = workflow.versions.get()
        add_blocks(draft)
        versions.version_release(version=draft)
        versions.version_publish(version=draft)
        integration_services.installation_create(
            end_user=end_user, integration=integration, connection=connection
        )

    return build


def send(workspace, data=ORDER) -> Run:
    result = intake.custom_event_ingest(
        workspace=workspace, event_name="order_placed", user_id="merchant-1", data=data
    )
    return result.runs[0]


def finish(rq_worker, run: Run, timeout: float = 30.0) -> Run:
    """Work the queue, scheduled jobs included, until the run is finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rq_worker(with_scheduler=True)
        run.refresh_from_db()
        if run.status in FINISHED:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run.pk} still {run.status} after {timeout}s")


def add(draft, key, block, *, parent=None, branch="", config=None, maps=()):
    connector, operation = block.split(".")
    created = versions.action_add(
        version=draft,
        key=key,
        connector=connector,
        operation=operation,
        config=config,
        parent=parent,
        branch=branch,
    )
    for target, kind, value in maps:
        versions.mapping_set(block=created, target=target, kind=kind, value=value)
    return created


def test_filter_unknown_field_blocks_release(publish):
    def blocks(draft):
        add(draft, "big_only", "logic.filter", config={"condition": "total > `100`"})
        add(
            draft,
            "after",
            "utility.transform",
            maps=[("email", "expression", "event.email")],
        )

    # The condition reads `total` at the top of the context, which has none.
    with pytest.raises(Exception, match="references 'total'"):
        publish(blocks)


def test_filter_false_marks_run_filtered(publish, workspace, rq_worker):
    def blocks(draft):
        add(
            draft,
            "big_only",
            "logic.filter",
            config={"condition": "event.total > `100`"},
        )
        add(
            draft,
            "after",
            "utility.transform",
            maps=[("email", "expression", "event.email")],
        )

    publish(blocks)
    run = finish(rq_worker, send(workspace, {**ORDER, "total": 50}))
    assert run.status == Run.Status.FILTERED
    assert run.error is None
    assert [s.key for s in run.steps.all()] == ["trigger", "big_only"]
    assert run.steps.get(key="big_only").output == {"passed": False}


def test_filter_true_runs_later_steps(publish, workspace, rq_worker):
    def blocks(draft):
        add(
            draft,
            "big_only",
            "logic.filter",
            config={"rules": [{"field": "event.total", "operator": ">", "value": 100}]},
        )
        add(
            draft,
            "after",
            "utility.transform",
            maps=[("email", "expression", "event.email")],
        )

    publish(blocks)
    run = finish(rq_worker, send(workspace))
    assert run.status == Run.Status.SUCCEEDED
    assert run.steps.get(key="after").output == {"email": "jane@example.com"}


def test_branch_runs_else_list(publish, workspace, rq_worker):
    def blocks(draft):
        check = add(
            draft, "check", "logic.branch", config={"condition": "event.total >= `100`"}
        )
        add(
            draft,
            "big",
            "utility.transform",
            parent=check,
            branch="then",
            maps=[("size", "literal", "big")],
        )
        add(
            draft,
            "small",
            "utility.transform",
            parent=check,
            branch="else",
            maps=[("size", "literal", "small")],
        )
        add(
            draft,
            "done",
            "utility.transform",
            maps=[("branch", "expression", "steps.check.branch")],
        )

    publish(blocks)
    run = finish(rq_worker, send(workspace, {**ORDER, "total": 20}))
    assert run.status == Run.Status.SUCCEEDED
    assert [s.key for s in run.steps.all()] == ["trigger", "check", "small", "done"]
    assert run.steps.get(key="check").output == {"condition": False, "branch": "else"}
    assert run.steps.get(key="done").output == {"branch": "else"}


def test_for_each_records_step_per_item(publish, workspace, rq_worker):
    def blocks(draft):
        loop = add(
            draft, "items", "logic.for_each", config={"items": "event.line_items"}
        )
        add(
            draft,
            "line",
            "utility.transform",
            parent=loop,
            branch="body",
            maps=[
                ("title", "expression", "item.title"),
                ("index", "expression", "index"),
            ],
        )
        add(
            draft,
            "after",
            "utility.transform",
            maps=[("count", "expression", "steps.items.count")],
        )

    publish(blocks)
    run = finish(rq_worker, send(workspace))
    lines = list(run.steps.filter(key="line").order_by("item_index"))
    assert run.status == Run.Status.SUCCEEDED
    assert [s.item_index for s in lines] == [0, 1, 2]
    assert [s.output["title"] for s in lines] == ["Widget", "Gadget", "Gizmo"]
    assert [s.output["index"] for s in lines] == [0, 1, 2]
    assert run.steps.get(key="after").output == {"count": 3}


def test_for_each_over_non_array_fails(publish, workspace, rq_worker):
    def blocks(draft):
        loop = add(draft, "items", "logic.for_each", config={"items": "event.email"})
        add(
            draft,
            "line",
            "utility.transform",
            parent=loop,
            branch="body",
            maps=[("n", "expression", "index")],
        )

    publish(blocks)
    run = finish(rq_worker, send(workspace))
    assert run.status == Run.Status.FAILED
    assert run.error["code"] == "items_not_array"
    assert "'event.email'" in run.error["message"]
    assert "evaluated to string" in run.error["message"]
    assert not run.steps.filter(key="line").exists()


def test_for_each_over_limit_fails(publish, workspace, rq_worker):
    def blocks(draft):
        loop = add(
            draft,
            "items",
            "logic.for_each",
            config={"items": "event.line_items", "limit": 2},
        )
        add(
            draft,
            "line",
            "utility.transform",
            parent=loop,
            branch="body",
            maps=[("n", "expression", "index")],
        )

    publish(blocks)
    run = finish(rq_worker, send(workspace))
    assert run.status == Run.Status.FAILED
    assert run.error["code"] == "items_over_limit"
    assert "3 items" in run.error["message"]


def http_maps(url, title="event.email"):
    return [
        ("method", "literal", "POST"),
        ("url", "literal", url),
        (
            "headers",
            "literal",
            {"Authorization": "Bearer sk_live_1234567890", "X-Shop": "acme"},
        ),
        ("body", "expression", f"{{title: {title}, email: event.email}}"),
    ]


def test_http_request_sends_and_redacts(publish, workspace, rq_worker, recorder):
    def blocks(draft):
        add(
            draft,
            "call",
            "http.request",
            maps=http_maps(f"{recorder.url}/orders", "event.email"),
        )

    publish(blocks)
    run = finish(rq_worker, send(workspace))
    step = run.steps.get(key="call")
    (request,) = recorder.requests
    assert run.status == Run.Status.SUCCEEDED
    assert request["method"] == "POST"
    assert request["path"] == "/orders"
    assert request["headers"]["Authorization"] == "Bearer sk_live_1234567890"
    assert request["headers"]["X-Shop"] == "acme"
    assert request["body"] == {"title": "jane@example.com", "email": "jane@example.com"}
    assert step.input["headers"]["Authorization"] == "[redacted]"
    assert step.input["headers"]["X-Shop"] == "acme"
    assert step.output["status_code"] == 200
    assert step.output["body"]["ok"] is True


def test_http_request_refused_url_fails(
    publish, workspace, rq_worker, recorder, settings
):
    def blocks(draft):
        add(draft, "call", "http.request", maps=http_maps(f"{recorder.url}/orders"))

    publish(blocks)
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    run = finish(rq_worker, send(workspace))
    assert run.status == Run.Status.FAILED
    assert run.error["code"] == "url_not_allowed"
    assert "loopback" in run.error["message"]
    assert run.error["attempts"] == 1
    assert recorder.requests == []


def test_http_request_retries_server_error(publish, workspace, rq_worker, recorder):
    recorder.statuses[None] = [503]

    def blocks(draft):
        add(
            draft,
            "call",
            "http.request",
            maps=http_maps(f"{recorder.url}/orders", "event.email"),
        )

    publish(blocks)
    run = finish(rq_worker, send(workspace))
    assert run.status == Run.Status.SUCCEEDED
    assert len(recorder.requests) == 2
    assert run.steps.get(key="call").attempt == 2


def test_http_request_client_error_not_retried(publish, workspace, rq_worker, recorder):
    recorder.statuses[None] = [422]

    def blocks(draft):
        add(
            draft,
            "call",
            "http.request",
            maps=http_maps(f"{recorder.url}/orders", "event.email"),
        )

    publish(blocks)
    run = finish(rq_worker, send(workspace))
    assert run.status == Run.Status.FAILED
    assert run.error["code"] == "http_error_status"
    assert len(recorder.requests) == 1


def test_retry_resumes_loop_at_failed_item(publish, workspace, rq_worker, recorder):
    # The second item's call fails for good (a 400), once.
    recorder.statuses["Gadget"] = [400]

    def blocks(draft):
        loop = add(
            draft, "items", "logic.for_each", config={"items": "event.line_items"}
        )
        add(
            draft,
            "call",
            "http.request",
            parent=loop,
            branch="body",
            maps=http_maps(f"{recorder.url}/lines", "item.title"),
        )

    publish(blocks)
    run = finish(rq_worker, send(workspace))
    assert run.status == Run.Status.FAILED
    assert run.error["item_index"] == 1
    assert [r["body"]["title"] for r in recorder.requests] == ["Widget", "Gadget"]

    run_retry(run_id=run.pk)
    run = finish(rq_worker, run)
    calls = list(run.steps.filter(key="call").order_by("item_index"))
    assert run.status == Run.Status.SUCCEEDED
    assert [r["body"]["title"] for r in recorder.requests] == [
        "Widget",
        "Gadget",
        "Gadget",
        "Gizmo",
    ]
    assert [s.attempt for s in calls] == [1, 2, 1]
    keys = [r["headers"]["Idempotency-Key"] for r in recorder.requests]
    assert keys[1] == keys[2]
    assert len(set(keys)) == 3


def test_delay_waits_without_worker(publish, workspace, rq_worker):
    def blocks(draft):
        add(draft, "wait", "utility.delay", config={"seconds": 1.5})
        add(
            draft,
            "after",
            "utility.transform",
            maps=[("email", "expression", "event.email")],
        )

    publish(blocks)
    run = send(workspace)
    rq_worker(with_scheduler=True)
    run.refresh_from_db()
    assert run.status == Run.Status.WAITING
    assert run.lease_owner == ""
    assert run.next_attempt_at is not None
    assert [s.key for s in run.steps.all()] == ["trigger", "wait"]

    # Neither the reconciler nor an early job takes the waiting run.
    result = runs_reconcile()
    assert run.pk not in result.taken_over
    assert run.pk not in result.enqueued
    from workflows.engine import run_execute

    assert run_execute(run_id=run.pk) is None
    run.refresh_from_db()
    assert run.status == Run.Status.WAITING

    run = finish(rq_worker, run)
    wait = run.steps.get(key="wait")
    after = run.steps.get(key="after")
    assert run.status == Run.Status.SUCCEEDED
    assert wait.output["seconds"] == 1.5
    assert (after.started_at - wait.finished_at).total_seconds() >= 1.5
    assert datetime.fromisoformat(wait.output["resume_at"]) <= after.started_at
    assert run.steps.filter(key="wait").count() == 1


def test_delay_resumes_in_process(publish, workspace, settings):
    from alloy import jobs

    settings.JOBS_IN_PROCESS = True

    def blocks(draft):
        add(draft, "wait", "utility.delay", config={"seconds": 0.5})
        add(
            draft,
            "after",
            "utility.transform",
            maps=[("email", "expression", "event.email")],
        )

    publish(blocks)
    run = send(workspace)
    assert jobs.wait_for_in_process_jobs(timeout=20)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert run.steps.get(key="after").output == {"email": "jane@example.com"}


def test_api_run_shows_items_and_lists(publish, workspace, rq_worker, client, api_key):
    def blocks(draft):
        check = add(
            draft, "check", "logic.branch", config={"condition": "event.line_items"}
        )
        loop = add(
            draft,
            "lines",
            "logic.for_each",
            parent=check,
            branch="then",
            config={"items": "event.line_items"},
        )
        add(
            draft,
            "line",
            "utility.transform",
            parent=loop,
            branch="body",
            maps=[("title", "expression", "item.title")],
        )

    publish(blocks)
    run = finish(rq_worker, send(workspace))
    response = client.get(
        f"/api/v1/runs/{run.pk}", HTTP_AUTHORIZATION=f"Bearer {api_key}"
    )
    steps = response.json()["steps"]
    summary = [(s["key"], s["parent"], s["branch"], s["item_index"]) for s in steps]
    assert response.status_code == 200
    assert summary == [
        ("trigger", None, "", None),
        ("check", None, "", None),
        ("lines", "check", "then", None),
        ("line", "lines", "body", 0),
        ("line", "lines", "body", 1),
        ("line", "lines", "body", 2),
    ]


def test_api_lists_filtered_runs(publish, workspace, rq_worker, client, api_key):
    def blocks(draft):
        add(draft, "only", "logic.filter", config={"condition": "event.total > `100`"})

    publish(blocks)
    run = finish(rq_worker, send(workspace, {**ORDER, "total": 1}))
    response = client.get(
        "/api/v1/runs?status=filtered", HTTP_AUTHORIZATION=f"Bearer {api_key}"
    )
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [run.pk]


def test_run_page_shows_items_and_branch(publish, workspace, rq_worker, client):
    from tests.builder.conftest import make_author

    def blocks(draft):
        check = add(
            draft, "check", "logic.branch", config={"condition": "event.line_items"}
        )
        loop = add(
            draft,
            "lines",
            "logic.for_each",
            parent=check,
            branch="then",
            config={"items": "event.line_items"},
        )
        add(
            draft,
            "line",
            "utility.transform",
            parent=loop,
            branch="body",
            maps=[("title", "expression", "item.title")],
        )
        add(draft, "only", "logic.filter", config={"condition": "event.total > `1000`"})

    publish(blocks)
    run = finish(rq_worker, send(workspace))
    client.force_login(make_author(workspace, "ada"))
    page = client.get(f"/builder/runs/{run.pk}").content.decode()
    assert "Filtered" in page
    assert "condition was false, so the run stopped there" in page
    assert "Went the then way." in page
    assert "item 2" in page
    assert "in lines: Body" in page
    assert "in check: Then" in page


def test_delay_kept_after_early_resume(publish, workspace, rq_worker):
    from workflows.engine import run_execute

    def blocks(draft):
        add(draft, "wait", "utility.delay", config={"seconds": 30})
        add(
            draft,
            "after",
            "utility.transform",
            maps=[("email", "expression", "event.email")],
        )

    publish(blocks)
    run = send(workspace)
    rq_worker()
    # As if the worker died after recording the delay and the run was queued
    # again before its wait was over.
    Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED)
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.WAITING
    assert (run.next_attempt_at - run.steps.get(key="wait").finished_at).seconds >= 28
    assert not run.steps.filter(key="after").exists()


# Shopify sends amounts as strings; this schema leaves the type open, as an
# author's schema may, so release does not point the comparison out.
AMOUNT_SCHEMA = {"type": "object", "properties": {"email": {}, "total_price": {}}}


def test_string_ordered_by_number_filters(publish, workspace, rq_worker):
    def blocks(draft):
        add(
            draft,
            "big_only",
            "logic.filter",
            config={"condition": "event.total_price > `100`"},
        )

    publish(blocks, schema=AMOUNT_SCHEMA)
    run = finish(rq_worker, send(workspace, {"total_price": "150.00"}))
    assert run.status == Run.Status.FILTERED
    assert run.error is None
    assert run.steps.get(key="big_only").output == {"passed": False}


def test_filter_rule_reads_string_amount(publish, workspace, rq_worker):
    def blocks(draft):
        add(
            draft,
            "big_only",
            "logic.filter",
            config={
                "rules": [{"field": "event.total_price", "operator": ">=", "value": 10}]
            },
        )
        add(draft, "after", "utility.transform", maps=[("ok", "literal", True)])

    publish(blocks, schema=AMOUNT_SCHEMA)
    passed = finish(rq_worker, send(workspace, {"total_price": "15.00"}))
    small = finish(rq_worker, send(workspace, {"total_price": "5.00"}))
    assert passed.status == Run.Status.SUCCEEDED
    assert passed.steps.get(key="after").output == {"ok": True}
    assert small.status == Run.Status.FILTERED


def test_http_request_rejects_url_credentials(publish, workspace, rq_worker, recorder):
    url = recorder.url.replace("http://", "http://admin:hunter2@") + "/orders"

    def blocks(draft):
        add(draft, "call", "http.request", maps=http_maps(url))

    publish(blocks)
    run = finish(rq_worker, send(workspace))
    step = run.steps.get(key="call")
    assert run.status == Run.Status.FAILED
    assert run.error["code"] == "url_has_credentials"
    assert run.error["attempts"] == 1
    assert run.error["fields"][0]["path"] == "$.url"
    assert "Authorization header" in run.error["message"]
    assert recorder.requests == []
    assert "hunter2" not in json.dumps(step.input)
    assert step.input["url"].startswith("http://[redacted]@127.0.0.1:")


def test_http_request_redacts_response_headers(publish, workspace, rq_worker, recorder):
    recorder.response_headers = {"Set-Cookie": "session=abc", "X-Api-Key": "k-123"}

    def blocks(draft):
        add(draft, "call", "http.request", maps=http_maps(f"{recorder.url}/orders"))

    publish(blocks)
    run = finish(rq_worker, send(workspace))
    headers = run.steps.get(key="call").output["headers"]
    assert run.status == Run.Status.SUCCEEDED
    assert headers["Set-Cookie"] == "[redacted]"
    assert headers["X-Api-Key"] == "[redacted]"
    assert headers["Content-Type"] == "application/json"


def test_http_request_header_line_break_fails(publish, workspace, rq_worker, recorder):
    def blocks(draft):
        add(
            draft,
            "call",
            "http.request",
            maps=[
                ("method", "literal", "GET"),
                ("url", "literal", f"{recorder.url}/orders"),
                ("headers", "literal", {"X-Shop": "acme\r\nX-Injected: 1"}),
            ],
        )

    publish(blocks)
    run = finish(rq_worker, send(workspace))
    assert run.status == Run.Status.FAILED
    assert run.error["code"] == "invalid_header"
    assert run.error["attempts"] == 1
    assert run.error["retryable"] is False
    assert "'X-Shop'" in run.error["message"]
    assert recorder.requests == []


def test_run_page_redacts_credential_names(publish, workspace, rq_worker, client):
    from tests.builder.conftest import make_author

    secrets = {
        "authorization": "Basic c2VjcmV0LTE=",
        "Cookie": "session=secret-2",
        "Proxy-Authorization": "secret-3",
        "X-Auth-Token": "secret-4",
        "password": "secret-5",
    }

    def blocks(draft):
        add(draft, "after", "utility.transform", maps=[("ok", "literal", True)])

    publish(blocks)
    run = finish(rq_worker, send(workspace, {**ORDER, **secrets}))
    client.force_login(make_author(workspace, "ada"))
    page = client.get(f"/builder/runs/{run.pk}").content.decode()
    assert run.status == Run.Status.SUCCEEDED
    for name, value in secrets.items():
        assert f"&quot;{name}&quot;: &quot;[redacted]&quot;" in page
        assert value not in page


def test_step_input_error_shows_null(publish, workspace, rq_worker, recorder):
    def blocks(draft):
        add(
            draft,
            "call",
            "http.request",
            maps=[
                ("method", "literal", "GET"),
                ("url", "literal", f"{recorder.url}/orders"),
                ("headers", "expression", "event.extra_headers"),
            ],
        )

    schema = {"type": "object", "properties": {"extra_headers": {}}}
    publish(blocks, schema=schema)
    run = finish(rq_worker, send(workspace, {"extra_headers": {"X-Note": None}}))
    assert run.status == Run.Status.FAILED
    assert run.error["code"] == "invalid_step_input"
    assert run.error["fields"][0]["path"] == "$.headers.X-Note"
    assert run.error["fields"][0]["message"] == "null is not of type 'string'"
