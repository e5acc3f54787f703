"""The desk's own accounts on each venue: signed, read-only requests.

`base` holds what every venue shares (credentials, the server clock, the
resync-and-retry-once rule for timestamp errors); each venue's file reads
top to bottom: endpoints, parsing, signing, client. `hedge` pairs positions
across venues; `service` asks every configured venue at once.
"""
