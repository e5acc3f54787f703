"""Gate v4 USDT futures: contracts carry their funding, tickers channel, signed reads."""
