"""The OpenAI stream frees its answer slot however the client leaves.

Starlette cancels a streamed body when the client disconnects (its task group, under uvicorn's
HTTP spec version); the cancellation can land while the next event is being computed in a worker
thread, or while the last event is being sent. Both are reproduced here, with a real AnyIO loop.
"""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest

from ui.openai_api import _released
from ui.security import AnswerSlots


def _events(computing: threading.Event) -> Iterator[str]:
    yield "data: first\n\n"
    computing.set()
    time.sleep(0.3)  # the second event is still being computed when the client leaves
    yield "data: second\n\n"
    yield "data: [DONE]\n\n"


async def _client_leaves(slots: AnswerSlots, while_sending: bool) -> int:
    """The slots still taken once the response has ended, read before the loop ends (a server's never does)."""
    computing = threading.Event()
    slot = slots.slot()
    slot.__enter__()
    body = _released(_events(computing), slot)
    async with anyio.create_task_group() as starlette:

        async def stream_response() -> None:
            async for _ in body:
                if while_sending:
                    await anyio.sleep(1)  # a slow client: the event is still being sent

        starlette.start_soon(stream_response)
        await anyio.to_thread.run_sync(computing.wait)
        starlette.cancel_scope.cancel()  # what Starlette does on http.disconnect
    await body.aclose()  # what the response's own finally does (ui.openai_api._ClosingStream)
    return slots.running


def _run_loop(slots: AnswerSlots, while_sending: bool) -> int:
    # In a thread of its own: browser tests earlier in the run leave an event loop on the main one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, _client_leaves, slots, while_sending).result()


@pytest.mark.parametrize("while_sending", [False, True], ids=["while-computing", "while-sending"])
def test_a_client_leaving_mid_stream_frees_the_slot(while_sending):
    slots = AnswerSlots(workers=1, queue_size=0, wait_s=0)
    for _ in range(2):
        assert _run_loop(slots, while_sending) == 0
    with slots.slot():  # and the one slot can be taken again
        assert slots.running == 1
