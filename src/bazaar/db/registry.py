"""Imports every context's models so Base.metadata knows the whole schema (for Alembic and tests)."""

from __future__ import annotations

from bazaar.accounts import models as accounts_models
from bazaar.addresses import models as addresses_models
from bazaar.admin import models as admin_models
from bazaar.cart import models as cart_models
from bazaar.catalog import models as catalog_models
from bazaar.checkout import models as checkout_models
from bazaar.db import nodes, outbox
from bazaar.db.base import Base
from bazaar.disputes import models as disputes_models
from bazaar.flash_sales import models as flash_sales_models
from bazaar.inventory import models as inventory_models
from bazaar.ledger import models as ledger_models
from bazaar.mail import models as mail_models
from bazaar.media import models as media_models
from bazaar.notifications import models as notifications_models
from bazaar.orders import models as orders_models
from bazaar.payments import models as payments_models
from bazaar.promotions import models as promotions_models
from bazaar.recommendations import models as recommendations_models
from bazaar.reviews import models as reviews_models
from bazaar.shipping import models as shipping_models
from bazaar.wishlists import models as wishlists_models

MODULES = (
    accounts_models,
    admin_models,
    addresses_models,
    cart_models,
    catalog_models,
    checkout_models,
    outbox,
    nodes,
    disputes_models,
    inventory_models,
    ledger_models,
    notifications_models,
    orders_models,
    payments_models,
    shipping_models,
    mail_models,
    wishlists_models,
    media_models,
    reviews_models,
    promotions_models,
    recommendations_models,
    flash_sales_models,
)
metadata = Base.metadata
