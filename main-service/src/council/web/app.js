// Hybrid AI Council web UI, wired together here: typed chat over /ws/chat (typed-chat.js), the conversations
// (conversations-view.js), the voice service's health, and talking over /ws/voice — push-to-talk or hands-free, two
// modes of one voice session (voice-session.js). Plain ES modules, no build step. Every server event is one of the
// orchestrator's typed events (docs/websocket.md, docs/voice-socket.md).

import { ConversationsView } from "./conversations-view.js";
import { HandsFree } from "./hands-free.js";
import { apiFetch } from "./key.js";
import { PushToTalk } from "./push-to-talk.js";
import { TypedChat } from "./typed-chat.js";
import { addMessage, clearConversation } from "./turn-view.js";
import { VoiceSession } from "./voice-session.js";
import { VoiceView } from "./voice-view.js";

const $ = (id) => document.getElementById(id);
const ui = {
  notice: $("notice"), composer: $("composer"), text: $("text"), path: $("path"), review: $("review-round"),
  rank: $("rank-answers"), send: $("send"), cancel: $("cancel"), talk: $("talk"), speak: $("speak-answers"),
  connection: $("connection"), voiceStatus: $("voice-status"), caller: $("caller"), conversations: $("conversations"),
  handsFree: $("hands-free"),
};

let threadId = null; // the conversation typed and spoken turns continue; null: the next answer starts one
let voiceReady = false; // the voice service answers (checked every 10 s)

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

const conversations = new ConversationsView(ui.conversations, {
  onOpened: (id, messages) => {
    threadId = id;
    clearConversation();
    if (voice.active) voice.configure(voiceConfig()); // go on talking in the conversation just opened
    for (const message of messages) addMessage(message.role === "user" ? "user" : "assistant", message.content, message.path || "");
    conversations.refresh(threadId);
  },
});

// A typed or spoken turn's answer is complete: it may have started a conversation.
function answered(event) {
  threadId = event.thread_id || threadId;
  conversations.refresh(threadId);
}

const chat = new TypedChat({
  connection: ui.connection,
  send: ui.send,
  cancel: ui.cancel,
  onAnswered: answered,
  turnOptions: () => {
    const options = { path: ui.path.value };
    // Ticked: this turn's council reviews / ranks; unticked: the server's defaults (COUNCIL_DELIBERATION__*).
    if (ui.review.checked) options.review_round = true;
    if (ui.rank.checked) options.ranking = true;
    if (threadId) options.thread_id = threadId;
    return options;
  },
});

async function checkVoice() {
  let status = "fail";
  let detail = "the main service did not answer";
  try {
    const health = await (await fetch("/health/ready")).json();
    const check = (health.checks["voice:ready"] || [])[0];
    status = check ? check.status : "fail";
    detail = check ? check.output || "" : "not configured";
  } catch (error) {
    detail = String(error);
  }
  ui.voiceStatus.dataset.state = status;
  ui.voiceStatus.textContent = status === "pass" ? "voice: ready" : "voice: unavailable";
  voiceReady = status === "pass";
  updateVoiceButtons();
  ui.voiceStatus.title = detail;
  if (status !== "pass") showNotice(`Voice is unavailable (${detail}). Text chat works as usual.`);
  else if (ui.notice.textContent.startsWith("Voice is unavailable")) showNotice("");
}

// Voice: one session over /ws/voice at a time, in one of two modes. Its playback and capture counters (samples
// played, frames sent, …) are for people's tools and the browser tests (window.handsFreeStats: their older name).
const voiceView = new VoiceView({ notify: showNotice, onFinal: answered });
const voice = new VoiceSession({
  onEvent: (event) => voiceView.onEvent(event),
  onChange: (session) => {
    voiceView.show(session);
    updateVoiceButtons();
  },
});
const handsFree = new HandsFree(voice);
const pushToTalk = new PushToTalk(voice);
window.voiceStats = window.handsFreeStats = voice.stats;

function voiceConfig() {
  return { path: ui.path.value, threadId, speak: ui.speak.checked };
}

function updateVoiceButtons() {
  const capable = Boolean(navigator.mediaDevices && window.AudioWorkletNode);
  ui.talk.disabled = !voiceReady || !capable || handsFree.on;
  if (ui.talk.disabled) releaseTalk(); // a disabled button hears no release
  ui.talk.classList.toggle("recording", pushToTalk.on && voice.microphone.open);
  ui.handsFree.disabled = !handsFree.on && (!voiceReady || !capable);
  ui.handsFree.setAttribute("aria-pressed", String(handsFree.on)); // the label stays: pressed means on
}

async function toggleHandsFree() {
  if (handsFree.on) {
    handsFree.stop();
    return;
  }
  voiceView.begin();
  try {
    await handsFree.start(voiceConfig());
  } catch (error) {
    showNotice(`Hands-free could not start: ${error.message}`);
  }
}

// Push-to-talk: hold the button (or Space on it) to talk; release to send. A press stops any answer being given.
async function pressTalk() {
  if (ui.talk.disabled || pushToTalk.held) return;
  chat.cancel(); // a typed answer still being written gives way too
  if (!pushToTalk.on) voiceView.begin();
  try {
    await pushToTalk.press(voiceConfig());
  } catch (error) {
    showNotice(`Microphone unavailable: ${error.message}`);
  }
}

function releaseTalk() {
  pushToTalk.release().catch((error) => showNotice(`Push-to-talk failed: ${error.message}`));
}

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  chat.send(ui.text.value);
  ui.text.value = "";
});
ui.cancel.addEventListener("click", () => chat.cancel());
$("new-conversation").addEventListener("click", () => {
  threadId = null;
  clearConversation();
  if (voice.active) voice.configure(voiceConfig());
  conversations.refresh(threadId);
});
ui.path.addEventListener("change", () => voice.active && voice.configure(voiceConfig()));
ui.speak.addEventListener("change", () => voice.active && voice.configure(voiceConfig()));
ui.handsFree.addEventListener("click", toggleHandsFree);
ui.talk.addEventListener("pointerdown", pressTalk);
for (const name of ["pointerup", "pointerleave", "pointercancel"]) ui.talk.addEventListener(name, releaseTalk);
ui.talk.addEventListener("keydown", (event) => event.code === "Space" && !event.repeat && pressTalk());
ui.talk.addEventListener("keyup", (event) => event.code === "Space" && releaseTalk());

// Who the server says we are (asking for a key first, if it needs one), then the socket and the conversations.
async function start() {
  const response = await apiFetch("/api/caller");
  if (response.ok) {
    const { name } = await response.json();
    ui.caller.hidden = name === "local"; // a local install has no callers to tell apart
    ui.caller.textContent = name;
  }
  chat.connect();
  conversations.refresh(threadId);
}

start();
checkVoice();
setInterval(checkVoice, 10000);
