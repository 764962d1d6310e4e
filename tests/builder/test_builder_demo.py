"""The README's builder command: it serves the builder and prints a working sign-in."""

import re
import subprocess
import sys
import time

import requests
from django.conf import settings

from tests.test_demo import embedded_env

STARTUP_SECONDS = 120


def read_until_ready(process: subprocess.Popen) -> str:
    """Return the command's output up to "Press Ctrl-C", or fail after a while."""
    lines = []
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl-C" in line:
            return "".join(lines)
    raise AssertionError("builder_demo did not start: " + "".join(lines))


def test_builder_demo_serves_sign_in(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "manage.py", "builder_demo", "--port", "0"],
        cwd=settings.BASE_DIR,
        env=embedded_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = read_until_ready(process)
        url = re.search(r"Open\s+(\S+)", output).group(1)
        username, password = re.search(r"Sign in\s+(\S+) / (\S+)", output).groups()
        session = requests.Session()
        sign_in = f"{url}sign-in"
        session.get(sign_in, timeout=10)
        response = session.post(
            sign_in,
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": sign_in},
            timeout=10,
        )
        runs = session.get(f"{url}runs", timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert response.url == url
    assert "Shopify" in response.text
    assert "Create Shopify order from Acme Co" in runs.text
