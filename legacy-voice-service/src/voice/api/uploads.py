"""An uploaded audio file read and decoded off the event loop, under the duration limit."""

import anyio.to_thread
from fastapi import UploadFile

from voice.audio import Samples, decode
from voice.settings import Settings


async def decode_upload(file: UploadFile, rate: int, settings: Settings) -> Samples:
    # The body limit middleware has already capped the size. An upload over 1 MiB sits in Starlette's spool file
    # (an unnamed temporary file); FastAPI closes it, freeing its space, when the request ends.
    data = await file.read()
    return await anyio.to_thread.run_sync(decode, data, rate, settings.limits.max_audio_seconds)
