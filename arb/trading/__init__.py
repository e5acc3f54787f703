"""Trading a carry: both legs or neither.

`orders` says what an order is and what a venue that takes orders must do (each venue's
`arb/venues/<name>/orders.py` does it); `paper` fills orders on the live books without
sending them; `engine` plans a trade, journals it, sends both legs, accounts for every
order and matches the legs; `setup` builds the trader the settings ask for. The journal
itself is `storage.journal`: arb never imports storage.
"""
