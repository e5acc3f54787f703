"""The `arb-bot` script: arb's CLI (scan, funding) plus `run`, which starts the bot."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from arb import cli
from bot.app import run


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, run=run)


if __name__ == "__main__":
    sys.exit(main())
