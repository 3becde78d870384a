// One conversation over WS /ws/voice (docs/voice-socket.md), the same for hands-free and push-to-talk: the socket,
// the audio graph (microphone.js in, answer-playback.js out) and the bookkeeping of turns that gives the state the
// page shows (connecting, listening, thinking, speaking, idle). The page renders the events it is handed.

import { AnswerPlayback } from "./answer-playback.js";
import { socketProtocols } from "./key.js";
import { Microphone, stopTracks } from "./microphone.js";

// After `final`, how long the answer's audio may take to start before the turn counts as done without speech
// (servers that speak only after `final` send `audio.start` right after it).
const AUDIO_GRACE_MS = 2000;
// Audio and messages held while the socket opens, then sent at once: words said straight away are not lost (5 s).
const OUTBOX_LIMIT = 250;

export class VoiceSession {
  // onEvent(event): every text event from the server; onChange(session): the state or the stats changed.
  constructor({ onEvent, onChange }) {
    this.onEvent = onEvent;
    this.onChange = onChange;
    this.stats = { state: "off" }; // one object for the page's lifetime (window.voiceStats); reset per session
    this.mode = null; // "hands-free" or "push-to-talk" while a session runs
    this.context = null;
    this.socket = null;
    this.loaded = null; // the worklets, being loaded into the context
    this.microphone = new Microphone((frame) => this.sendAudio(frame));
    this.playback = new AnswerPlayback(this.stats, () => this.setState());
    this.clear();
  }

  clear() {
    this.ready = false;
    this.outbox = [];
    this.sentConfig = null; // the last config sent, not sent again unchanged
    this.framesHeard = 0; // frames since the microphone opened
    this.userSpeaking = false;
    this.awaitingTranscript = false; // the turn is over (said by the server, or committed); its transcript not in
    this.turn = null; // {id, closed, spoken, awaitingAudio}: the answer being given
    this.interrupted = null; // the turn the user stopped: its audio, should it start after all, is not played
  }

  get active() {
    return this.context !== null; // from the gesture that starts it until stop()
  }

  // From a user gesture (browsers start an AudioContext only then). listen() opens the microphone.
  start(mode, config) {
    const context = new AudioContext({ latencyHint: "interactive" });
    this.clear();
    this.context = context;
    this.mode = mode;
    this.config = config;
    Object.assign(this.stats, {
      framesSent: 0, receivedSamples: 0, playedSamples: 0, bufferedSamples: 0, underruns: 0, peak: 0,
    });
    this.loaded = context.audioWorklet.addModule("/static/voice-worklet.js").then(() => {
      if (this.context !== context) return;
      this.playback.attach(context);
      this.microphone.attach(context);
      this.openSocket();
    });
    this.loaded.catch(() => {}); // listen() reports it
    this.setState();
  }

  // Opens the microphone and streams it. When `wanted()` is false by the time it is open (a push-to-talk tap,
  // already released) it is closed unused. Resolves whether it streams; rejects when it cannot open.
  async listen(wanted = () => true) {
    const context = this.context;
    if (!context) return false;
    if (context.state === "suspended") context.resume().catch(() => {}); // started by a press no gesture counted
    const request = Microphone.request();
    request.catch(() => {}); // awaited below, after the worklets
    try {
      await this.loaded;
    } catch (error) {
      request.then(stopTracks, () => {});
      this.stop();
      throw error;
    }
    const stream = await request;
    if (this.context !== context || !wanted() || this.microphone.open) {
      stopTracks(stream);
      return false;
    }
    this.framesHeard = 0;
    this.microphone.connect(stream);
    this.setState();
    return true;
  }

  // Closes the microphone once everything it captured has been handed to the socket; resolves with how many
  // frames it captured since it opened.
  async stopListening() {
    await this.microphone.close();
    this.setState();
    return this.framesHeard;
  }

  // Push-to-talk released: the turn is what was said since the microphone opened; the server ends it at once.
  commit() {
    if (!this.socket) return; // the session ended meanwhile
    this.transmit(JSON.stringify({ type: "commit" }));
    this.awaitingTranscript = true;
    this.setState();
  }

  // The user takes the floor (push-to-talk pressed): the answer being given stops, its buffered speech at once.
  interrupt() {
    const turn = this.turn;
    if ((turn && !turn.closed) || (this.playback.audio && this.playback.audio.open)) {
      this.transmit(JSON.stringify({ type: "cancel" }));
    }
    if (turn) {
      turn.closed = true;
      turn.awaitingAudio = false;
      this.interrupted = turn.id;
    }
    this.playback.drop();
    this.setState();
  }

  openSocket() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/voice`, socketProtocols());
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => this.configure(this.config));
    socket.addEventListener("message", (message) => socket === this.socket && this.onMessage(message.data));
    socket.addEventListener("close", (event) => socket === this.socket && this.onClose(event));
    this.socket = socket;
  }

  // Path, conversation and speech can change while the session runs; the server echoes the effective config.
  configure(config) {
    this.config = config;
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return; // sent once it opens
    const message = { type: "config", path: config.path, speak: this.speaks };
    if (config.threadId) message.thread_id = config.threadId;
    if (this.mode === "push-to-talk") message.turn_detection = "manual"; // only `commit` ends a turn
    const text = JSON.stringify(message);
    if (text === this.sentConfig) return; // push-to-talk configures at every press; the server needs it once
    this.sentConfig = text;
    socket.send(text);
  }

  get speaks() {
    return this.mode === "hands-free" || this.config.speak !== false;
  }

  stop() {
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, `${this.mode} off`);
    this.microphone.detach();
    this.playback.detach();
    if (this.context) this.context.close();
    this.context = this.loaded = this.mode = null;
    this.clear();
    this.setState();
  }

  sendAudio(frame) {
    this.framesHeard += 1;
    this.transmit(frame);
  }

  // Sends now, or once the socket is ready (in order, the oldest audio dropped past the outbox's limit).
  transmit(data) {
    const socket = this.socket;
    if (!socket) return;
    if (!this.ready || socket.readyState !== WebSocket.OPEN) {
      this.outbox.push(data);
      if (this.outbox.length > OUTBOX_LIMIT) this.outbox.shift();
      return;
    }
    socket.send(data);
    if (typeof data !== "string") this.stats.framesSent += 1;
  }

  onMessage(data) {
    if (data instanceof ArrayBuffer) {
      this.playback.push(data);
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
    const mode = this.mode;
    this.stop();
    this.onEvent({ type: "session.closed", mode, code: event.code, reason: event.reason });
  }

  // The session's own bookkeeping of the events: turn, audio stream, player commands. Unknown events pass.
  track(event) {
    switch (event.type) {
      case "ready":
        this.ready = true;
        this.outbox.splice(0).forEach((data) => this.transmit(data));
        break;
      case "speech.started": // hands-free only: push-to-talk (`manual`) has no speech events
        this.userSpeaking = true;
        this.playback.hold();
        break;
      case "speech.stopped":
        this.userSpeaking = false;
        this.awaitingTranscript = true;
        break;
      case "transcript":
        this.onTranscript(event);
        // Pressed again before this turn's transcript came: the new press takes the floor from it too.
        if (this.mode === "push-to-talk" && this.microphone.open) this.interrupt();
        break;
      case "final":
        this.sentConfig = null; // the server now holds the turn's thread: the page's next config is news to it
        this.closeTurn(event.id);
        if (event.answer && this.speaks && event.id !== this.interrupted && !(this.turn && this.turn.spoken)) {
          this.awaitAudio(this.turn);
        }
        break;
      case "error":
        this.awaitingTranscript = false;
        if (event.id) this.closeTurn(event.id);
        break;
      case "audio.start":
        if (event.id === this.interrupted) break; // it started before the server had our `cancel`
        this.playback.start(event.id, event.kind || "answer");
        if (this.turn && this.turn.id === event.id) Object.assign(this.turn, { spoken: true, awaitingAudio: false });
        break;
      case "audio.end":
        this.playback.end(event.id);
        break;
      case "audio.paused":
        this.playback.hold();
        break;
      case "audio.resumed": // a backchannel or a noise: the answer goes on, no new turn follows
        this.awaitingTranscript = this.userSpeaking = false;
        this.playback.release();
        break;
      case "barge_in":
      case "cancelled":
        this.playback.drop(event.id);
        this.closeTurn(event.id);
        break;
    }
  }

  onTranscript(event) {
    this.awaitingTranscript = false;
    if (!event.text || !event.text.trim()) {
      this.playback.release(); // nothing was said after all
      return;
    }
    this.playback.drop(); // the user's words are the next turn: what is left of the last answer is not wanted
    this.turn = { id: event.id, closed: false, spoken: false };
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

  currentState() {
    if (!this.context) return "off";
    if (this.mode === "push-to-talk" && this.microphone.open) return "listening"; // held (heard once it connects)
    if (!this.ready) return "connecting";
    if (this.playback.audible) return "speaking";
    if (this.userSpeaking) return "listening";
    const turn = this.turn;
    if (this.awaitingTranscript || (turn && (!turn.closed || turn.awaitingAudio))) return "thinking";
    return this.mode === "push-to-talk" ? "idle" : "listening";
  }

  setState() {
    this.stats.state = this.currentState();
    this.onChange(this);
  }
}
