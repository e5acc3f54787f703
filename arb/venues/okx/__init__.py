"""OKX v5 swaps: per-instrument funding, public channels, signed reads with a passphrase."""
