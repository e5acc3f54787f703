"""What the rest of the app knows about a venue: one `VenueSpec`, declared as data in the
venue's own package (`arb/venues/<name>/venue.toml`) and listed once in
`arb.venues.registry`.

A spec is plain data plus the names of the venue's classes, imported only when asked
for: settings, rendering and charts read a venue's facts without loading its clients.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import import_module, resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arb.accounts.base import PrivateClient
    from arb.feeds.base import Dialect
    from arb.trading.orders import OrderVenue

    class OrderClient(PrivateClient, OrderVenue): ...

    from arb.venues.base import VenueClient


@dataclass(frozen=True, slots=True)
class VenueSpec:
    name: str  # as in ARB_VENUES, Quote.venue and the <NAME>_* variables
    label: str  # as a person writes it, capitals and all
    rest_url: str  # the default <NAME>_REST_URL
    ws_url: str  # the default <NAME>_WS_URL
    taker_fee: float  # public base tier, decimal; <NAME>_TAKER_FEE overrides it
    colour: str  # its line on charts: never green or red, those say whether a carry pays
    client: str  # the public client's class in `arb.venues.<name>.rest`
    dialect: str | None = None  # the live feed's class in `arb.venues.<name>.stream`
    account: str | None = None  # the signed client's class in `arb.venues.<name>.account`
    orders: str | None = None  # the order client's class in `arb.venues.<name>.orders`
    # Its demo-trading keys work on the live host with a flag the order client sends
    # (<NAME>_DEMO=1); other venues' testnets are other hosts (<NAME>_REST_URL).
    demo_trading: bool = False
    passphrase: bool = False  # its API keys come with a passphrase
    short: str | None = None  # how replies and charts name it, where not by `name`
    aliases: tuple[str, ...] = ()  # other names a person (or a model) may use for it
    usdc_only: bool = False  # every contract settles in USDC (no need to say so per quote)

    @classmethod
    def load(cls, name: str) -> VenueSpec:
        """The spec in `arb/venues/<name>/venue.toml`."""
        text = (resources.files(f"arb.venues.{name}") / "venue.toml").read_text("utf-8")
        facts = tomllib.loads(text)
        return cls(name=name, **{**facts, "aliases": tuple(facts.get("aliases", ()))})

    @property
    def env_prefix(self) -> str:
        return self.name.upper() + "_"

    @property
    def shown(self) -> str:
        return self.short or self.name

    def client_class(self) -> type[VenueClient]:
        return self._load("rest", self.client)

    def dialect_class(self) -> type[Dialect] | None:
        return None if self.dialect is None else self._load("stream", self.dialect)

    def account_class(self) -> type[PrivateClient] | None:
        return None if self.account is None else self._load("account", self.account)

    def orders_class(self) -> type[OrderClient] | None:
        return None if self.orders is None else self._load("orders", self.orders)

    def _load(self, module: str, name: str):
        return getattr(import_module(f"arb.venues.{self.name}.{module}"), name)
