// The answer's speech from /ws/voice: the `answer-player` worklet (voice-worklet.js, a jitter buffer for the 24 kHz
// s16le stream) and which answer's audio it takes. Audio of an answer that was interrupted, still on its way, is
// dropped here rather than played.

const OUTPUT_RATE = 24_000; // the socket's contract for answer audio
const PREBUFFER_SECONDS = 0.12; // audio held before playback starts (or restarts after a gap)

export class AnswerPlayback {
  // stats: the session's counters, written here; onChange(): the player's state or counters changed.
  constructor(stats, onChange) {
    this.stats = stats;
    this.onChange = onChange;
    this.node = null;
    this.reset();
  }

  reset() {
    this.audio = null; // {id, kind, open}: the answer audio being received or played; null drops binary frames
    this.held = false; // paused because the user speaks over it
    this.player = { state: "idle" };
  }

  attach(context) {
    const node = new AudioWorkletNode(context, "answer-player", {
      numberOfInputs: 0,
      outputChannelCount: [1],
      processorOptions: { sourceRate: OUTPUT_RATE, prebufferSeconds: PREBUFFER_SECONDS },
    });
    node.port.onmessage = (message) => node === this.node && this.onReport(message.data);
    node.connect(context.destination);
    this.node = node;
  }

  detach() {
    this.node = null;
    this.reset();
  }

  // What the listener hears (or is about to): speech playing, audio buffered to play (after an underrun, too: the
  // rest of the answer may all be in, `audio.end` said, and not played yet), or an answer's audio still arriving.
  get audible() {
    if (this.held) return false;
    return ["playing", "buffering"].includes(this.player.state) || Boolean(this.audio && this.audio.open);
  }

  // An answer (or its acknowledgement: they share a turn) begins; another turn's audio still buffered goes.
  start(id, kind) {
    if (this.audio && this.audio.id !== id) this.drop();
    this.release();
    this.audio = { id, kind, open: true };
    this.command({ type: "start" });
  }

  end(id) {
    if (this.audio && this.audio.id === id) this.audio.open = false;
    this.command({ type: "end" });
  }

  push(buffer) {
    if (!this.audio || !this.audio.open || !this.node) return; // e.g. audio of a cancelled turn in flight
    const whole = buffer.byteLength - (buffer.byteLength % 2);
    const samples = whole === buffer.byteLength ? buffer : buffer.slice(0, whole);
    this.stats.receivedSamples += whole / 2;
    this.node.port.postMessage({ type: "push", buffer: samples }, [samples]);
  }

  // The user speaks over the answer: it pauses at once, its buffer kept.
  hold() {
    if (!this.audio && this.player.state === "idle") return;
    this.held = true;
    this.command({ type: "pause" });
  }

  release() {
    if (!this.held) return;
    this.held = false;
    this.command({ type: "resume" });
  }

  // A real interruption (of turn `id`, or of whatever plays): the buffered audio goes at once, late frames too.
  drop(id) {
    if (id && this.audio && this.audio.id !== id) return;
    this.audio = null;
    this.held = false;
    this.command({ type: "clear" });
  }

  command(message) {
    if (this.node) this.node.port.postMessage(message);
  }

  onReport(report) {
    this.player = report;
    Object.assign(this.stats, {
      playedSamples: report.playedSamples,
      bufferedSamples: report.bufferedSamples,
      underruns: report.underruns,
      peak: report.peak,
    });
    this.onChange();
  }
}
