"""Settings that cannot work together are refused at start with a message naming them."""

from __future__ import annotations

import pytest

from bazaar import cli
from bazaar.settings import Settings, SettingsError


def test_the_payment_deadline_must_fit_inside_the_checkout_deadline() -> None:
    racing = Settings(checkout_deadline_seconds=5, payment_deadline_seconds=8)
    with pytest.raises(SettingsError, match="BAZAAR_CHECKOUT_DEADLINE_SECONDS .5. must be at least"):
        racing.check_production_safety()
    Settings(checkout_deadline_seconds=13, payment_deadline_seconds=8).check_production_safety()
    Settings().check_production_safety()  # the defaults fit


def test_a_workers_hold_on_a_capture_must_outlast_its_wait_and_its_provider_call() -> None:
    short = Settings(capture_claim_seconds=20, payment_deadline_seconds=8)
    with pytest.raises(SettingsError, match="BAZAAR_CAPTURE_CLAIM_SECONDS .20. must be at least twice"):
        short.check_production_safety()
    Settings(capture_claim_seconds=21, payment_deadline_seconds=8).check_production_safety()


def test_the_command_line_refuses_to_start_and_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BAZAAR_CHECKOUT_DEADLINE_SECONDS", "5")
    monkeypatch.setenv("BAZAAR_PAYMENT_DEADLINE_SECONDS", "8")
    assert cli.main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "refusing to start" in err and "BAZAAR_PAYMENT_DEADLINE_SECONDS (8)" in err
