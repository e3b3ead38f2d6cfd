"""Per-tenant quotas: request rate (a token bucket) and stored rows, each a 429 naming its limit."""

from uuid import uuid4

from api.core.tenancy.limits import RateLimiter
from api.core.tenancy.schemas import Principal, TenantSettings
from tests.conftest import AppFactory

OPERATOR = "operator-key-for-quota-tests-012345"
AS_OPERATOR = {"X-API-Key": OPERATOR}


def keyed(rank: int = 2, **settings) -> Principal:
    return Principal(
        tenant_id=uuid4(),
        tenant_name="acme",
        rank=rank,
        key_id=uuid4(),
        settings=TenantSettings(**settings),
    )


def test_the_bucket_allows_its_burst_then_its_rate():
    limiter = RateLimiter(rate=2, burst=3)
    principal = keyed()
    assert [limiter.refusal(principal, now=100.0) for _ in range(3)] == [None] * 3
    refused = limiter.refusal(principal, now=100.0)
    assert refused is not None and refused.status_code == 429
    assert refused.headers == {"Retry-After": "1"} and "2 requests per second" in refused.detail
    assert limiter.refusal(principal, now=100.5) is None  # one token back after 1/rate s
    assert limiter.refusal(principal, now=100.5) is not None


def test_a_tenant_setting_overrides_the_default_and_zero_means_no_limit():
    limiter = RateLimiter(rate=1, burst=1)
    free = keyed(requests_per_second=0)
    assert all(limiter.refusal(free, now=5.0) is None for _ in range(50))
    strict = keyed()
    assert limiter.refusal(strict, now=5.0) is None
    assert limiter.refusal(strict, now=5.0) is not None
    operator = Principal(tenant_id=uuid4(), tenant_name="default", rank=4)
    assert all(RateLimiter(rate=1, burst=1).refusal(operator, now=1.0) is None for _ in range(5))


async def test_a_tenant_key_over_its_rate_gets_429_with_retry_after(app_with: AppFactory):
    async with app_with(api_key=OPERATOR) as client:
        await client.post("/v1/admin/tenants", json={"name": "acme"}, headers=AS_OPERATOR)
        limited = await client.patch(
            "/v1/admin/tenants/acme",
            json={"settings": {"requests_per_second": 0.5, "burst": 2}},
            headers=AS_OPERATOR,
        )
        assert limited.status_code == 200, limited.text
        assert limited.json()["settings"] == {"requests_per_second": 0.5, "burst": 2}
        key = await client.post(
            "/v1/admin/tenants/acme/keys", json={"role": "read"}, headers=AS_OPERATOR
        )
        headers = {"Authorization": f"Bearer {key.json()['key']}"}
        statuses = [(await client.get("/v1/events", headers=headers)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        refused = await client.get("/v1/events", headers=headers)
        assert refused.json()["error"] == "quota_exceeded"
        assert int(refused.headers["retry-after"]) >= 1
        # The operator is not limited, and a tenant key may not change its own quotas.
        assert (await client.get("/v1/events", headers=AS_OPERATOR)).status_code == 200
        bad = await client.patch(
            "/v1/admin/tenants/acme", json={"settings": {"burst": -1}}, headers=AS_OPERATOR
        )
        assert bad.status_code == 422

        scraped = (await client.get("/metrics")).text
        assert "mnemolite_tenants 2.0" in scraped
        assert 'mnemolite_tenant_requests_total{tenant="acme"} 2.0' in scraped
        assert 'mnemolite_quota_refusals_total{kind="rate"} 2.0' in scraped


async def test_storage_quotas_refuse_what_would_exceed_them_and_lose_nothing(
    app_with: AppFactory,
):
    async with app_with(api_key=OPERATOR, tenant_max_code_chunks=0) as client:
        await client.post("/v1/admin/tenants", json={"name": "acme"}, headers=AS_OPERATOR)
        await client.patch(
            "/v1/admin/tenants/acme",
            json={"settings": {"max_events": 3, "max_code_chunks": 2}},
            headers=AS_OPERATOR,
        )
        key = await client.post(
            "/v1/admin/tenants/acme/keys", json={"role": "write"}, headers=AS_OPERATOR
        )
        headers = {"Authorization": f"Bearer {key.json()['key']}"}
        two = [{"content": {"text": f"note {n}"}} for n in range(2)]
        written = await client.post("/v1/events/batch", json={"events": two}, headers=headers)
        assert written.status_code == 201
        over = await client.post("/v1/events/batch", json={"events": two}, headers=headers)
        assert over.status_code == 429 and over.json()["error"] == "quota_exceeded"
        assert "max_events" in over.json()["detail"] and "retry-after" in over.headers
        one = await client.post("/v1/events", json={"content": {"text": "fits"}}, headers=headers)
        assert one.status_code == 201
        listed = await client.get("/v1/events", headers=headers)
        assert len(listed.json()["data"]) == 3

        small = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"
        big = small + "\n\ndef c():\n    return 3\n"
        body = {"repository": "r", "files": [{"path": "m.py", "content": small}]}
        indexed = await client.post("/v1/code/index", json=body, headers=headers)
        assert indexed.status_code == 201, indexed.text
        chunks = indexed.json()["indexed_chunks"]
        assert chunks <= 2
        bigger = {"repository": "r", "files": [{"path": "m.py", "content": big}]}
        refused = await client.post("/v1/code/index", json=bigger, headers=headers)
        assert refused.status_code == 429 and "max_code_chunks" in refused.text
        repositories = await client.get("/v1/code/index/repositories", headers=headers)
        (repository,) = repositories.json()["repositories"]
        assert repository["chunk_count"] == chunks  # the refused write left nothing behind
        # The default tenant, with no limits of its own and none by default, is not limited.
        many = [{"content": {"text": f"n{n}"}} for n in range(5)]
        free = await client.post("/v1/events/batch", json={"events": many}, headers=AS_OPERATOR)
        assert free.status_code == 201
