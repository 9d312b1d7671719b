"""Personas shared by every test: two teams, their agents, a supervisor, customers, strangers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.factories import ContactFactory, GroupFactory, UserFactory, make_agent
from tickets.models import Contact, Group
from tickets.roles import Role

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = Path(os.environ.get("HELPDESK_CORPUS_DIR", ROOT.parent / "shared" / "corpus"))


@pytest.fixture
def corpus_dir() -> Path:
    if not CORPUS_DIR.is_dir():
        pytest.fail(f"shared email corpus not found at {CORPUS_DIR} (set HELPDESK_CORPUS_DIR)")
    return CORPUS_DIR


@pytest.fixture
def support(db: Any) -> Group:
    return GroupFactory(name="Support")


@pytest.fixture
def billing(db: Any) -> Group:
    return GroupFactory(name="Billing")


@pytest.fixture
def agent(support: Group) -> Any:
    """An agent of the Support team."""
    return make_agent("ada", groups=[support])


@pytest.fixture
def other_agent(billing: Group) -> Any:
    """An agent of another team (Billing): sees none of Support's tickets."""
    return make_agent("bob", groups=[billing])


@pytest.fixture
def supervisor(db: Any) -> Any:
    return make_agent("sue", role=Role.SUPERVISOR)


@pytest.fixture
def admin_user(db: Any) -> Any:
    return make_agent("root", role=Role.ADMIN)


@pytest.fixture
def customer(db: Any) -> Any:
    """A customer with a portal login."""
    user = UserFactory(username="carol", email="carol@customer.test")
    ContactFactory(name="Carol Customer", user=user, email="carol@customer.test")
    return user


@pytest.fixture
def customer_contact(customer: Any) -> Contact:
    return customer.contact


@pytest.fixture
def other_customer(db: Any) -> Any:
    user = UserFactory(username="dave", email="dave@else.test")
    ContactFactory(name="Dave Else", user=user, email="dave@else.test")
    return user


@pytest.fixture
def outsider(db: Any) -> Any:
    """A logged-in user who is neither an agent nor a customer."""
    return UserFactory(username="eve", email="eve@nowhere.test")


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def agent_client(agent: Any) -> Client:
    return client_for(agent)


@pytest.fixture
def live_worker(transactional_db: Any) -> Iterator[Any]:
    """A real Celery worker consuming the real Redis broker, in this process."""
    from celery.contrib.testing.worker import start_worker

    from helpdesk.celery import app
    from tickets.queues import ALL_QUEUES
    from tickets.search import index

    # An earlier test's "drain queued" flag may outlive the task it announced (a worker that
    # stopped with it reserved): clear it so this worker's first change queues its own drain.
    index._redis().delete(index._key(index.DRAIN_FLAG))
    with start_worker(
        app,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        queues=ALL_QUEUES.split(","),
        loglevel="WARNING",
        shutdown_timeout=20,
    ) as worker:
        yield worker
