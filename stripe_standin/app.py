"""The stand-in's HTTP server: checks each request as Stripe would, then forwards it
to localstripe (translated where localstripe lacks what the pinned version has).

Requests are checked strictly when they are server calls: a /v1 path with a secret
key (`Authorization: Bearer sk_...`). Stripe.js's calls (a publishable key in the
body, or localstripe's private `_authenticate` step), the Stripe.js stand-in at
/js.stripe.com/v3/ and localstripe's /_config/ endpoints pass through unchanged.

Control endpoints for tests, under /_standin/ (never forwarded):

    POST   /_standin/faults    {"path": "/v1/payment_intents", "method": "POST",
                                "status": 500 | 402 | 429, "times": 1, "delay": 30,
                                "body": {...} (instead of Stripe's error body),
                                "drop": true (close the connection, no answer)}
    GET    /_standin/faults    the faults still armed
    DELETE /_standin/faults    disarm them all
    GET    /_standin/requests  every request received, oldest first
    DELETE /_standin/requests  forget them
    POST   /_standin/search    {"lag": 90}: PaymentIntent search leaves out those created
                               in the last 90 s (an index behind, as Stripe's may be)
    POST   /_standin/reset     all of the above, plus the idempotency keys
"""

import asyncio
import base64
import collections
import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from stripe_standin import catalogue, formencoding, localstripe, rules, search, validation
from stripe_standin.catalogue import API_VERSION
from stripe_standin.errors import StripeRefusal, request_id
from stripe_standin.faults import Fault, Faults
from stripe_standin.idempotency import IdempotencyStore, InProgress, Mismatch

# Headers that belong to one hop, or that aiohttp sets itself.
_HOP_HEADERS = {
    "host", "content-length", "transfer-encoding", "connection", "keep-alive", "accept-encoding",
    "content-encoding", "date", "server",
}  # fmt: skip
_STATE = web.AppKey("state", "StandIn")
# The newest requests kept for GET /_standin/requests (tests reset it; a long-running
# stand-in under ./scripts/run must not grow without end).
REQUESTS_KEPT = 1000
# The key of the stand-in's own calls to localstripe (which takes any secret key).
UPSTREAM_KEY = "sk_test_stripe_standin"


@dataclass
class StandIn:
    upstream: str
    idempotency: IdempotencyStore
    faults: Faults = field(default_factory=Faults)
    memory: rules.Memory = field(default_factory=rules.Memory)
    requests: collections.deque = field(default_factory=lambda: collections.deque(maxlen=REQUESTS_KEPT))
    session: ClientSession | None = None
    # Seconds a new PaymentIntent takes to become searchable (search.py).
    search_lag: float = 0.0


def secret_key(request: web.Request) -> str | None:
    """The secret key a server call authenticates with (Bearer, or Basic as curl -u)."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme == "Basic":
        try:
            credentials = base64.b64decode(credentials).decode().split(":")[0]
        except ValueError:
            return None
    elif scheme != "Bearer":
        return None
    return credentials if credentials.startswith("sk_") else None


def _answer(status: int, body, rid: str, extra: dict | None = None) -> web.Response:
    headers = {"Request-Id": rid, "Stripe-Version": API_VERSION, **(extra or {})}
    return web.json_response(body, status=status, headers=headers)


def _refusal(refusal: StripeRefusal, rid: str) -> web.Response:
    return _answer(refusal.status, refusal.body(), rid)


async def _forward(state: StandIn, request: web.Request, path: str, query: str, body: bytes):
    """Send the request to localstripe; returns (status, headers, body bytes)."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
    url = state.upstream + path + (f"?{query}" if query else "")
    async with state.session.request(request.method, url, data=body or None, headers=headers) as answer:
        payload = await answer.read()
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS}
        return answer.status, kept, payload


def _params_of(request: web.Request, body: bytes) -> dict:
    if request.method == "POST" and body:
        content_type = request.headers.get("Content-Type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            raise StripeRefusal(
                f"Stripe's /v1 API takes application/x-www-form-urlencoded bodies, not {content_type!r}."
            )
    try:
        params = formencoding.decode(request.query_string)
        if request.method == "POST":
            params.update(formencoding.decode(body.decode()))
    except formencoding.FormError as error:
        raise StripeRefusal("Invalid hash", param=error.param) from error
    except UnicodeDecodeError as error:
        raise StripeRefusal("The request body is not UTF-8.") from error
    return params


def _check(request: web.Request, params: dict) -> catalogue.Endpoint:
    version = request.headers.get("Stripe-Version")
    if version and version != API_VERSION:
        raise StripeRefusal(
            f"stripe_standin checks requests against the pinned API version {API_VERSION} (the installed "
            f"stripe library's); this request asked for Stripe-Version {version}.",
            param="Stripe-Version",
        )
    endpoint = catalogue.endpoint_for(request.method, request.path)
    if endpoint is None:
        raise StripeRefusal(
            f"Unrecognized request URL ({request.method}: {request.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
            status=404,
        )
    validation.check(params, endpoint.params)
    rules.check(endpoint.template, params, state_of(request).memory, request.path)
    return endpoint


def state_of(request: web.Request) -> StandIn:
    return request.app[_STATE]


def _record(state: StandIn, request: web.Request, rid: str, params) -> dict:
    entry = {
        "request_id": rid,
        "method": request.method,
        "path": request.path,
        "query": request.query_string,
        "params": params,
        "idempotency_key": request.headers.get("Idempotency-Key"),
        "stripe_version": request.headers.get("Stripe-Version"),
        "checked": False,
        "status": None,
        "error": None,
        "replayed": False,
        "forwarded": None,
    }
    state.requests.append(entry)
    return entry


def _fault_answer(fault: Fault, rid: str) -> web.Response:
    status, body = fault.answer()
    return _answer(status, body, rid, {"Stripe-Should-Retry": "true"} if status >= 429 else {})


async def _passthrough(state: StandIn, request: web.Request, rid: str, body: bytes) -> web.StreamResponse:
    status, headers, payload = await _forward(state, request, request.path, request.query_string, body)
    if status == 200 and request.method == "POST" and rules.SETUP_CONFIRM_PATH.match(request.path):
        await _attach_saved_card(state, payload)
    headers.setdefault("Request-Id", rid)
    return web.Response(status=status, body=payload, headers=headers)


async def _upstream(state: StandIn, method: str, path: str, params: dict | None = None):
    """A server call of the stand-in's own to localstripe: (status, JSON body)."""
    headers = {"Authorization": f"Bearer {UPSTREAM_KEY}"}
    data = formencoding.encode(params).encode() if params else None
    if data:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    async with state.session.request(method, state.upstream + path, data=data, headers=headers) as answer:
        payload = await answer.read()
    try:
        return answer.status, json.loads(payload) if payload.strip() else {}
    except ValueError:
        return answer.status, {}


async def _attach_saved_card(state: StandIn, payload: bytes) -> None:
    """Stripe.js confirmed a SetupIntent (confirmCardSetup): as Stripe does, its card is
    attached to the SetupIntent's customer (rules.card_saved_by)."""
    try:
        saved = rules.card_saved_by(json.loads(payload))
    except ValueError:
        return
    if saved is not None:
        method, customer = saved
        await _upstream(state, "POST", f"/v1/payment_methods/{method}/attach", {"customer": customer})


async def _check_owners(state: StandIn, endpoint, params: dict, path: str) -> None:
    """The PaymentMethods a request uses belong to its customer (rules.payment_method_owner)."""
    for method, customer, param in rules.payment_methods_owned(endpoint.template, params, path):
        status, found = await _upstream(state, "GET", f"/v1/payment_methods/{method}")
        rules.payment_method_owner(found if status == 200 else None, method, customer, param)


async def _strict(state: StandIn, request: web.Request, rid: str, key: str, body: bytes, entry: dict):
    try:
        params = _params_of(request, body)
        entry["params"] = params
        endpoint = _check(request, params)
        await _check_owners(state, endpoint, params, request.path)
    except StripeRefusal as refusal:
        # Stripe saves no idempotent result for a request refused before it ran.
        entry["error"] = refusal.body()["error"]
        return _refusal(refusal, rid)
    entry["checked"] = True

    idempotency_key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    fingerprint = (request.method, request.path, json.dumps(params, sort_keys=True))
    if idempotency_key:
        try:
            stored = state.idempotency.begin(key, idempotency_key, fingerprint)
        except Mismatch:
            refusal = StripeRefusal(
                "Keys for idempotent requests can only be used with the same parameters they were first "
                f"used with. Try using a key other than '{idempotency_key}' if you meant to execute a "
                "different request.",
                type="idempotency_error",
            )
            entry["error"] = refusal.body()["error"]
            return _refusal(refusal, rid)
        except InProgress:
            refusal = StripeRefusal(
                "There is currently another in-progress request using this idempotency key (that "
                "probably means you submitted twice, and the other request is still going through): "
                f"{idempotency_key}. Please try again later.",
                type="idempotency_error",
                code="idempotency_key_in_use",
                status=409,
            )
            entry["error"] = refusal.body()["error"]
            return _refusal(refusal, rid)
        if stored is not None:
            entry["replayed"] = True
            entry["status"] = stored.status
            return _answer(
                stored.status,
                stored.body,
                rid,
                {"Idempotent-Replayed": "true", "Original-Request": stored.rid},
            )

    try:
        answer_status, answer_body = await _send(state, request, endpoint, params, entry)
    except BaseException:
        if idempotency_key:
            state.idempotency.abandon(key, idempotency_key)
        raise
    if idempotency_key:
        state.idempotency.finish(key, idempotency_key, answer_status, answer_body, rid)
    return _answer(answer_status, answer_body, rid)


async def _search_payment_intents(state: StandIn, params: dict) -> tuple[int, dict]:
    """GET /v1/payment_intents/search, played over localstripe's list (search.py)."""
    try:
        joiner, clauses = search.parse(params.get("query", ""))
        limit = int(params.get("limit") or 10)
        cutoff = time.time() - state.search_lag
        found, after = [], ""
        while True:
            query = "limit=100" + (f"&starting_after={after}" if after else "")
            status, page = await _upstream(state, "GET", f"/v1/payment_intents?{query}")
            if status != 200:
                error = page.get("error") if isinstance(page.get("error"), dict) else {"type": "api_error"}
                return status, {"error": error}
            found += [
                intent
                for intent in page.get("data") or []
                if (intent.get("created") or 0) <= cutoff and search.matches(joiner, clauses, intent)
            ]
            if not page.get("has_more") or not page.get("data"):
                break
            after = page["data"][-1]["id"]
        return 200, search.page_of(found, limit=limit, page=params.get("page") or "")
    except StripeRefusal as refusal:
        return refusal.status, refusal.body()


async def _send(state: StandIn, request: web.Request, endpoint, params: dict, entry: dict):
    if endpoint.template == "/v1/payment_intents/search":
        return await _search_payment_intents(state, params)
    forward = localstripe.translate_request(endpoint.template, request.path, params)
    entry["forwarded"] = {"path": forward.path, "params": forward.params}
    body = formencoding.encode(forward.params).encode() if request.method == "POST" else b""
    query = "" if request.method == "POST" else urlencode(formencoding.pairs(forward.params))
    status, _headers, payload = await _forward(state, request, forward.path, query, body)
    try:
        answer = json.loads(payload) if payload.strip() else {}
    except ValueError:
        answer = {"error": {"type": "api_error", "message": payload.decode(errors="replace")}}
    if status < 300:
        answer = localstripe.translate_response(endpoint.template, answer)
        if endpoint.template == rules.PAYMENT_INTENTS and request.method == "POST":
            state.memory.remember_intent(answer, params)
        if endpoint.template in localstripe.PRICE_PATHS and isinstance(answer, dict):
            state.memory.remember_price(answer)
    elif not isinstance(answer.get("error"), dict):
        answer = {"error": {"type": "api_error", "message": json.dumps(answer)}}
    return status, answer


async def handle(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    rid = request_id()
    body = await request.read()
    entry = _record(state, request, rid, None)
    fault = state.faults.take(request.method, request.path)
    if fault is not None and fault.drop:
        await asyncio.sleep(fault.delay)
        entry["error"] = {"type": "stripe_standin", "message": "connection closed without an answer"}
        request.transport.abort()
        return web.Response(status=499)
    if fault is not None and fault.status:
        await asyncio.sleep(fault.delay)
        entry["status"] = fault.status
        entry["error"] = fault.answer()[1].get("error")
        return _fault_answer(fault, rid)

    key = secret_key(request)
    try:
        if request.path.startswith("/v1/") and key is not None:
            response = await _strict(state, request, rid, key, body, entry)
        else:
            response = await _passthrough(state, request, rid, body)
    except (ClientError, TimeoutError) as error:
        message = f"stripe_standin could not reach localstripe at {state.upstream}: {error!r}"
        response = _answer(502, {"error": {"type": "api_error", "message": message}}, rid)
    entry["status"] = response.status
    if fault is not None and fault.delay:
        # The request ran; only its answer is late (a client timing out sees what a
        # lost response looks like, and a retry with the same key is replayed).
        await asyncio.sleep(fault.delay)
    return response


# --- control endpoints ----------------------------------------------------------------


async def faults_add(request: web.Request) -> web.Response:
    try:
        fault = Fault.from_json(await request.json())
    except (ValueError, TypeError, KeyError) as error:
        return web.json_response({"error": str(error)}, status=400)
    state_of(request).faults.add(fault)
    return web.json_response(fault.to_json(), status=201)


async def faults_list(request: web.Request) -> web.Response:
    return web.json_response({"data": [fault.to_json() for fault in state_of(request).faults.armed]})


async def faults_clear(request: web.Request) -> web.Response:
    state_of(request).faults.clear()
    return web.Response(status=204)


async def requests_list(request: web.Request) -> web.Response:
    return web.json_response({"data": list(state_of(request).requests)})


async def requests_clear(request: web.Request) -> web.Response:
    state_of(request).requests.clear()
    return web.Response(status=204)


async def search_set(request: web.Request) -> web.Response:
    try:
        lag = float((await request.json())["lag"])
    except (ValueError, TypeError, KeyError) as error:
        return web.json_response({"error": f"expected {{'lag': seconds}}: {error}"}, status=400)
    state_of(request).search_lag = max(0.0, lag)
    return web.json_response({"lag": state_of(request).search_lag})


async def reset(request: web.Request) -> web.Response:
    state = state_of(request)
    state.search_lag = 0.0
    state.faults.clear()
    state.requests.clear()
    state.idempotency.clear()
    return web.Response(status=204)


async def _open_session(app: web.Application) -> None:
    catalogue.catalogue()  # read once before serving (~1 s), not during a first request
    app[_STATE].session = ClientSession(timeout=ClientTimeout(total=60), auto_decompress=True)


async def _close_session(app: web.Application) -> None:
    await app[_STATE].session.close()


def create_app(upstream: str, *, idempotency_ttl: float = 24 * 3600, clock=time.monotonic) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[_STATE] = StandIn(upstream=upstream.rstrip("/"), idempotency=IdempotencyStore(idempotency_ttl, clock))
    app.on_startup.append(_open_session)
    app.on_cleanup.append(_close_session)
    app.router.add_post("/_standin/faults", faults_add)
    app.router.add_get("/_standin/faults", faults_list)
    app.router.add_delete("/_standin/faults", faults_clear)
    app.router.add_get("/_standin/requests", requests_list)
    app.router.add_delete("/_standin/requests", requests_clear)
    app.router.add_post("/_standin/search", search_set)
    app.router.add_post("/_standin/reset", reset)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
