"""PaymentGateway contract: the HTTP client against the sandbox provider, in-process and over real HTTP.

Both columns run the same tests: the embedded deployment (ASGI transport, no network) and a provider
reached at a URL (a uvicorn server on a loopback port).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bazaar.adapters.payment_client import HttpPaymentGateway
from bazaar.kernel.errors import PaymentDeclined
from bazaar.kernel.payments import (
    InvalidCard,
    Operation,
    PaymentOutcomeUnknown,
    ProviderKeyReused,
    ProviderStatus,
    ProviderUnavailable,
    declined_error,
)
from bazaar.web.errors import status_for
from tests.payments_support import (
    DECLINED,
    INSUFFICIENT_FUNDS,
    SERVER_ERROR,
    TIMEOUT_AFTER_AUTHORIZING,
    FaultyTransport,
    Recorder,
    Sandbox,
    card,
    free_port,
    in_process_sandbox,
    serve_in_thread,
    usd,
)


@pytest.fixture(params=["in_process", "http"])
def sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sandbox]:
    if request.param == "in_process":
        yield in_process_sandbox(tmp_path)
    else:
        yield from serve_in_thread(tmp_path)


@pytest.fixture
async def gateway(sandbox: Sandbox) -> Iterator[HttpPaymentGateway]:
    gw = sandbox.gateway()
    yield gw
    await gw.close()


async def test_test_card_4242_approves_and_authorizes(gateway: HttpPaymentGateway) -> None:
    result = await gateway.authorize(idempotency_key="k-approve", amount=usd(2599), card=card())
    assert result.approved and result.status is ProviderStatus.APPROVED
    assert result.operation is Operation.AUTHORIZE
    assert result.amount == usd(2599)
    assert result.provider_payment_id and result.reference
    assert result.payment_status == "authorized"
    assert result.error_code is None


@pytest.mark.parametrize(
    ("number", "status", "error_code", "api_code"),
    [
        (DECLINED, ProviderStatus.DECLINED, "card_declined", "payment_declined"),
        (INSUFFICIENT_FUNDS, ProviderStatus.INSUFFICIENT_FUNDS, "insufficient_funds", "insufficient_funds"),
    ],
)
async def test_declining_test_cards_are_402_declines(
    gateway: HttpPaymentGateway, sandbox: Sandbox, number: str, status: ProviderStatus, error_code: str, api_code: str
) -> None:
    result = await gateway.authorize(idempotency_key=f"k-{number}", amount=usd(1000), card=card(number))
    assert not result.approved
    assert result.status is status and result.error_code == error_code
    assert result.provider_payment_id is None
    error = declined_error(result.status, result.error_code, result.message)
    assert isinstance(error, PaymentDeclined) and error.code == api_code and status_for(error) == 402
    assert sandbox.ledger.count_operations("authorize") == 0


@pytest.mark.parametrize(
    "bad_card",
    [
        card("4242424242424241"),  # fails the Luhn check
        card("42424242"),  # too short
        card(exp_month=1, exp_year=2020),  # expired
        card(exp_month=13),
        card(cvc="12"),
        card(cvc="12a"),
    ],
    ids=["luhn", "short", "expired", "month", "cvc-short", "cvc-letters"],
)
async def test_invalid_cards_are_refused_without_an_attempt(gateway: HttpPaymentGateway, bad_card: object) -> None:
    result = await gateway.authorize(idempotency_key="k-invalid", amount=usd(1000), card=bad_card)  # type: ignore[arg-type]
    assert result.status is ProviderStatus.INVALID_CARD and result.error_code == "invalid_card"
    error = declined_error(result.status, result.error_code, result.message)
    assert isinstance(error, InvalidCard) and status_for(error) == 422


async def test_replay_with_the_same_key_answers_the_same_and_authorizes_once(
    gateway: HttpPaymentGateway, sandbox: Sandbox
) -> None:
    first = await gateway.authorize(idempotency_key="k-replay", amount=usd(500), card=card())
    again = await gateway.authorize(idempotency_key="k-replay", amount=usd(500), card=card())
    assert again == first
    assert sandbox.ledger.count_operations("authorize") == 1


async def test_same_key_with_a_different_request_is_a_conflict(gateway: HttpPaymentGateway, sandbox: Sandbox) -> None:
    await gateway.authorize(idempotency_key="k-reuse", amount=usd(500), card=card())
    with pytest.raises(ProviderKeyReused) as caught:
        await gateway.authorize(idempotency_key="k-reuse", amount=usd(501), card=card())
    assert status_for(caught.value) == 409
    assert sandbox.ledger.count_operations("authorize") == 1


async def test_server_error_card_is_retried_with_the_same_key_then_unavailable(sandbox: Sandbox) -> None:
    recorder = Recorder()
    gateway = sandbox.gateway(recorder=recorder, deadline=1.0)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as caught:
        await gateway.authorize(idempotency_key="k-500", amount=usd(700), card=card(SERVER_ERROR))
    elapsed = time.monotonic() - started
    assert caught.value.code == "payment_provider_unavailable" and status_for(caught.value) == 503
    keys = [key for _, _, key in recorder.requests]
    assert len(keys) >= 2 and set(keys) == {"k-500"}
    assert caught.value.details["attempts"] == len(keys)
    assert elapsed < 1.0 + 1.5  # gave up at the deadline (generous margin: the machine is shared)
    assert await gateway.lookup(idempotency_key="k-500") is None  # the provider never acted
    await gateway.close()


async def test_timeout_after_authorizing_is_an_unknown_outcome_that_lookup_resolves(sandbox: Sandbox) -> None:
    impatient = sandbox.gateway(call_timeout=0.3, deadline=0.8)
    with pytest.raises(PaymentOutcomeUnknown) as caught:
        await impatient.authorize(idempotency_key="k-lost", amount=usd(1200), card=card(TIMEOUT_AFTER_AUTHORIZING))
    await impatient.close()
    assert caught.value.code == "payment_outcome_unknown"
    assert not isinstance(caught.value, ProviderUnavailable)  # must not be mistaken for "nothing happened"
    gateway = sandbox.gateway()
    truth = await gateway.lookup(idempotency_key="k-lost")
    assert truth is not None and truth.approved
    assert truth.payment_status == "authorized" and truth.amount == usd(1200)
    assert sandbox.ledger.count_operations("authorize") == 1  # retries under the same key did not authorize again
    voided = await gateway.void(idempotency_key="k-lost:void", provider_payment_id=truth.provider_payment_id or "")
    assert voided.approved and voided.payment_status == "voided"
    await gateway.close()


async def test_lost_answer_is_retried_and_charges_once(sandbox: Sandbox) -> None:
    recorder = Recorder()
    gateway = sandbox.gateway(wrap=lambda inner: FaultyTransport(inner, lose_first=1), recorder=recorder)
    result = await gateway.authorize(idempotency_key="k-retry", amount=usd(900), card=card())
    assert result.approved
    assert [key for _, _, key in recorder.requests] == ["k-retry", "k-retry"]
    assert sandbox.ledger.count_operations("authorize") == 1
    await gateway.close()


async def test_transient_server_errors_are_retried_until_success(sandbox: Sandbox) -> None:
    gateway = sandbox.gateway(wrap=lambda inner: FaultyTransport(inner, fail_first=2))
    result = await gateway.authorize(idempotency_key="k-flaky", amount=usd(900), card=card())
    assert result.approved
    assert sandbox.ledger.count_operations("authorize") == 1
    await gateway.close()


async def test_capture_is_limited_to_the_authorization_and_happens_once(
    gateway: HttpPaymentGateway, sandbox: Sandbox
) -> None:
    auth = await gateway.authorize(idempotency_key="k-cap", amount=usd(1000), card=card())
    pid = auth.provider_payment_id or ""
    too_much = await gateway.capture(idempotency_key="k-cap:capture-1", provider_payment_id=pid, amount=usd(1001))
    assert too_much.status is ProviderStatus.REFUSED and too_much.error_code == "amount_exceeds_authorized"
    captured = await gateway.capture(idempotency_key="k-cap:capture", provider_payment_id=pid, amount=usd(1000))
    assert captured.approved and captured.payment_status == "captured"
    replay = await gateway.capture(idempotency_key="k-cap:capture", provider_payment_id=pid, amount=usd(1000))
    assert replay == captured
    second = await gateway.capture(idempotency_key="k-cap:capture-2", provider_payment_id=pid, amount=usd(10))
    assert second.status is ProviderStatus.REFUSED and second.error_code == "payment_captured"
    no_void = await gateway.void(idempotency_key="k-cap:void", provider_payment_id=pid)
    assert no_void.status is ProviderStatus.REFUSED
    assert sandbox.ledger.count_operations("capture") == 1
    assert sandbox.ledger.payment(pid)["captured"] == 1000  # type: ignore[index]


async def test_refunds_never_exceed_the_capture(gateway: HttpPaymentGateway, sandbox: Sandbox) -> None:
    auth = await gateway.authorize(idempotency_key="k-ref", amount=usd(1000), card=card())
    pid = auth.provider_payment_id or ""
    early = await gateway.refund(idempotency_key="k-ref:refund:0", provider_payment_id=pid, amount=usd(100))
    assert early.status is ProviderStatus.REFUSED and early.error_code == "payment_authorized"
    await gateway.capture(idempotency_key="k-ref:capture", provider_payment_id=pid, amount=usd(800))
    part = await gateway.refund(idempotency_key="k-ref:refund:1", provider_payment_id=pid, amount=usd(300))
    assert part.approved and part.payment_status == "partially_refunded"
    beyond = await gateway.refund(idempotency_key="k-ref:refund:2", provider_payment_id=pid, amount=usd(501))
    assert beyond.status is ProviderStatus.REFUSED and beyond.error_code == "refund_exceeds_captured"
    rest = await gateway.refund(idempotency_key="k-ref:refund:3", provider_payment_id=pid, amount=usd(500))
    assert rest.approved and rest.payment_status == "refunded"
    assert sandbox.ledger.payment(pid)["refunded"] == 800  # type: ignore[index]


async def test_void_releases_an_uncaptured_authorization(gateway: HttpPaymentGateway) -> None:
    auth = await gateway.authorize(idempotency_key="k-void", amount=usd(1000), card=card())
    pid = auth.provider_payment_id or ""
    voided = await gateway.void(idempotency_key="k-void:void", provider_payment_id=pid)
    assert voided.approved and voided.payment_status == "voided"
    late = await gateway.capture(idempotency_key="k-void:capture", provider_payment_id=pid, amount=usd(1000))
    assert late.status is ProviderStatus.REFUSED and late.error_code == "payment_voided"
    unknown = await gateway.void(idempotency_key="k-void:nobody", provider_payment_id="pay_nope")
    assert unknown.status is ProviderStatus.REFUSED and unknown.error_code == "payment_not_found"


async def test_lookup_tells_what_each_key_did(gateway: HttpPaymentGateway) -> None:
    assert await gateway.lookup(idempotency_key="k-never-used") is None
    auth = await gateway.authorize(idempotency_key="k-look", amount=usd(1000), card=card())
    declined = await gateway.authorize(idempotency_key="k-look-2", amount=usd(1000), card=card(DECLINED))
    assert await gateway.lookup(idempotency_key="k-look") == auth
    assert await gateway.lookup(idempotency_key="k-look-2") == declined


async def test_unreachable_provider_is_unavailable_not_unknown() -> None:
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}")
    gateway = HttpPaymentGateway(client, call_timeout=0.3, deadline=0.5, backoff_base=0.02)
    with pytest.raises(ProviderUnavailable):
        await gateway.authorize(idempotency_key="k-down", amount=usd(100), card=card())
    await gateway.close()


async def test_injected_latency_slows_every_call(tmp_path: Path) -> None:
    gateway = in_process_sandbox(tmp_path, latency_ms=100).gateway()
    started = time.monotonic()
    result = await gateway.authorize(idempotency_key="k-slow", amount=usd(100), card=card())
    assert result.approved
    assert time.monotonic() - started >= 0.09
    await gateway.close()


def test_card_details_never_show_the_number() -> None:
    details = card()
    assert "4242424242424242" not in repr(details) and "123" not in repr(details)
    assert details.last4 == "4242"
