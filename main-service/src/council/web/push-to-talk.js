// Push-to-talk over /ws/voice: while the button is held the microphone streams to the voice session (turn detection
// `manual`); on release the page sends `commit` and the server ends the turn at once, then answers as it does
// hands-free. A press during an answer stops it. The session (voice-session.js) stays open between presses.

export class PushToTalk {
  constructor(session) {
    this.session = session;
    this.held = false;
    this.steps = Promise.resolve(); // presses and releases, each done before the next begins
  }

  get on() {
    return this.session.mode === "push-to-talk";
  }

  // From the press (a user gesture: the first one starts the session's audio). Rejects with what kept the
  // microphone shut.
  press(config) {
    if (this.held) return this.steps;
    this.held = true;
    if (this.on) {
      this.session.configure(config);
    } else {
      if (this.session.active) this.session.stop();
      this.session.start("push-to-talk", config);
    }
    this.session.interrupt();
    // Released before the microphone opened: a tap, nothing to say; the microphone is closed unused.
    return this.queue(() => this.session.listen(() => this.held));
  }

  release() {
    if (!this.held) return this.steps;
    this.held = false;
    return this.queue(async () => {
      if (!this.session.microphone.open) return;
      if ((await this.session.stopListening()) > 0) this.session.commit();
    });
  }

  queue(step) {
    const done = this.steps.then(step);
    this.steps = done.catch(() => {}); // the caller hears of a failure; the next step runs regardless
    return done;
  }
}
