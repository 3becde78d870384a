// Typed chat: one /ws/chat socket (reconnecting), at most one typed turn at a time, rendered by turn-view.js as its
// events arrive (docs/websocket.md). The page says where the turn goes (`turnOptions()`) and hears when it is
// answered (`onAnswered(final)`), since an answer may start a conversation.

import { socketProtocols } from "./key.js";
import { addMessage, renderEvent, startTurn } from "./turn-view.js";

export class TypedChat {
  constructor({ connection, send, cancel, turnOptions, onAnswered }) {
    this.ui = { connection, send, cancel };
    this.turnOptions = turnOptions;
    this.onAnswered = onAnswered;
    this.socket = null;
    this.turn = null; // the turn being answered: a view from startTurn()
    this.counter = 0;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = (this.socket = new WebSocket(`${scheme}://${location.host}/ws/chat`, socketProtocols()));
    this.showConnection("connecting", "connecting…");
    socket.addEventListener("open", () => this.showConnection("open", "connected"));
    socket.addEventListener("close", () => {
      this.showConnection("closed", "disconnected — retrying");
      if (this.turn) this.finish("(connection lost)");
      setTimeout(() => this.connect(), 2000);
    });
    socket.addEventListener("message", (message) => this.handle(JSON.parse(message.data)));
  }

  showConnection(state, text) {
    this.ui.connection.textContent = text;
    this.ui.connection.dataset.state = state;
  }

  handle(event) {
    if (event.type === "pong") return;
    if (!this.turn || event.id !== this.turn.id) {
      if (event.type === "error") addMessage("error", `${event.message} (${event.code})`);
      return;
    }
    renderEvent(this.turn, event);
    if (event.type === "final") {
      this.finish();
      this.onAnswered(event);
    } else if (event.type === "error" || event.type === "cancelled") {
      this.finish();
    }
  }

  finish(note = "") {
    if (note && this.turn) this.turn.answer.textContent += ` ${note}`;
    this.turn = null;
    this.ui.send.disabled = false;
    this.ui.cancel.hidden = true;
  }

  cancel() {
    if (this.turn) this.socket.send(JSON.stringify({ type: "cancel", id: this.turn.id }));
  }

  send(text) {
    const socket = this.socket;
    if (!text.trim() || !socket || socket.readyState !== WebSocket.OPEN || this.turn) return;
    this.counter += 1;
    const id = `turn-${Date.now()}-${this.counter}`;
    this.turn = startTurn(id, text);
    this.ui.send.disabled = true;
    this.ui.cancel.hidden = false;
    socket.send(JSON.stringify({ type: "message", id, text, ...this.turnOptions() }));
  }
}
