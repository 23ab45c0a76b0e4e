"""The built-in sandbox payment provider: an external processor simulated with its own state and HTTP API."""

from bazaar.adapters.sandbox_payments.app import SandboxConfig, create_sandbox_app
from bazaar.adapters.sandbox_payments.ledger import Ledger

__all__ = ["Ledger", "SandboxConfig", "create_sandbox_app"]
