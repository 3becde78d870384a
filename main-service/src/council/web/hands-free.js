// Hands-free: the microphone stays open for the whole voice session; the server hears where each turn begins and
// ends, and speaking over the answer interrupts it (docs/voice-socket.md). The session is voice-session.js's.

export class HandsFree {
  constructor(session) {
    this.session = session;
  }

  get on() {
    return this.session.mode === "hands-free";
  }

  // From a click. Resolves once the microphone streams; rejects with what kept it from starting.
  async start(config) {
    if (this.session.active) this.session.stop(); // a push-to-talk session gives way
    this.session.start("hands-free", config);
    try {
      await this.session.listen();
    } catch (error) {
      this.session.stop();
      throw error;
    }
  }

  stop() {
    if (this.on) this.session.stop();
  }
}
