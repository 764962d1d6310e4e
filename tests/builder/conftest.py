"""Fixtures of the builder's tests: authors signed in to their own workspaces."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from integrations import services as integration_services
from workflows.tutorial import tutorial_integration_create


def make_author(workspace, username: str):
    user = get_user_model().objects.create_user(
        username=username, password="correct-horse-battery"
    )
    workspace.members.add(user)
    return user


@pytest.fixture
def author(workspace):
    return make_author(workspace, "ada")


@pytest.fixture
def author_client(client, author):
    client.force_login(author)
    return client


@pytest.fixture
def tutorial(workspace):
    """The getting-started integration, released and published."""
    return tutorial_integration_create(
        workspace=workspace, stream_base_url="http://127.0.0.1:9/acme"
    )


@pytest.fixture
def other_client(db):
    """A signed-in author of a second workspace."""
    other, _ = integration_services.workspace_create(name="Globex", slug="globex")
    client = Client()
    client.force_login(make_author(other, "grace"))
    return client
