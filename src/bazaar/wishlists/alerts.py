"""Back-in-stock and price-drop alerts: decided from a product's state, once per change, not per event.

Stock and catalog events only say "look at this product again"; the product's stock and lowest
in-stock price are read fresh and compared with what each watching buyer was last told:
- back in stock: a watch is *armed* while the product is seen out of stock; the first time it is seen
  in stock again the buyer is told once and the watch disarms. A flood of restock events finds it
  disarmed; stock that flickers out and back in (holds taken and released) alerts again only after
  the cooldown, so a buyer is never told twice about the same product within it.
- price drop (wished products): the lowest in-stock price fell below the lowest price the buyer was
  shown (when wishing it, or in the last alert); after telling them, that new price is the reference.
  A further drop within the cooldown waits for the next change after it.
A redelivered event reads the same state and finds nothing to tell (the inbox skips it anyway).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bazaar.catalog.queries import product_summaries
from bazaar.catalog.schemas import ProductSummary
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.clock import aware, utcnow
from bazaar.wishlists.events import ProductAlerted
from bazaar.wishlists.models import ProductWatch


def _cooled(last: datetime | None, now: datetime, cooldown: timedelta) -> bool:
    return last is None or now - aware(last) >= cooldown


def _decide(watch: ProductWatch, product: ProductSummary, now: datetime, cooldown: timedelta) -> str | None:
    """Update the watch for the product's current state; answers the alert to send, if any."""
    if product.price_from is None:  # out of stock: the next time it is back is news
        watch.armed = True
        return None
    price = product.price_from.amount
    alert = None
    if watch.armed:
        watch.armed = False
        if _cooled(watch.last_stock_alert_at, now, cooldown):
            alert = "back_in_stock"
            watch.last_stock_alert_at = now
    reference = watch.reference_price_amount
    if watch.wished and reference is not None and price < reference and alert is None:
        if not _cooled(watch.last_price_alert_at, now, cooldown):
            return None  # keep the old reference: the drop is still news after the cooldown
        alert = "price_drop"
        watch.last_price_alert_at = now
    if alert is not None or reference is None:
        watch.reference_price_amount = price if reference is None else min(reference, price)
        watch.currency = product.price_from.currency
    return alert


async def alert_watchers(*, uow: UnitOfWork, product_ids: set[str], cooldown: timedelta) -> int:
    """Look at these products for the buyers watching them; emits one ProductAlerted per alert decided.
    Runs in the consumer's transaction; answers how many alerts were emitted."""
    if not product_ids:
        return 0
    query = (
        select(ProductWatch)
        .where(ProductWatch.product_id.in_(sorted(product_ids)))
        .order_by(ProductWatch.product_id, ProductWatch.user_id)
    )
    if uow.is_postgres:
        query = query.with_for_update()
    watches = list((await uow.session.execute(query)).scalars())
    if not watches:
        return 0
    products = await product_summaries(uow=uow, product_ids=sorted({w.product_id for w in watches}))
    now, sent = utcnow(), 0
    for watch in watches:
        product = products.get(watch.product_id)
        if product is None:
            continue
        previous = watch.reference_price_amount
        kind = _decide(watch, product, now, cooldown)
        if kind is None:
            continue
        uow.emit(
            ProductAlerted(
                user_id=watch.user_id,
                product_id=watch.product_id,
                kind=kind,
                title=product.title,
                price_amount=product.price_from.amount if product.price_from else None,
                previous_price_amount=previous,
                currency=product.price_from.currency if product.price_from else watch.currency,
            )
        )
        sent += 1
        if kind == "back_in_stock" and watch.notify_once:
            watch.notify_once = False  # "notify me" is answered once
            if not watch.wished:
                await uow.session.delete(watch)
    await uow.flush()
    return sent
