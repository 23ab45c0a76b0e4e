"""Flash sales: scheduled sales on an offer, a fair waiting room, per-buyer limits and short holds."""
