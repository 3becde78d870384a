"""A server-sent-events response that stops producing (and so cancels the turn) the moment the client leaves."""

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class EventStreamResponse(StreamingResponse):
    """`text/event-stream` that always watches for `http.disconnect`.

    Starlette's `StreamingResponse` relies on `send` failing after a disconnect when the server speaks ASGI 2.4;
    uvicorn drops such sends silently, so a turn would decode to the end for nobody. Watching `receive` instead
    cancels the body iterator — the orchestrator's stream — at once, which stops generation.
    """

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def stream() -> None:
                await self.stream_response(send)
                group.cancel_scope.cancel()

            group.start_soon(stream)
            await self.listen_for_disconnect(receive)
            group.cancel_scope.cancel()
        if self.background is not None:
            await self.background()
