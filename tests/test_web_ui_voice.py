"""Talking to the council in a real browser against both services, hands-free and push-to-talk: a spoken question
(Piper speech) from Chromium's fake microphone goes over `/ws/voice` and the spoken answer is played; speaking over
an answer (hands-free) or pressing the talk button during it silences it."""

import base64
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.sync_api import Page, Playwright
from test_web_ui import ARTIFACTS, CHROMIUM_ARGS

from conftest import CHROMIUM, ServiceProcess, StartService

QUESTION = "What is the tallest mountain on Earth?"
INTERRUPTION = "Tell me about the weather on Mars instead."
SPEECH_RATE = 24_000  # Piper's `pcm`: 24 kHz mono s16le, the same as the answer audio the page plays
# The fake microphone starts playing its file when the page opens it, a moment before /ws/voice says `ready`
# (frames before that are not sent): the first words come after a second and a half of silence.
LEAD_SILENCE_S = 1.5

# Records every state the hands-free indicator shows, so a test sees the whole listening → … → listening cycle.
PAGE_WATCH = """
window.__voiceStates = [];
document.addEventListener('DOMContentLoaded', () => {
  const indicator = document.getElementById('voice-state');
  new MutationObserver(() => {
    const state = indicator.dataset.state;
    if (window.__voiceStates.at(-1) !== state) window.__voiceStates.push(state);
  }).observe(indicator, {attributes: true, attributeFilter: ['data-state']});
});
// ... every text event /ws/voice sent, with the playback counters as they were when it arrived ...
window.__voiceEvents = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    if (!String(args[0]).endsWith('/ws/voice')) return;
    this.addEventListener('message', (message) => {
      if (typeof message.data !== 'string') return;
      const {type, id} = JSON.parse(message.data);
      const {playedSamples, receivedSamples} = window.handsFreeStats;  // as they were when the event arrived
      window.__voiceEvents.push({type, id, at: Math.round(performance.now()), playedSamples, receivedSamples});
    });
  }
};
// ... and the microphones the page opened.
window.__microphones = [];
const openMicrophone = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (constraints) => {
  const stream = await openMicrophone(constraints);
  window.__microphones.push({constraints, stream});
  return stream;
};
"""


def write_speech_wav(voice: ServiceProcess, path: Path, script: list[tuple[float, str]]) -> None:
    """A 16-bit PCM WAV (what Chromium's fake capture reads) of Piper speech: each line after its seconds of silence."""
    pcm = b""
    for silence_s, text in script:
        response = httpx.post(
            f"{voice.url}/v1/audio/speech",
            json={"input": text, "voice": "en_US-joe-medium", "response_format": "pcm"},
            timeout=60,
        )
        response.raise_for_status()
        pcm += bytes(2 * int(SPEECH_RATE * silence_s)) + response.content
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SPEECH_RATE)
        wav.writeframes(pcm)


def fake_microphone(wav: Path) -> list[str]:
    """Chromium's flags for a microphone that plays `wav` from its start each time the page opens it, then silence."""
    return [
        "--use-fake-ui-for-media-stream",  # grants the microphone without a prompt
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",  # without %noloop it loops
    ]


# No fake device: the autoplay flag lets a scripted microphone's own AudioContext run wherever it is made.
AUTOPLAY = ["--autoplay-policy=no-user-gesture-required"]


@contextmanager
def browser_page(playwright: Playwright, flags: list[str], script: str, name: str) -> Iterator[Page]:
    """A browser of its own (a microphone is a launch flag) with `script` run in the page before its own; the page's
    last look is kept as `name`.png however the test ends."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *flags])
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.add_init_script(script)
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        browser.close()


def start_hands_free(page: Page, url: str) -> None:
    """Open the page on the fast path and turn hands-free on; return once it listens."""
    page.goto(url)
    page.wait_for_selector("#hands-free:not([disabled])")
    page.select_option("#path", "fast")  # a quick answer
    page.click("#hands-free")  # a real click: browsers start audio only from a user gesture
    page.wait_for_selector("#voice-state[data-state='listening']", timeout=30_000)


@contextmanager
def hands_free_page(playwright: Playwright, wav: Path, url: str, name: str) -> Iterator[Page]:
    """A browser with `wav` as its microphone on the page, hands-free on, on the fast path."""
    with browser_page(playwright, fake_microphone(wav), PAGE_WATCH, name) as page:
        start_hands_free(page, url)
        yield page


def wait_until(page: Page, expression: str, timeout_s: float) -> None:
    # Polled: the page's CSP forbids the eval that Playwright's `wait_for_function` needs.
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true within {timeout_s} s: {expression}"
        page.wait_for_timeout(100)


def is_subsequence(wanted: list[str], seen: list[str]) -> bool:
    remaining = iter(seen)
    return all(state in remaining for state in wanted)


def test_hands_free_hears_a_spoken_question_and_plays_the_spoken_answer(
    main: ServiceProcess, voice: ServiceProcess, tmp_path: Path, playwright: Playwright
) -> None:
    wav = tmp_path / "question.wav"
    write_speech_wav(voice, wav, [(LEAD_SILENCE_S, QUESTION)])
    with hands_free_page(playwright, wav, main.url, "hands_free") as page:
        page.wait_for_selector(".message.user", timeout=60_000)
        wait_until(page, "window.__voiceEvents.some((e) => e.type === 'audio.end')", timeout_s=120)  # all audio sent
        # ... and played to its end: the page listens again.
        wait_until(page, "window.handsFreeStats.state === 'listening'", timeout_s=30)
        stats = page.evaluate("({...window.handsFreeStats})")
        states = page.evaluate("window.__voiceStates")
        events = [event["type"] for event in page.evaluate("window.__voiceEvents")]
        heard = page.locator(".message.user .body").last.inner_text().lower()
        answer = page.locator(".message.assistant .body").last.inner_text()
        played_attribute = page.locator("#voice-state").get_attribute("data-played-samples")
        constraints = page.evaluate("window.__microphones[0].constraints.audio")

        page.click("#hands-free")  # off again: the microphone is released
        wait_until(page, "window.__microphones[0].stream.getTracks().every((t) => t.readyState === 'ended')", 10)
        assert page.locator("#hands-free").get_attribute("aria-pressed") == "false"

    assert "mountain" in heard, events
    assert answer.strip(), events
    assert is_subsequence(["listening", "thinking", "speaking", "listening"], states), (states, events)
    # The answer was played, all of it: every sample received went through the player to the speaker, and it
    # was speech, not silence.
    assert stats["playedSamples"] >= SPEECH_RATE // 2, (stats, events)  # at least half a second
    assert stats["playedSamples"] == stats["receivedSamples"], stats
    assert stats["peak"] > 0.05, stats
    assert played_attribute == str(stats["playedSamples"])
    # The microphone went out as 20 ms frames the whole time, with the browser's echo cancellation on.
    assert stats["framesSent"] >= 50 * 2, stats
    assert constraints["echoCancellation"] is True


# A microphone the test speaks into when it chooses (Chromium's fake device plays its file on its own clock, and how
# long the answer takes to come varies too much on a busy machine to time an interruption from a file).
SCRIPTED_MICROPHONE = """
navigator.mediaDevices.getUserMedia = async (constraints) => {
  const context = new AudioContext({sampleRate: 24000});
  const output = context.createMediaStreamDestination();
  window.__say = (base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const samples = new Int16Array(bytes.buffer);
    const buffer = context.createBuffer(1, samples.length, 24000);
    buffer.getChannelData(0).set(Float32Array.from(samples, (v) => v / 32768));
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(output);
    source.start();
  };
  window.__microphones.push({constraints, stream: output.stream});
  return output.stream;
};
"""


def speech_base64(voice: ServiceProcess, text: str) -> str:
    response = httpx.post(
        f"{voice.url}/v1/audio/speech",
        json={"input": text, "voice": "en_US-joe-medium", "response_format": "pcm"},
        timeout=60,
    )
    response.raise_for_status()
    return base64.b64encode(response.content).decode()


def test_speaking_over_the_answer_silences_it_at_once_and_becomes_the_next_turn(
    start_main: StartService, voice: ServiceProcess, playwright: Playwright
) -> None:
    main = start_main(voice, COUNCIL_LLM__MAX_TOKENS="64")  # an answer that speaks for several seconds
    question, interruption = speech_base64(voice, QUESTION), speech_base64(voice, INTERRUPTION)
    with browser_page(playwright, AUTOPLAY, PAGE_WATCH + SCRIPTED_MICROPHONE, "hands_free_interrupted") as page:
        start_hands_free(page, main.url)
        page.evaluate("(speech) => window.__say(speech)", question)
        # The answer is being heard: a quarter of a second of it has played.
        wait_until(page, f"window.handsFreeStats.playedSamples > {SPEECH_RATE // 4}", timeout_s=120)
        page.evaluate("(speech) => window.__say(speech)", interruption)
        page.wait_for_selector(".message.user >> nth=1", timeout=60_000)
        events = page.evaluate("window.__voiceEvents")
        heard = [text.lower() for text in page.locator(".message.user .body").all_inner_texts()]

    first_turn = next(e["id"] for e in events if e["type"] == "transcript")
    talking_over = [e for e in events if e["type"] == "speech.started"][1]
    second_transcript = [e for e in events if e["type"] == "transcript"][1]
    assert "mountain" in heard[0]
    assert "mars" in heard[1], heard
    assert second_transcript["id"] != first_turn
    # The answer was playing, with more of it to come, when the server heard the user speak ...
    assert talking_over["receivedSamples"] > talking_over["playedSamples"] > 0, events
    # ... and from then on nothing more of it was heard (beyond the player's ~0.1 s report interval), whether the
    # server pauses or cancels it or has already sent all of it.
    heard_meanwhile = second_transcript["playedSamples"] - talking_over["playedSamples"]
    assert heard_meanwhile <= 0.25 * SPEECH_RATE, (heard_meanwhile, events)


# Every message the page sends on /ws/voice, in order: text messages as sent, runs of audio frames counted.
SENT_WATCH = """
window.__voiceSent = [];
const nativeSend = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  if (String(this.url).endsWith('/ws/voice')) {
    const last = window.__voiceSent.at(-1);
    if (typeof data === 'string') window.__voiceSent.push(JSON.parse(data));
    else if (last && last.type === 'audio') last.frames += 1;
    else window.__voiceSent.push({type: 'audio', frames: 1});
  }
  return nativeSend.call(this, data);
};
"""
# The answer's length each time the page changed it, to see it written while it was spoken.
ANSWER_WATCH = """
window.__answerLengths = [];
document.addEventListener('DOMContentLoaded', () => {
  new MutationObserver(() => {
    const answer = document.querySelector('.message.assistant:last-of-type .body');
    const length = answer ? answer.textContent.length : 0;
    if (length && window.__answerLengths.at(-1) !== length) window.__answerLengths.push(length);
  }).observe(document.getElementById('messages'), {subtree: true, childList: true, characterData: true});
});
"""


def hold_talk(page: Page, seconds: float, say: str | None = None) -> None:
    """Holds the talk button with the mouse (a press the browser counts as a user gesture) for `seconds` after the
    microphone opened, saying `say` (base64 speech) into the scripted microphone if given, then releases it."""
    page.hover("#talk")
    page.mouse.down()
    page.wait_for_selector("#talk.recording", timeout=30_000)
    if say is not None:
        page.evaluate("(speech) => window.__say(speech)", say)
    page.wait_for_timeout(int(seconds * 1000))
    page.mouse.up()


def test_push_to_talk_streams_the_held_microphone_over_the_voice_socket_and_plays_the_answer_as_it_is_written(
    main: ServiceProcess, voice: ServiceProcess, tmp_path: Path, playwright: Playwright
) -> None:
    wav = tmp_path / "question.wav"
    write_speech_wav(voice, wav, [(0.3, "Please tell me about the weather on Mars.")])
    with wave.open(str(wav)) as speech:
        seconds = speech.getnframes() / speech.getframerate()
    script = PAGE_WATCH + SENT_WATCH + ANSWER_WATCH
    with browser_page(playwright, fake_microphone(wav), script, "push_to_talk") as page:
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        errors: list[Exception] = []
        page.on("pageerror", lambda error: errors.append(error))
        page.goto(main.url)
        page.wait_for_selector("#talk:not([disabled])")
        page.select_option("#path", "fast")
        page.check("#speak-answers")

        # A tap released before the microphone opens must not leave it open, nor send a turn.
        page.evaluate("""() => {
          const talk = document.getElementById('talk');
          talk.dispatchEvent(new PointerEvent('pointerdown'));
          talk.dispatchEvent(new PointerEvent('pointerup'));
        }""")
        wait_until(page, "window.__microphones.length === 1", timeout_s=10)
        wait_until(page, "window.__microphones[0].stream.getTracks().every((t) => t.readyState === 'ended')", 10)
        assert not page.locator("#talk.recording").count()

        hold_talk(page, seconds + 0.5)  # the fake microphone plays the file in real time
        page.wait_for_selector(".message.user", timeout=60_000)
        wait_until(page, "window.__voiceEvents.some((e) => e.type === 'audio.end')", timeout_s=120)  # all audio sent
        # ... and played to its end: the session waits for the next press.
        page.wait_for_selector("#voice-state[data-state='idle']", timeout=30_000)
        stats = page.evaluate("({...window.voiceStats})")
        events = page.evaluate("window.__voiceEvents")
        sent = page.evaluate("window.__voiceSent")
        answer_lengths = page.evaluate("window.__answerLengths")
        heard = page.locator(".message.user .body").last.inner_text().lower()
        answer = page.locator(".message.assistant .body").last.inner_text()
        microphones_closed = page.evaluate(
            "window.__microphones.every((m) => m.stream.getTracks().every((t) => t.readyState === 'ended'))"
        )
        assert page.locator("#voice-state").get_attribute("data-played-samples") == str(stats["playedSamples"])

    types = [event["type"] for event in events]
    assert "weather" in heard, (heard, types)
    assert "mars" in heard, (heard, types)
    assert answer.strip(), types
    # One voice session, in push-to-talk mode: the microphone went out while the button was held, then `commit`
    # ended the turn (the tap sent none); the server detected no speech of its own.
    sent_types = [message["type"] for message in sent]
    assert sent[0] == {"type": "config", "path": "fast", "speak": True, "turn_detection": "manual"}, sent
    assert sent_types.count("commit") == 1, sent
    assert sent_types[-2:] == ["audio", "commit"], sent
    assert sum(m["frames"] for m in sent if m["type"] == "audio") >= 50 * seconds, sent  # 20 ms frames, all of it
    assert "speech.started" not in types, types
    assert "speech.stopped" not in types, types
    assert microphones_closed
    # The answer was spoken while it was written: its speech started before `final`, and the page showed the
    # answer growing in more than one step.
    assert types.index("transcript") < types.index("audio.start") < types.index("final"), types
    assert len(answer_lengths) >= 2, answer_lengths
    # All of it was played, and it was speech, not silence.
    assert stats["playedSamples"] >= SPEECH_RATE // 2, (stats, types)
    assert stats["playedSamples"] == stats["receivedSamples"], stats
    assert stats["peak"] > 0.05, stats
    # Nothing went the old way (an upload to /api/voice/transcribe, the answer fetched from /api/voice/speak).
    assert not [url for url in requests if "/api/voice/" in url], requests
    assert not errors


def test_pressing_talk_during_the_answer_silences_it_at_once_and_the_next_question_is_answered(
    start_main: StartService, voice: ServiceProcess, playwright: Playwright
) -> None:
    main = start_main(voice, COUNCIL_LLM__MAX_TOKENS="64")  # an answer that speaks for several seconds
    question, interruption = speech_base64(voice, QUESTION), speech_base64(voice, INTERRUPTION)
    question_s, interruption_s = (len(base64.b64decode(s)) / 2 / SPEECH_RATE for s in (question, interruption))
    script = PAGE_WATCH + SENT_WATCH + SCRIPTED_MICROPHONE
    with browser_page(playwright, AUTOPLAY, script, "push_to_talk_interrupted") as page:
        errors: list[Exception] = []
        page.on("pageerror", lambda error: errors.append(error))
        page.goto(main.url)
        page.wait_for_selector("#talk:not([disabled])")
        page.select_option("#path", "fast")
        hold_talk(page, question_s + 0.3, say=question)
        # The answer is being heard: a quarter of a second of it has played.
        wait_until(page, f"window.voiceStats.playedSamples > {SPEECH_RATE // 4}", timeout_s=120)
        playing = page.evaluate("({...window.voiceStats})")
        hold_talk(page, interruption_s + 0.3, say=interruption)
        page.wait_for_selector(".message.user >> nth=1", timeout=60_000)
        events = page.evaluate("window.__voiceEvents")
        sent = [message["type"] for message in page.evaluate("window.__voiceSent")]
        heard = [text.lower() for text in page.locator(".message.user .body").all_inner_texts()]
        first_answer = page.locator(".message.assistant .body").first.inner_text()

    first_turn, second_turn = (e for e in events if e["type"] == "transcript")
    assert "mountain" in heard[0]
    assert "mars" in heard[1], heard
    # It was speaking when the button was pressed; the press sent `cancel` before the second question ...
    assert playing["state"] == "speaking", playing
    second_press = sent[sent.index("commit") + 1 :]
    assert second_press.index("cancel") < second_press.index("audio"), sent
    assert second_press[-2:] == ["audio", "commit"], sent
    cancelled = next(e for e in events if e["type"] == "cancelled")
    assert cancelled["id"] == first_turn["id"]
    assert first_answer.endswith("(stopped)"), first_answer
    # ... and from then on nothing more of it was heard (beyond the player's ~0.1 s report interval).
    heard_meanwhile = second_turn["playedSamples"] - playing["playedSamples"]
    assert heard_meanwhile <= 0.25 * SPEECH_RATE, (heard_meanwhile, events)
    assert not errors
