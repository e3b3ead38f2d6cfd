"""The web UI and tenants: a tenant key signs in to its own tenant, named in the header; the
operator chooses the tenant the pages show; revoking a key ends its browser sessions."""

import httpx

from api.core.security import SESSION_COOKIE, TENANT_COOKIE
from tests.conftest import AppFactory

OPERATOR = "operator-key-for-ui-tenants-0123456"
AS_OPERATOR = {"X-API-Key": OPERATOR}
HTML = {"Accept": "text/html"}


async def setup(client: httpx.AsyncClient) -> dict[str, str]:
    """Tenant acme with a note and a read key; the default tenant with a note of its own."""
    await client.post("/v1/admin/tenants", json={"name": "acme"}, headers=AS_OPERATOR)
    as_acme = {**AS_OPERATOR, "X-Tenant": "acme"}
    await client.post("/v1/events", json={"content": {"text": "acme roadmap"}}, headers=as_acme)
    await client.post(
        "/v1/events", json={"content": {"text": "default ledger"}}, headers=AS_OPERATOR
    )
    key = await client.post(
        "/v1/admin/tenants/acme/keys", json={"role": "read"}, headers=AS_OPERATOR
    )
    return key.json()


async def test_a_tenant_key_signs_in_to_its_own_tenant(app_with: AppFactory):
    async with app_with(api_key=OPERATOR) as client:
        key = await setup(client)
        signed = await client.post("/ui/login", data={"api_key": key["key"]})
        assert signed.status_code == 303
        cookie = client.cookies[SESSION_COOKIE]
        assert key["key"] not in cookie and key["id"] in cookie
        page = await client.get("/ui/events", headers=HTML)
        assert page.status_code == 200
        assert "acme roadmap" in page.text and "default ledger" not in page.text
        assert "Tenant: <strong>acme</strong>" in page.text
        # A read key's session reads, and cannot write or choose another tenant.
        switched = await client.post("/ui/tenant", data={"name": "default"})
        assert switched.status_code == 403
        assert "default ledger" not in (await client.get("/ui/events", headers=HTML)).text

        revoked = await client.delete(
            f"/v1/admin/keys/{key['id']}", headers={**AS_OPERATOR, "X-Tenant": "acme"}
        )
        assert revoked.status_code == 204
        after = await client.get("/ui/events", headers=HTML)
        assert after.status_code == 303 and after.headers["location"].startswith("/ui/login")


async def test_a_forged_key_session_is_no_session(app_with: AppFactory):
    async with app_with(api_key=OPERATOR) as client:
        key = await setup(client)
        forged = f"1900000000.{key['id']}.{'0' * 64}"
        client.cookies.set(SESSION_COOKIE, forged)
        assert (await client.get("/v1/events")).status_code == 401
        refused = await client.post("/ui/login", data={"api_key": "mnl_" + "x" * 43})
        assert refused.status_code == 401


async def test_the_operator_chooses_the_tenant_the_pages_show(app_with: AppFactory):
    async with app_with(api_key=OPERATOR) as client:
        await setup(client)
        assert (await client.post("/ui/login", data={"api_key": OPERATOR})).status_code == 303
        first = await client.get("/ui/events", headers=HTML)
        assert "default ledger" in first.text and "acme roadmap" not in first.text
        assert 'name="name" value="default"' in first.text

        chosen = await client.post("/ui/tenant", data={"name": "acme", "next": "/ui/events"})
        assert chosen.status_code == 303 and chosen.headers["location"] == "/ui/events"
        assert client.cookies[TENANT_COOKIE] == "acme"
        shown = await client.get("/ui/events", headers=HTML)
        assert "acme roadmap" in shown.text and "default ledger" not in shown.text
        assert 'name="name" value="acme"' in shown.text
        # The cookie steers the UI only for the operator, and an explicit X-Tenant wins.
        api = await client.get("/v1/events", headers={"X-Tenant": "default"})
        assert [e["content"]["text"] for e in api.json()["data"]] == ["default ledger"]

        unknown = await client.post("/ui/tenant", data={"name": "nobody"})
        assert unknown.status_code == 404
        await client.delete("/v1/admin/tenants/acme", headers=AS_OPERATOR)
        fallback = await client.get("/ui/events", headers=HTML)  # a deleted tenant: default
        assert fallback.status_code == 200 and "default ledger" in fallback.text
