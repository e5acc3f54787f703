"""Bybit v5: linear USDT/USDC perpetuals (public market data, live tickers, unified account)."""
