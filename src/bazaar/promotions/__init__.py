"""Promotions: sellers' vouchers (codes buyers apply to their cart), redeemed at checkout under a use limit."""
