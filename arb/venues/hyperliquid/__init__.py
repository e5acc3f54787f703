"""Hyperliquid: one POST /info for every perp, hourly funding, all of it USDC-settled."""
