"""Logging set-up that never writes a secret.

Tokens end up in places we do not control: python-telegram-bot's InvalidToken
message, httpx's request log lines (the token is in the Bot API URL). Every
handler on the root logger gets a formatter that blanks the configured secrets
in the final text, tracebacks included.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log every request URL at INFO.
NOISY = ("httpx", "httpcore", "apscheduler")


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str], fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        # Longest first, so a secret that contains another is blanked whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


def setup_logging(level: int | str, secrets: Iterable[str] = ()) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    formatter = RedactingFormatter(secrets)
    for handler in root.handlers:
        handler.setFormatter(formatter)
    for name in NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
