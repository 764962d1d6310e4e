"""The n8n peer: install n8n 2.8.4, import the equivalent workflow, run it.

The workflow is the custom-event workload's shape in n8n: a Webhook trigger
(responding as soon as the request is received) -> a Set node with the same
three fields -> an HTTP Request node that POSTs them as JSON to the sink.
n8n runs in its default regular mode with SQLite and keeps every
execution's data, as our runs and steps are kept.
"""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from alloy.bench.options import BenchError
from alloy.bench.processes import ProcessGroups, free_port, group_stop, wait_until
from alloy.bench.workloads import MAPPED_FIELDS

N8N_VERSION = "2.8.4"
# n8n-nodes-base pins xlsx to a tarball URL outside the npm registry; the
# registry's 0.18.5 installs in its place.
XLSX_OVERRIDE = "0.18.5"
WORKFLOW_ID = "alloyBenchFlow01"
WEBHOOK_PATH = "alloy-bench"
# Seconds allowed for npm install and for n8n to start.
INSTALL_TIMEOUT = 1800.0
START_TIMEOUT = 120.0


def workflow_definition(sink_url: str) -> dict:
    """Return the workflow in n8n's export format."""
    assignments = [
        {
            "id": f"field-{name}",
            "name": name,
            "value": f"={{{{ $json.body.data.{name} }}}}",
            "type": "string",
        }
        for name in MAPPED_FIELDS
    ]
    return {
        "id": WORKFLOW_ID,
        "name": "Alloy bench: webhook, set three fields, POST to the sink",
        "active": False,
        "settings": {"executionOrder": "v1"},
        "nodes": [
            {
                "id": "a1b2c3d4-0000-4000-8000-000000000001",
                "name": "Webhook",
                "type": "n8n-nodes-base.webhook",
                "typeVersion": 2,
                "position": [0, 0],
                "webhookId": "a1b2c3d4-0000-4000-8000-00000000000a",
                "parameters": {
                    "httpMethod": "POST",
                    "path": WEBHOOK_PATH,
                    "responseMode": "onReceived",
                    "options": {},
                },
            },
            {
                "id": "a1b2c3d4-0000-4000-8000-000000000002",
                "name": "Set fields",
                "type": "n8n-nodes-base.set",
                "typeVersion": 3.4,
                "position": [220, 0],
                "parameters": {
                    "mode": "manual",
                    "assignments": {"assignments": assignments},
                    "options": {},
                },
            },
            {
                "id": "a1b2c3d4-0000-4000-8000-000000000003",
                "name": "POST to sink",
                "type": "n8n-nodes-base.httpRequest",
                "typeVersion": 4.2,
                "position": [440, 0],
                "parameters": {
                    "method": "POST",
                    "url": f"{sink_url}/n8n",
                    "sendBody": True,
                    "specifyBody": "json",
                    "jsonBody": "={{ JSON.stringify($json) }}",
                    "options": {},
                },
            },
        ],
        "connections": {
            "Webhook": {"main": [[{"node": "Set fields", "type": "main", "index": 0}]]},
            "Set fields": {
                "main": [[{"node": "POST to sink", "type": "main", "index": 0}]]
            },
        },
    }


# The name in the package.json the bench writes into the install folder.
PACKAGE_NAME = "alloy-bench-n8n"


def _package_name(manifest: Path) -> str | None:
    try:
        return json.loads(manifest.read_text()).get("name")
    except (OSError, ValueError, AttributeError):
        return None


class N8nPeer:
    """n8n installed in ``install_dir`` and run with a private user folder."""

    def __init__(
        self,
        groups: ProcessGroups,
        *,
        install_dir: Path,
        port: int,
        sink_url: str,
        log_dir: Path,
    ) -> None:
        self.groups = groups
        self.install_dir = install_dir
        self.port = port
        self.sink_url = sink_url
        self.log_dir = log_dir
        self.user_folder = Path(tempfile.mkdtemp(prefix="alloy-bench-n8n-"))
        # The task broker that n8n starts for its Code node runner.
        self.broker_port = free_port()
        self._install: subprocess.Popen | None = None
        self._install_log: Path = log_dir / "n8n-install.log"

    @property
    def webhook_path(self) -> str:
        return f"/webhook/{WEBHOOK_PATH}"

    @property
    def executable(self) -> Path:
        return self.install_dir / "node_modules" / ".bin" / "n8n"

    def installed_version(self) -> str | None:
        manifest = self.install_dir / "node_modules" / "n8n" / "package.json"
        if not manifest.exists():
            return None
        return json.loads(manifest.read_text()).get("version")

    def install_start(self) -> None:
        """Start ``npm install`` in the background unless n8n 2.8.4 is there."""
        if self.installed_version() == N8N_VERSION:
            return
        npm = shutil.which("npm")
        if npm is None:
            raise BenchError(
                "npm is not installed, and --peer n8n needs it; install Node.js 20 "
                "with npm."
            )
        manifest_path = self.install_dir / "package.json"
        if manifest_path.exists() and _package_name(manifest_path) != PACKAGE_NAME:
            raise BenchError(
                f"{manifest_path} belongs to another project, and installing n8n "
                "would replace it; pass --n8n-dir with an empty or new folder."
            )
        self.install_dir.mkdir(parents=True, exist_ok=True)
        manifest = {
            "name": PACKAGE_NAME,
            "private": True,
            "dependencies": {"n8n": N8N_VERSION},
            "overrides": {"xlsx": XLSX_OVERRIDE},
        }
        (self.install_dir / "package.json").write_text(json.dumps(manifest, indent=2))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self._install_log.open("ab") as log:
            self._install = subprocess.Popen(  # noqa: S603
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=warn"],
                cwd=self.install_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def install_wait(self) -> None:
        if self._install is not None:
            try:
                code = self._install.wait(timeout=INSTALL_TIMEOUT)
            except subprocess.TimeoutExpired:
                code = None
            self._install = None
            if code != 0:
                raise BenchError(
                    f"npm install of n8n {N8N_VERSION} failed or timed out; see "
                    f"{self._install_log}."
                )
        if self.installed_version() != N8N_VERSION:
            raise BenchError(
                f"n8n {N8N_VERSION} is not installed in {self.install_dir}; remove "
                "that folder and run the bench again."
            )

    def install_stop(self) -> None:
        if self._install is not None:
            group_stop(self._install)
            self._install = None
        shutil.rmtree(self.user_folder, ignore_errors=True)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "N8N_USER_FOLDER": str(self.user_folder),
            "N8N_PORT": str(self.port),
            "N8N_LISTEN_ADDRESS": "127.0.0.1",
            "N8N_RUNNERS_BROKER_LISTEN_ADDRESS": "127.0.0.1",
            "N8N_RUNNERS_BROKER_PORT": str(self.broker_port),
            "N8N_DIAGNOSTICS_ENABLED": "false",
            "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
            "N8N_TEMPLATES_ENABLED": "false",
            "N8N_PERSONALIZATION_ENABLED": "false",
            "N8N_HIRING_BANNER_ENABLED": "false",
            "N8N_LOG_LEVEL": "info",
        }

    def _cli(self, *args: str) -> None:
        result = subprocess.run(  # noqa: S603
            [str(self.executable), *args],
            cwd=self.install_dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise BenchError(
                f"n8n {' '.join(args)} failed with exit code {result.returncode}:\n"
                f"{(result.stdout + result.stderr)[-3000:]}"
            )

    def start(self) -> None:
        """Import and publish the workflow, then start n8n and wait for its webhook."""
        definition = self.user_folder / "workflow.json"
        definition.write_text(json.dumps(workflow_definition(self.sink_url)))
        self._cli("import:workflow", f"--input={definition}")
        self._cli("publish:workflow", f"--id={WORKFLOW_ID}")
        self.groups.start(
            "n8n", [str(self.executable), "start"], env=self.env, cwd=self.install_dir
        )
        if not wait_until(self._webhook_ready, timeout=START_TIMEOUT, step=0.5):
            raise BenchError(
                f"n8n did not respond on port {self.port} within {START_TIMEOUT:g} s; "
                f"see {self.groups.log_path('n8n')}."
            )

    def _webhook_ready(self) -> bool:
        import requests

        if "n8n" in self.groups.exited():
            raise BenchError(f"n8n exited at start; see {self.groups.log_path('n8n')}.")
        # n8n responds on /healthz before it has activated the workflow, so
        # this polls the webhook itself. Each POST it accepts starts one execution.
        try:
            response = requests.post(
                f"http://127.0.0.1:{self.port}{self.webhook_path}",
                json={"data": {}},
                timeout=5,
            )
        except requests.RequestException:
            return False
        return response.status_code == 200

    def roles(self) -> dict[str, int]:
        process = self.groups.processes.get("n8n")
        return {} if process is None else {"n8n": process.pid}

    def stop(self) -> None:
        self.groups.stop("n8n")
