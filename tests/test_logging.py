"""The log filter and formatter keep credentials out of log lines."""

import logging

from alloy.logging import KeyValueFormatter, RedactSecretsFilter

TOKEN = "shpat_0123456789abcdef0123456789abcdef"


def format_record(message, *args, **extra):
    record = logging.LogRecord("test", logging.INFO, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    RedactSecretsFilter().filter(record)
    return KeyValueFormatter().format(record)


def test_token_in_message_redacted():
    line = format_record(f"calling shop with {TOKEN}")
    assert TOKEN not in line
    assert "[redacted]" in line


def test_token_in_args_redacted():
    line = format_record("token %s", TOKEN)
    assert TOKEN not in line


def test_secret_extra_key_redacted():
    line = format_record("event", access_token="anything-at-all")
    assert "anything-at-all" not in line


def test_bearer_header_redacted():
    line = format_record("header Authorization: Bearer ak_live_abcdefghijklmnop")
    assert "ak_live_abcdefghijklmnop" not in line


def test_extra_ids_formatted():
    line = format_record("workflows.run.started", run_id=7)
    assert line.endswith("workflows.run.started run_id=7")
