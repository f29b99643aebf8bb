"""Fuzzing the HQ server from its own OpenAPI document (schemathesis).

Every generated request is signed with a real hall's key, so the fuzzing reaches
the handlers, not only the signature check. No answer may be a 5xx, and a refused
request (4xx) must leave the store's data unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from sync import auth
from sync.config import Credential
from tests.sync.conftest import HqServer

pytestmark = pytest.mark.process


class Signed(requests.auth.AuthBase):
    def __init__(self, cred: Credential) -> None:
        self.cred = cred

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        raw = body.encode() if isinstance(body, str) else bytes(body)  # type: ignore[arg-type]
        r.headers.update(auth.sign_request(self.cred.key, r.method or "GET", r.path_url, self.cred.hall, raw))
        return r


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HqServer, Credential]]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    server = HqServer(str(root / "hq.db"), root / "hq.log").start()
    cred = server.add_hall("h1")
    server.add_hall("h2")
    yield server, cred
    server.stop()


@pytest.fixture(scope="module")
def hq_schema(fuzzed: tuple[HqServer, Credential]) -> Any:
    return schemathesis.openapi.from_url(fuzzed[0].url + "/openapi.json")


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_no_server_errors_and_nothing_stored_when_refused(
    mode: Any, fuzzed: tuple[HqServer, Credential], hq_schema: Any
) -> None:
    server, cred = fuzzed
    store = server.store()
    session = requests.Session()
    session.auth = Signed(cred)
    tried: dict[str, int] = {}

    def check(case: Any) -> None:
        before = store.counts()
        response = case.call(session=session)
        tried[case.operation.label] = tried.get(case.operation.label, 0) + 1
        assert response.status_code < 500, f"{case.operation.label}: {response.status_code} {response.text}"
        if response.status_code >= 400:
            assert store.counts() == before, f"{response.status_code} {response.text} changed the store"

    try:
        for result in hq_schema.get_all_operations():
            operation = result.ok()
            params = {"hall": cred.hall} if "{hall}" in operation.path else None
            strategy = operation.as_strategy(mode, path_parameters=params)
            fuzz = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
            try:
                fuzz(given(case=strategy)(lambda case: check(case)))()
            except Unsatisfiable:
                # nothing of this operation can be made invalid (no body, query, or free parameter)
                assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
    finally:
        session.close()
        store.close()
    assert len(tried) >= (6 if mode == schemathesis.GenerationMode.POSITIVE else 3), tried
