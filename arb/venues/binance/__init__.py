"""Binance USD-M futures: premium index, funding info, mark-price stream, signed v2/v3 reads."""
