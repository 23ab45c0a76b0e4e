"""The guard on plain holds: during a flash sale, its offer is held only with an admission from the queue."""

from __future__ import annotations

from bazaar.flash_sales.calendar import SaleCalendar
from bazaar.flash_sales.errors import AdmissionRequired


async def refuse_plain_hold(*, calendar: SaleCalendar, offer_id: str) -> None:
    """Raise AdmissionRequired when the offer is in a sale whose window is open (from the process's calendar)."""
    sale = await calendar.open_sale_for_offer(offer_id)
    if sale is not None:
        raise AdmissionRequired(offer_id=offer_id, sale_id=sale.id)
