"""schemathesis against the schema the live server serves: every operation, then chains of operations
following the schema's links (a create request leads to its change, a list to its first item). Nothing may
answer a server error or a response the schema does not describe (status, content type, body).

Runtime is kept modest (a few examples each): `make test` stays under its 8 minutes.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from peerlinks.models import ChangeRequest, Drift
from tests.api_support import token_for
from tests.conftest import _user, make_gateway, make_peer_link, make_router

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
QUICK = settings(
    max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)


@pytest.fixture
def api_token(transactional_db, settings) -> str:
    """An approver's read-write token, in a world with a link, its change request and a drift to touch."""
    settings.API_RATE_LIMIT = 1_000_000
    lead = _user("schema-lead", "Approver")
    engineer = _user("schema-engineer", "Engineer")
    gateway = make_gateway()
    make_router(project=gateway.project)
    link = make_peer_link(gateway=gateway)
    Drift.objects.create(peer_link=link, kind="created")
    ChangeRequest.objects.create(
        kind="update", requested_by=engineer, gateway=gateway, peer_link=link, payload={"name": "x"}
    )
    return token_for(lead)


def served_schema(live_server):
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_its_schema_says(live_server, api_token, mode):
    """Each operation in turn (schemathesis' pytest loader does not run under pytest 9, so by hand): valid
    input, then input the schema forbids, which must be refused with a 4xx problem, never a 500."""
    operations = [result.ok() for result in served_schema(live_server).get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @QUICK
        def check(case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {api_token}"}, checks=CHECKS)

        check()


def test_chains_of_operations_answer_as_the_schema_says(live_server, api_token):
    served = served_schema(live_server)

    class Workflow(served.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Bearer {api_token}"}}

        def validate_response(self, response, case, **kwargs):
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=settings(
            max_examples=10,
            stateful_step_count=5,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
    )
