"""Reply size cap benchmark: a fake venue streams a 1 GiB reply, generated as it is sent,
to a `VenueHttp` with the default cap (32 MiB).

Three replies, each in turn on the same client:
- 1 GiB declared in Content-Length: refused on the headers, before the body;
- 1 GiB chunked (no Content-Length): read until it passes the cap, then abandoned;
- for scale, 128 MiB chunked to a client without a cap (what reading whole costs).

Figures per reply: the time from the request to the answer (VenueReplyTooLarge, or the
body), the bytes the fake got to send before the client hung up, and this process's peak
RSS growth over the reply (the peak is reset before each with /proc/self/clear_refs; the
fake runs in this process too and holds one 64 KiB chunk). Run in a fresh process, so
that nothing an earlier benchmark left behind shows.
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

GiB = 1 << 30
MiB = 1 << 20
UNCAPPED_SIZE = 128 * MiB
TARGET_GROWTH_MIB = 64.0  # the cap (32 MiB) plus one chunk, with room for the transports


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset the kernel's peak RSS (VmHWM) to the current RSS; False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_kib() -> int:
    hwm = _status_kib("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_kib() -> int:
    rss = _status_kib("VmRSS")
    return rss if rss is not None else peak_kib()


@dataclass(frozen=True)
class Result:
    label: str
    capped: bool
    outcome: str  # the error's reason, or how much was read
    ms: float
    sent_mib: float  # what the fake got to send before the client hung up
    growth_mib: float
    exact_peak: bool  # the peak was reset before the reply


async def measure() -> list[Result]:
    from arb.http import DEFAULT_MAX_REPLY_BYTES, RetryPolicy, VenueHttp, VenueReplyTooLarge
    from tests.fakes.venues import FakeVenues, Fault
    from tests.venues.bybit.fake_rest import BYBIT_TICKERS

    cases = [
        ("1 GiB, Content-Length declared", Fault.huge(GiB, declared=True), DEFAULT_MAX_REPLY_BYTES),
        ("1 GiB, chunked", Fault.huge(GiB), DEFAULT_MAX_REPLY_BYTES),
        ("128 MiB, chunked, no cap (for scale)", Fault.huge(UNCAPPED_SIZE), 1 << 40),
    ]
    out: list[Result] = []
    async with FakeVenues() as fake:
        for label, fault, cap in cases:
            http = VenueHttp(
                "bybit", fake.url("bybit"), timeout_s=60, retry=RetryPolicy(1), max_reply_bytes=cap
            )
            await http.get(BYBIT_TICKERS, {"category": "linear"}, decode=len)  # warm: session open
            fake.fail("bybit", BYBIT_TICKERS, fault)
            fake.streamed = 0
            exact = reset_peak()
            before = rss_kib()
            started = time.perf_counter()
            try:
                got = await http.get(BYBIT_TICKERS, decode=len)
                outcome = f"read whole, {got / MiB:.0f} MiB"
            except VenueReplyTooLarge as e:
                outcome = e.reason
            elapsed = time.perf_counter() - started
            growth = max(0, peak_kib() - before)
            await asyncio.sleep(0.05)  # let the fake see the hang-up and stop writing
            await http.close()
            fake.clear_faults()
            capped = cap == DEFAULT_MAX_REPLY_BYTES
            sent = fake.streamed / MiB
            out.append(Result(label, capped, outcome, elapsed * 1000, sent, growth / 1024, exact))
    return out


def run() -> None:
    print("\n== reply size cap: a 1 GiB venue reply, default cap 32 MiB ==")
    results = asyncio.run(measure())
    for r in results:
        print(f"{r.label}: {r.outcome}")
        print(
            f"    after {r.ms:.1f} ms; the fake sent {r.sent_mib:.1f} MiB; "
            f"peak RSS +{r.growth_mib:.1f} MiB"
        )
    if not all(r.exact_peak for r in results):
        print("  (no /proc/self/clear_refs: growth is over the peak since start, a lower bound)")
    worst = max(r.growth_mib for r in results if r.capped)
    verdict = "PASS" if worst < TARGET_GROWTH_MIB else "FAIL"
    print(
        f"  capped: peak RSS growth at most {worst:.1f} MiB "
        f"(target < {TARGET_GROWTH_MIB:g} MiB): {verdict}"
    )


def main() -> None:
    """In a fresh process, so that the peaks are this benchmark's alone."""
    subprocess.run([sys.executable, "-m", "tests.bench.reply_size", "run"], check=False)


if __name__ == "__main__":
    if sys.argv[1:] == ["run"]:
        run()
    else:
        main()
