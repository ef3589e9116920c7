"""The emulator driven by the official Python SDK (`anthropic` from PyPI), with strict response validation.

Run by test/emulator/python-sdk.test.ts, which starts an emulator and sets EMULATOR_URL.
"""

import json
import os
import urllib.request

import anthropic
import pytest

URL = os.environ["EMULATOR_URL"]
KEY = os.environ.get("EMULATOR_KEY", "sk-ant-python-test")
MODEL = "claude-haiku-4-5"


def admin(method, route, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + route, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as res:
        return json.loads(res.read())


def advance(seconds):
    admin("POST", "/_emulator/clock/advance", {"seconds": seconds})


def reqs(n, prefix):
    return [
        {
            "custom_id": f"{prefix}-{i}",
            "params": {"model": MODEL, "max_tokens": 32, "messages": [{"role": "user", "content": f"Hi {i}"}]},
        }
        for i in range(n)
    ]


@pytest.fixture
def client():
    return anthropic.Anthropic(api_key=KEY, base_url=URL, max_retries=0, _strict_response_validation=True)


@pytest.fixture(autouse=True)
def no_faults():
    admin("DELETE", "/_emulator/faults")
    yield
    admin("DELETE", "/_emulator/faults")


def test_lifecycle_and_results(client):
    batch = client.messages.batches.create(requests=reqs(3, "py"))
    assert batch.id.startswith("msgbatch_")
    assert batch.processing_status == "in_progress"
    assert batch.request_counts.processing == 3
    assert batch.results_url is None
    advance(60)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.succeeded == 3
    results = list(client.messages.batches.results(batch.id))
    assert sorted(r.custom_id for r in results) == ["py-0", "py-1", "py-2"]
    assert all(r.result.type == "succeeded" and r.result.message.usage.service_tier == "batch" for r in results)
    deleted = client.messages.batches.delete(batch.id)
    assert deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)


def test_results_of_10000_requests(client):
    batch = client.messages.batches.create(requests=reqs(10_000, "many"))
    advance(120)
    seen = set()
    for r in client.messages.batches.results(batch.id):
        assert r.custom_id not in seen
        seen.add(r.custom_id)
    assert len(seen) == 10_000


def test_pagination_both_directions(client):
    ids = [client.messages.batches.create(requests=reqs(1, f"pg{i}")).id for i in range(5)]
    newest_first = list(reversed(ids))
    listed = [b.id for b in client.messages.batches.list(limit=2)]
    assert listed[:5] == newest_first
    first = client.messages.batches.list(limit=2)
    assert first.has_more and first.first_id == newest_first[0] and first.last_id == newest_first[1]
    back = client.messages.batches.list(limit=2, before_id=newest_first[4])
    assert [b.id for b in back.data] == newest_first[2:4]
    walked_back = [b.id for b in client.messages.batches.list(limit=2, before_id=newest_first[4])]
    assert sorted(walked_back) == sorted(newest_first[:4])


def test_cancel(client):
    batch = client.messages.batches.create(
        requests=reqs(5, "cx"), extra_headers={"x-emulator-processing": json.dumps({"baseLatencyMs": 3_600_000})}
    )
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    advance(120)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.canceled == 5
    assert {r.result.type for r in client.messages.batches.results(batch.id)} == {"canceled"}


def test_count_tokens_matches_usage(client):
    params = {"model": MODEL, "system": "Be brief.", "messages": [{"role": "user", "content": "How are tides made?"}]}
    counted = client.messages.count_tokens(**params).input_tokens
    message = client.messages.create(max_tokens=50, **params)
    u = message.usage
    assert u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens == counted


def test_beta_namespace(client):
    batch = client.beta.messages.batches.create(requests=reqs(1, "beta"), betas=["message-batches-2024-09-24"])
    assert client.beta.messages.batches.retrieve(batch.id).id == batch.id


def test_models_list_and_alias(client):
    models = list(client.models.list(limit=3))
    ids = [m.id for m in models]
    assert len(ids) == len(set(ids)) > 3
    assert "claude-haiku-4-5-20251001" in ids
    assert all(m.type == "model" and m.lifecycle == "active" for m in models)
    haiku = client.models.retrieve(MODEL)
    assert haiku.id == "claude-haiku-4-5-20251001" and haiku.display_name == "Claude Haiku 4.5"
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-opus-4-1")


@pytest.mark.parametrize(
    "status,error_class",
    [
        (429, anthropic.RateLimitError),
        (500, anthropic.InternalServerError),
        (529, anthropic.OverloadedError),
    ],
)
def test_injected_statuses_map_to_error_classes(client, status, error_class):
    admin("PUT", "/_emulator/faults", {"http": [{"endpoint": "list", "status": status, "times": 1}]})
    with pytest.raises(error_class) as caught:
        client.messages.batches.list()
    assert caught.value.status_code == status
    assert caught.value.request_id.startswith("req_")


def test_validation_errors(client):
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.batches.create(requests=[{"custom_id": "bad:id", "params": reqs(1, "x")[0]["params"]}])
    assert caught.value.body["error"]["message"] == "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"
    wrong = anthropic.Anthropic(api_key="not-the-configured-key", base_url=URL, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as denied:
        wrong.messages.batches.list()
    assert denied.value.status_code == 401


def test_retries_through_429_and_529_create_one_batch():
    retrying = anthropic.Anthropic(api_key=KEY, base_url=URL, max_retries=2)
    before = admin("GET", "/_emulator/stats")["batches"]["created"]
    admin(
        "PUT",
        "/_emulator/faults",
        {
            "http": [
                {"endpoint": "create", "status": 429, "retryAfterMs": 10, "times": 1},
                {"endpoint": "create", "status": 529, "retryAfterMs": 10, "times": 1},
            ]
        },
    )
    batch = retrying.messages.batches.create(requests=reqs(2, "retry"))
    assert batch.processing_status == "in_progress"
    assert admin("GET", "/_emulator/stats")["batches"]["created"] == before + 1
