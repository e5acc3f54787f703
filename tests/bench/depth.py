"""Depth benchmark: the top carries of a full scan sized on their legs' order books.

`make bench` times `arb.commands.size_opportunity` for the top TOP carries of a warm scan of
all six fake venues at once (TOP x 2 books, each venue's client and metadata caches warm),
as a desk asking /size about each would: the books fetched anew every run, and for scale
the same with every book in `arb.books.OrderBooks`' cache (the sizing alone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from arb.books import OrderBooks, SizeParams
from arb.commands import size_opportunity
from arb.models import Opportunity
from arb.report import Sizing

TOP = 20


async def size_all(
    books: OrderBooks, top: Sequence[Opportunity], sizes: SizeParams
) -> list[Sizing]:
    return list(await asyncio.gather(*(size_opportunity(books, o, sizes) for o in top)))


def checker(top: Sequence[Opportunity], error: type[Exception]) -> Callable[[list[Sizing]], None]:
    """Every carry sized, none with a failed leg: a failure is not a figure."""

    def check(sizings: list[Sizing]) -> None:
        failed = [leg.error for z in sizings for leg in z.failed]
        if len(sizings) != len(top) or failed or any(z.sized is None for z in sizings):
            raise error(f"depth: {len(sizings)} of {len(top)} carries sized; failed {failed[:2]}")

    return check
