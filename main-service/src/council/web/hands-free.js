// Hands-free conversation over WS /ws/voice (docs/voice-socket.md): the open microphone goes out as 16 kHz s16le
// frames, the answer's 24 kHz speech comes back and plays through a jitter buffer, and the session keeps a
// listening / thinking / speaking state. Audio only: the page renders the events it is handed (app.js).

import { socketProtocols } from "./key.js";

const INPUT_RATE = 16_000; // the socket's contract for microphone audio
const FRAME_SAMPLES = 320; // 20 ms per binary frame
const PREBUFFER_SECONDS = 0.12; // the jitter buffer: audio held before playback starts (or restarts after a gap)
const MICROPHONE = { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 };
// After `final`, how long the answer's audio may take to start before the turn counts as done without speech
// (servers that speak only after `final` send `audio.start` right after it).
const AUDIO_GRACE_MS = 2000;

export class HandsFree {
  // onEvent(event): every text event from the server; onChange(session): the state or the stats changed.
  constructor({ onEvent, onChange }) {
    this.onEvent = onEvent;
    this.onChange = onChange;
    this.stats = { state: "off" }; // one object for the page's lifetime (window.handsFreeStats); reset per session
    this.context = null;
    this.socket = null;
    this.ready = false;
    this.userSpeaking = false;
    this.awaitingTranscript = false; // the user stopped speaking; the transcript has not come yet
    this.turn = null; // {id, closed, spoken, awaitingAudio}: the answer being given
    this.audio = null; // {id, kind, open}: the answer audio being received or played; null drops binary frames
    this.held = false; // playback paused because the user speaks over it
    this.player = { state: "idle" };
  }

  get active() {
    return this.context !== null; // from the click that starts it until stop()
  }

  // Call from a user gesture (a click): browsers start an AudioContext only then.
  async start(config) {
    this.context = new AudioContext({ latencyHint: "interactive" });
    this.config = config;
    this.player = { state: "idle" };
    Object.assign(this.stats, {
      framesSent: 0, receivedSamples: 0, playedSamples: 0, bufferedSamples: 0, underruns: 0, peak: 0,
    });
    this.setState();
    try {
      const [microphone] = await Promise.all([
        navigator.mediaDevices.getUserMedia({ audio: MICROPHONE }),
        this.context.audioWorklet.addModule("/static/voice-worklet.js"),
      ]);
      this.microphone = microphone;
    } catch (error) {
      this.stop();
      throw error;
    }
    if (!this.context) {
      this.microphone.getTracks().forEach((track) => track.stop()); // stopped while the microphone was opening
      this.microphone = null;
      return;
    }
    this.connectAudio();
    this.openSocket();
  }

  connectAudio() {
    const context = this.context;
    const player = new AudioWorkletNode(context, "answer-player", {
      numberOfInputs: 0,
      outputChannelCount: [1],
      processorOptions: { sourceRate: 24_000, prebufferSeconds: PREBUFFER_SECONDS },
    });
    player.port.onmessage = (message) => player === this.playerNode && this.onPlayer(message.data);
    player.connect(context.destination);
    this.playerNode = player;
    this.captureNode = new AudioWorkletNode(context, "mic-capture", {
      processorOptions: { targetRate: INPUT_RATE, frameSamples: FRAME_SAMPLES },
    });
    this.captureNode.port.onmessage = (message) => this.sendAudio(message.data);
    this.source = context.createMediaStreamSource(this.microphone);
    this.source.connect(this.captureNode);
    // Connected (it outputs silence) so that every browser keeps pulling audio through it.
    this.captureNode.connect(context.destination);
  }

  openSocket() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/voice`, socketProtocols());
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => this.configure(this.config));
    socket.addEventListener("message", (message) => this.onMessage(message.data));
    socket.addEventListener("close", (event) => socket === this.socket && this.onClose(event));
    this.socket = socket;
  }

  // Path and conversation can change while the session runs; the server echoes the effective config.
  configure(config) {
    this.config = config;
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    const message = { type: "config", path: config.path, speak: true };
    if (config.threadId) message.thread_id = config.threadId;
    this.socket.send(JSON.stringify(message));
  }

  stop() {
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, "hands-free off");
    if (this.microphone) this.microphone.getTracks().forEach((track) => track.stop());
    if (this.context) this.context.close();
    this.microphone = this.context = this.source = this.captureNode = this.playerNode = null;
    this.ready = this.userSpeaking = this.awaitingTranscript = false;
    this.turn = this.audio = null;
    this.held = false;
    this.player = { state: "idle" };
    this.setState();
  }

  sendAudio(buffer) {
    if (!this.ready || !this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.send(buffer);
    this.stats.framesSent += 1;
  }

  onMessage(data) {
    if (data instanceof ArrayBuffer) {
      this.playAudio(data);
      return;
    }
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    this.track(event);
    this.onEvent(event);
    this.setState();
  }

  // The server (or the network) ended the session; stop() closing it does not come here.
  onClose(event) {
    this.stop();
    this.onEvent({ type: "session.closed", code: event.code, reason: event.reason });
  }

  // The session's own bookkeeping of the events: turn, audio stream, player commands. Unknown events pass.
  track(event) {
    switch (event.type) {
      case "ready":
        this.ready = true;
        break;
      case "speech.started":
        this.userSpeaking = true;
        this.holdPlayback();
        break;
      case "speech.stopped":
        this.userSpeaking = false;
        this.awaitingTranscript = true;
        break;
      case "transcript":
        this.onTranscript(event);
        break;
      case "final":
        this.closeTurn(event.id);
        if (event.answer && !(this.turn && this.turn.spoken)) this.awaitAudio(this.turn);
        break;
      case "error":
        this.awaitingTranscript = false;
        if (event.id) this.closeTurn(event.id);
        break;
      case "audio.start":
        this.onAudioStart(event);
        break;
      case "audio.end":
        if (this.audio && this.audio.id === event.id) this.audio.open = false;
        this.command({ type: "end" });
        break;
      case "audio.paused":
        this.holdPlayback();
        break;
      case "audio.resumed": // a backchannel or a noise: the answer goes on, no new turn follows
        this.awaitingTranscript = this.userSpeaking = false;
        this.releasePlayback();
        break;
      case "barge_in":
      case "cancelled":
        this.dropAudio(event.id);
        this.closeTurn(event.id);
        break;
    }
  }

  onTranscript(event) {
    this.awaitingTranscript = false;
    if (!event.text || !event.text.trim()) {
      this.releasePlayback(); // nothing was said after all
      return;
    }
    this.dropAudio(); // the user's words are the next turn: what is left of the last answer is not wanted
    this.turn = { id: event.id, closed: false, spoken: false };
  }

  onAudioStart(event) {
    // A new turn's answer replaces whatever is still buffered; an acknowledgement and its answer share a turn.
    if (this.audio && this.audio.id !== event.id) this.dropAudio();
    this.releasePlayback();
    this.audio = { id: event.id, kind: event.kind || "answer", open: true };
    if (this.turn && this.turn.id === event.id) Object.assign(this.turn, { spoken: true, awaitingAudio: false });
    this.command({ type: "start" });
  }

  closeTurn(id) {
    if (this.turn && this.turn.id === id) this.turn.closed = true;
  }

  // Keeps "thinking" from flickering to "listening" between `final` and the `audio.start` that follows it.
  awaitAudio(turn) {
    if (!turn) return;
    turn.awaitingAudio = true;
    setTimeout(() => {
      turn.awaitingAudio = false;
      if (this.turn === turn) this.setState();
    }, AUDIO_GRACE_MS);
  }

  // The user speaks over the answer: it pauses at once, buffer kept. Speech synthesizes faster than it plays, so
  // the server may have sent all of it already and say nothing more; the transcript then decides (onTranscript).
  holdPlayback() {
    if (!this.audio && this.player.state === "idle") return;
    this.held = true;
    this.command({ type: "pause" });
  }

  releasePlayback() {
    if (!this.held) return;
    this.held = false;
    this.command({ type: "resume" });
  }

  // A real interruption (of turn `id`, or of whatever plays): the buffered audio goes at once, late frames too.
  dropAudio(id) {
    if (id && this.audio && this.audio.id !== id) return;
    this.audio = null;
    this.held = false;
    this.command({ type: "clear" });
  }

  playAudio(buffer) {
    if (!this.audio || !this.audio.open || !this.playerNode) return; // e.g. audio of a cancelled turn in flight
    const whole = buffer.byteLength - (buffer.byteLength % 2);
    const samples = whole === buffer.byteLength ? buffer : buffer.slice(0, whole);
    this.stats.receivedSamples += whole / 2;
    this.playerNode.port.postMessage({ type: "push", buffer: samples }, [samples]);
  }

  command(message) {
    if (this.playerNode) this.playerNode.port.postMessage(message);
  }

  onPlayer(report) {
    this.player = report;
    Object.assign(this.stats, {
      playedSamples: report.playedSamples,
      bufferedSamples: report.bufferedSamples,
      underruns: report.underruns,
      peak: report.peak,
    });
    this.setState();
  }

  currentState() {
    if (!this.context) return "off";
    if (!this.ready) return "connecting";
    if (!this.held && (this.player.state === "playing" || (this.audio && this.audio.open))) return "speaking";
    if (this.userSpeaking) return "listening";
    const turn = this.turn;
    if (this.awaitingTranscript || (turn && (!turn.closed || turn.awaitingAudio))) return "thinking";
    return "listening";
  }

  setState() {
    this.stats.state = this.currentState();
    this.onChange(this);
  }
}
