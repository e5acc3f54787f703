"""An aiohttp application on 127.0.0.1 at a free port: the lifecycle the fake servers share.

A fake subclasses `LocalServer`, builds its application in `app()` and passes the runner's
options (`handle_signals`, `shutdown_timeout`...) to `__init__`; `start()`/`stop()` or
`async with` run it, and `port` is the port it got.
"""

from __future__ import annotations

from typing import Any, Self

from aiohttp import web


class LocalServer:
    def __init__(self, **runner_options: Any) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._runner_options = runner_options

    def app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> Self:
        self._runner = web.AppRunner(self.app(), **self._runner_options)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
