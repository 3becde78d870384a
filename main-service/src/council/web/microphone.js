// The microphone for /ws/voice: a getUserMedia stream cut into 20 ms frames of 16 kHz s16le by the `mic-capture`
// worklet (voice-worklet.js). It can be opened and closed within one session (push-to-talk opens it per press);
// closing hands over the last, part-filled frame before it says it is done.

const INPUT_RATE = 16_000; // the socket's contract for microphone audio
const FRAME_SAMPLES = 320; // 20 ms per binary frame
const CONSTRAINTS = { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 };

export function stopTracks(stream) {
  stream.getTracks().forEach((track) => track.stop());
}

export class Microphone {
  // onFrame(buffer): one frame of audio, in the order it was captured.
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.node = null;
    this.stream = null;
    this.source = null;
    this.flushes = []; // close()s waiting for the worklet to hand over what it still holds
  }

  // Asked for as early as possible (it may prompt); connect() the stream once the worklet is attached.
  static request() {
    return navigator.mediaDevices.getUserMedia({ audio: CONSTRAINTS });
  }

  get open() {
    return this.stream !== null;
  }

  attach(context) {
    const node = new AudioWorkletNode(context, "mic-capture", {
      processorOptions: { targetRate: INPUT_RATE, frameSamples: FRAME_SAMPLES },
    });
    node.port.onmessage = ({ data }) => {
      if (node !== this.node) return;
      if (data instanceof ArrayBuffer) this.onFrame(data);
      else if (data.type === "flushed" && this.flushes.length) this.flushes.shift()();
    };
    // Connected (it outputs silence) so that every browser keeps pulling audio through it.
    node.connect(context.destination);
    this.node = node;
  }

  connect(stream) {
    this.stream = stream;
    this.source = this.node.context.createMediaStreamSource(stream);
    this.source.connect(this.node);
  }

  // Stops capturing; resolves once every frame of what was captured has gone to onFrame.
  close() {
    if (!this.stream) return Promise.resolve();
    stopTracks(this.stream);
    this.source.disconnect();
    this.stream = this.source = null;
    return new Promise((resolve) => {
      this.flushes.push(resolve);
      this.node.port.postMessage({ type: "flush" });
    });
  }

  // The audio graph goes away (the session ends): nothing more is captured or waited for.
  detach() {
    if (this.stream) stopTracks(this.stream);
    this.node = this.stream = this.source = null;
    this.flushes.splice(0).forEach((resolve) => resolve());
  }
}
