// What the page shows of a voice session, hands-free or push-to-talk: its state in the voice bar, the words heard so
// far, each spoken turn as a message with its answer (turn-view.js), and why the session stopped.

import { renderEvent, startTurn } from "./turn-view.js";

const $ = (id) => document.getElementById(id);
const STATES = {
  off: "voice off", connecting: "connecting…", listening: "listening…", thinking: "thinking…", speaking: "speaking…",
  idle: "hold to talk",
};
const MODES = { "hands-free": "Hands-free", "push-to-talk": "Push-to-talk" };

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text; // unchanged text is not announced again
}

export class VoiceView {
  // notify(text): a notice for the user; onFinal(event): a spoken turn's answer is complete.
  constructor({ notify, onFinal }) {
    this.notify = notify;
    this.onFinal = onFinal;
    this.bar = $("voice-bar");
    this.state = $("voice-state");
    this.heard = $("live-transcript");
    this.turn = null; // the view of the turn the voice session is answering
    this.error = ""; // what went wrong before the session closed, to say why it closed
  }

  begin() {
    this.error = "";
    setText(this.heard, "");
  }

  show(session) {
    const { state, playedSamples } = session.stats;
    this.bar.hidden = state === "off";
    this.state.dataset.state = state;
    this.state.dataset.playedSamples = String(playedSamples);
    setText(this.state, STATES[state] || state);
  }

  onEvent(event) {
    switch (event.type) {
      case "speech.started":
      case "audio.resumed": // it was a backchannel or a noise: nothing to keep of it
        setText(this.heard, "");
        break;
      case "transcript.delta":
        this.heard.textContent += event.delta;
        break;
      case "transcript":
        setText(this.heard, "");
        this.startTurn(event);
        break;
      case "audio.start": // an acknowledgement ("let me put that to the council") is said while the council works
        if (event.kind === "acknowledgement" && event.text && this.turn && event.id === this.turn.id) {
          this.turn.meta.textContent += ` · “${event.text}”`;
        }
        break;
      case "session.closed":
        this.closed(event);
        break;
      case "error": // said aside: a turn's text may still go on to `final` when only its speech failed
        if (!event.id) this.error = `${event.message} (${event.code})`;
        this.notify(`Voice: ${event.message} (${event.code})`);
        break;
      default:
        if (this.turn && event.id === this.turn.id) {
          renderEvent(this.turn, event);
          if (event.type === "final") this.onFinal(event);
        }
    }
  }

  startTurn(event) {
    const text = (event.text || "").trim();
    if (!text) return; // nothing was understood: no turn
    this.turn = startTurn(event.id, text, "voice");
  }

  closed(event) {
    this.turn = null;
    setText(this.heard, "");
    // A push-to-talk session left idle is closed by the server (`idle timeout`): the next press opens another.
    const quiet = event.mode === "push-to-talk" && event.code === 1000 && !this.error;
    if (!quiet) {
      const why = this.error || event.reason || `the connection closed (${event.code})`;
      this.notify(`${MODES[event.mode] || "Voice"} stopped: ${why}.`);
    }
    this.error = "";
  }
}
