// AudioWorklet processors for voice over /ws/voice: the microphone cut into 16 kHz s16le frames, and a
// jitter-buffered player of the answer's 24 kHz s16le stream. Loaded same-origin (CSP script-src 'self').
/* global sampleRate, AudioWorkletProcessor, registerProcessor */

// Reports of the player's state go out at most this often (in render quanta of 128 frames: ~100 ms at 48 kHz).
const REPORT_EVERY_QUANTA = 37;

// Microphone → 16 kHz mono s16le frames, posted as ArrayBuffers of `frameSamples` samples each.
class MicCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { targetRate, frameSamples } = options.processorOptions;
    this.step = sampleRate / targetRate; // input samples per output sample (`sampleRate` is the context's)
    this.frameSamples = frameSamples;
    this.frame = new Int16Array(frameSamples);
    this.filled = 0;
    this.sum = 0;
    this.count = 0;
    this.phase = 0;
    this.port.onmessage = (event) => event.data.type === "flush" && this.flush();
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0]; // the first channel is the microphone (mono or identical channels)
    if (channel) for (let i = 0; i < channel.length; i += 1) this.take(channel[i]);
    return true;
  }

  // Decimation by averaging the input samples of each output period: a box low-pass, plenty for speech.
  take(sample) {
    this.sum += sample;
    this.count += 1;
    this.phase += 1;
    if (this.phase < this.step) return;
    this.phase -= this.step;
    this.emit(this.sum / this.count);
    this.sum = 0;
    this.count = 0;
  }

  emit(value) {
    const clamped = Math.max(-1, Math.min(1, value));
    this.frame[this.filled] = clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff;
    this.filled += 1;
    if (this.filled < this.frameSamples) return;
    this.port.postMessage(this.frame.buffer, [this.frame.buffer]); // transferred: the next frame is a new array
    this.frame = new Int16Array(this.frameSamples);
    this.filled = 0;
  }

  // The microphone was let go (push-to-talk released): the part-filled frame goes out as it is, then a marker that
  // says every frame captured so far has been posted.
  flush() {
    if (this.filled) {
      const rest = this.frame.slice(0, this.filled);
      this.port.postMessage(rest.buffer, [rest.buffer]);
    }
    this.filled = this.sum = this.count = this.phase = 0;
    this.port.postMessage({ type: "flushed" });
  }
}

// The answer's speech: s16le chunks in, resampled to the context's rate by linear interpolation. It waits for
// `prebufferSeconds` of audio before it starts (and after running dry mid-stream), so network jitter is not heard.
class AnswerPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { sourceRate, prebufferSeconds } = options.processorOptions;
    this.step = sourceRate / sampleRate; // source samples per output sample
    this.prebuffer = Math.round(prebufferSeconds * sourceRate);
    this.stats = { playedSamples: 0, bufferedSamples: 0, underruns: 0, peak: 0, state: "idle" };
    this.ended = true; // no stream open: what is buffered plays out without waiting for more
    this.paused = false;
    this.quanta = 0;
    this.clear();
    this.port.onmessage = (event) => this.command(event.data);
  }

  clear() {
    this.chunks = [];
    this.offset = 0; // read position in chunks[0]
    this.stats.bufferedSamples = 0;
    this.previous = 0; // the two source samples the output is interpolated between
    this.next = 0;
    this.fraction = 1; // position between them; 1 = take the next source sample first
    this.waiting = true;
  }

  command(message) {
    if (message.type === "push") {
      const samples = new Int16Array(message.buffer);
      const chunk = new Float32Array(samples.length);
      for (let i = 0; i < samples.length; i += 1) chunk[i] = samples[i] / 32768;
      this.chunks.push(chunk);
      this.stats.bufferedSamples += chunk.length;
    } else if (message.type === "start") {
      this.ended = false;
    } else if (message.type === "end") {
      this.ended = true;
    } else if (message.type === "pause") {
      this.paused = true;
    } else if (message.type === "resume") {
      this.paused = false;
    } else if (message.type === "clear") {
      this.clear();
      this.ended = true;
      this.paused = false;
    }
    this.report(message.type !== "push");
  }

  shift() {
    const chunk = this.chunks[0];
    if (!chunk) return undefined;
    const value = chunk[this.offset];
    this.offset += 1;
    if (this.offset === chunk.length) {
      this.chunks.shift();
      this.offset = 0;
    }
    this.stats.bufferedSamples -= 1;
    this.stats.playedSamples += 1;
    return value;
  }

  // One output sample, or undefined when the buffer ran dry.
  render() {
    while (this.fraction >= 1) {
      const value = this.shift();
      if (value === undefined) return undefined;
      this.previous = this.next;
      this.next = value;
      this.fraction -= 1;
    }
    const out = this.previous + (this.next - this.previous) * this.fraction;
    this.fraction += this.step;
    return out;
  }

  canPlay() {
    if (this.paused || this.stats.bufferedSamples === 0) return false;
    return !this.waiting || this.ended || this.stats.bufferedSamples >= this.prebuffer;
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    if (this.canPlay()) {
      this.waiting = false;
      for (let i = 0; i < out.length; i += 1) {
        const value = this.render();
        if (value === undefined) {
          this.ranDry();
          break;
        }
        out[i] = value;
        this.stats.peak = Math.max(this.stats.peak, Math.abs(value));
      }
    }
    this.report(false);
    return true;
  }

  ranDry() {
    this.waiting = true;
    if (!this.ended) this.stats.underruns += 1; // more is coming but late: rebuffer before going on
  }

  state() {
    if (this.paused) return "paused";
    if (this.stats.bufferedSamples > 0 || !this.ended) return this.waiting ? "buffering" : "playing";
    return "idle";
  }

  // Posts the stats on every change of state at once, and otherwise now and then while audio moves.
  report(force) {
    const state = this.state();
    this.quanta += 1;
    const changed = state !== this.stats.state;
    if (!changed && !force && (state === "idle" || this.quanta < REPORT_EVERY_QUANTA)) return;
    this.quanta = 0;
    this.stats.state = state;
    this.port.postMessage({ ...this.stats });
  }
}

registerProcessor("mic-capture", MicCapture);
registerProcessor("answer-player", AnswerPlayer);
