"""Bitget v2 USDT-M futures: tickers, funding schedules, the public channel, signed reads
with a passphrase."""
