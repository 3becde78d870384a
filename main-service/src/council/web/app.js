// Hybrid AI Council web UI: streamed chat over /ws/chat, the council panel, conversations, push-to-talk and a
// hands-free conversation over /ws/voice (hands-free.js). Plain ES modules, no build step. Every server event is
// one of the orchestrator's typed events (docs/websocket.md, docs/voice-socket.md).

import { HandsFree } from "./hands-free.js";
import { apiFetch, socketProtocols } from "./key.js";

const $ = (id) => document.getElementById(id);
const ui = {
  messages: $("messages"), council: $("council"), members: $("members"), ranking: $("ranking"), badge: $("route-badge"),
  reason: $("route-reason"), notice: $("notice"), composer: $("composer"), text: $("text"), path: $("path"),
  review: $("review-round"), rank: $("rank-answers"), send: $("send"), cancel: $("cancel"), talk: $("talk"), speak: $("speak-answers"),
  connection: $("connection"), voiceStatus: $("voice-status"), caller: $("caller"), conversations: $("conversations"),
  handsFree: $("hands-free"), voiceBar: $("voice-bar"), voiceState: $("voice-state"), liveTranscript: $("live-transcript"),
};

let socket = null;
let threadId = null;
let turn = null; // the typed turn being answered: {id, source, element, answer, meta, members: Map}
let counter = 0;
let playback = null;
let voiceReady = false; // the voice service answers (checked every 10 s)

function addMessage(kind, text, meta = "") {
  const element = document.createElement("div");
  element.className = `message ${kind}`;
  const metaElement = document.createElement("span");
  metaElement.className = "meta";
  metaElement.textContent = meta;
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = text;
  element.append(metaElement, body);
  ui.messages.append(element);
  ui.messages.scrollTop = ui.messages.scrollHeight;
  return { element, meta: metaElement, body };
}

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/chat`, socketProtocols());
  ui.connection.textContent = "connecting…";
  ui.connection.dataset.state = "connecting";
  socket.addEventListener("open", () => {
    ui.connection.textContent = "connected";
    ui.connection.dataset.state = "open";
  });
  socket.addEventListener("close", () => {
    ui.connection.textContent = "disconnected — retrying";
    ui.connection.dataset.state = "closed";
    if (turn) finishTurn("(connection lost)");
    setTimeout(connect, 2000);
  });
  socket.addEventListener("message", (message) => handleEvent(JSON.parse(message.data)));
}

function memberCard(view, name) {
  let card = view.members.get(name);
  if (!card) {
    const element = document.createElement("div");
    element.className = "member";
    element.dataset.member = name;
    const title = document.createElement("h3");
    title.textContent = name;
    const body = document.createElement("div");
    body.className = "text";
    const ranking = document.createElement("p"); // this member's ranking of the others (the ranking stage)
    ranking.className = "ballot";
    ranking.hidden = true;
    element.append(title, body, ranking);
    ui.members.append(element);
    card = { element, title, body, ranking };
    view.members.set(name, card);
  }
  return card;
}

// Renders one orchestrator event into a turn's view ({element, answer, meta, members}); chat and voice share it.
function renderEvent(view, event) {
  switch (event.type) {
    case "route":
      ui.badge.textContent = event.path;
      ui.badge.dataset.path = event.path;
      ui.reason.textContent = event.reason;
      view.meta.textContent = `${view.source}${event.path} · ${event.reason}`;
      ui.council.hidden = event.path !== "council";
      ui.ranking.replaceChildren();
      ui.ranking.hidden = true;
      for (const member of event.members || []) memberCard(view, member);
      break;
    // A member's ranking streams into its card's ballot line; its answer stays as it was.
    case "member.start":
      if (event.phase === "ranking") {
        showBallot(view, event.member, "ranking…");
        break;
      }
      memberCard(view, event.member).element.dataset.state = "running";
      if (event.phase === "review") memberCard(view, event.member).body.textContent = "";
      break;
    case "member.delta":
      if (event.phase === "ranking") memberCard(view, event.member).ranking.textContent += event.text;
      else memberCard(view, event.member).body.textContent += event.text;
      break;
    case "member.done": {
      if (event.phase === "ranking") break; // the parsed ballot follows
      const card = memberCard(view, event.member);
      card.element.dataset.state = "done";
      card.body.textContent = event.text;
      if (event.phase === "review") card.title.textContent = `${event.member} (revised)`;
      break;
    }
    case "member.failed": {
      if (event.phase === "ranking") break; // the ballot that follows says the ranking failed
      const card = memberCard(view, event.member);
      card.element.dataset.state = "failed";
      card.body.textContent = `dropped: ${event.error}`;
      break;
    }
    case "review":
      ui.reason.textContent += " — members review each other's answers";
      break;
    case "ranking":
      ui.reason.textContent += " — members rank each other's answers";
      break;
    case "ranking.ballot":
      showBallot(view, event.ranker, event.order ? `ranks: ${event.order.join(" > ")}` : `ranking not counted: ${event.problem}`,
        event.order ? "read" : "unread");
      break;
    case "ranking.done":
      showRanking(event);
      break;
    case "synthesis.delta":
      view.answer.textContent += event.text;
      ui.messages.scrollTop = ui.messages.scrollHeight;
      break;
    case "final":
      view.answer.textContent = event.answer;
      threadId = event.thread_id || threadId;
      break;
    case "error":
      view.element.classList.add("error");
      view.answer.textContent = `${event.message} (${event.code})`;
      break;
    case "cancelled":
      view.answer.textContent += " (stopped)";
      break;
  }
}

function showBallot(view, member, text, state = "running") {
  const { ranking } = memberCard(view, member);
  ranking.textContent = text;
  ranking.dataset.state = state;
  ranking.hidden = false;
}

// The aggregate peer ranking, as the chair sees it: best first, with how many rankings each mean rests on.
function showRanking(event) {
  const unread = event.ballots.filter((ballot) => !ballot.order).length;
  const items = event.answers.map((answer) => {
    const item = document.createElement("li");
    item.dataset.member = answer.member;
    item.dataset.ranked = String(answer.mean_rank !== null); // an answer nobody ranked gets no place number
    item.textContent = answer.mean_rank === null
      ? `${answer.member}: not ranked`
      : `${answer.member}: mean rank ${answer.mean_rank.toFixed(2)} (${answer.rankers} ranking${answer.rankers === 1 ? "" : "s"})`;
    return item;
  });
  ui.ranking.replaceChildren(...items);
  ui.ranking.dataset.unread = String(unread);
  ui.ranking.title = unread ? `${unread} of ${event.ballots.length} rankings could not be read` : "";
  ui.ranking.hidden = false;
}

function handleEvent(event) {
  if (event.type === "pong") return;
  if (!turn || event.id !== turn.id) {
    if (event.type === "error") addMessage("error", `${event.message} (${event.code})`);
    return;
  }
  renderEvent(turn, event);
  if (event.type === "final") {
    if (ui.speak.checked) speak(event.answer);
    finishTurn();
    refreshConversations();
  } else if (event.type === "error" || event.type === "cancelled") {
    finishTurn();
  }
}

function finishTurn(note = "") {
  if (note && turn) turn.answer.textContent += ` ${note}`;
  turn = null;
  ui.send.disabled = false;
  ui.cancel.hidden = true;
}

function sendMessage(text) {
  if (!text.trim() || !socket || socket.readyState !== WebSocket.OPEN || turn) return;
  counter += 1;
  const id = `turn-${Date.now()}-${counter}`;
  addMessage("user", text);
  const reply = addMessage("assistant", "", "thinking…");
  turn = { id, source: "", element: reply.element, answer: reply.body, meta: reply.meta, members: new Map() };
  ui.members.replaceChildren();
  ui.council.hidden = true;
  ui.send.disabled = true;
  ui.cancel.hidden = false;
  const message = { type: "message", id, text, path: ui.path.value };
  // Ticked: this turn's council reviews / ranks; unticked: the server's defaults (COUNCIL_DELIBERATION__*).
  if (ui.review.checked) message.review_round = true;
  if (ui.rank.checked) message.ranking = true;
  if (threadId) message.thread_id = threadId;
  socket.send(JSON.stringify(message));
}

async function refreshConversations() {
  const response = await apiFetch("/api/conversations?limit=50");
  if (!response.ok) return;
  const { conversations } = await response.json();
  ui.conversations.replaceChildren(
    ...conversations.map((conversation) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = conversation.title || conversation.thread_id;
      button.title = `${conversation.turns} turns`;
      button.setAttribute("aria-current", String(conversation.thread_id === threadId));
      button.addEventListener("click", () => openConversation(conversation.thread_id));
      item.append(button);
      return item;
    }),
  );
}

async function openConversation(id) {
  const response = await apiFetch(`/api/conversations/${encodeURIComponent(id)}`);
  if (!response.ok) return;
  const { messages } = await response.json();
  threadId = id;
  ui.messages.replaceChildren();
  ui.council.hidden = true;
  if (handsFree.active) handsFree.configure(voiceConfig()); // go on talking in the conversation just opened
  for (const message of messages) addMessage(message.role === "user" ? "user" : "assistant", message.content, message.path || "");
  refreshConversations();
}

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

async function speak(text) {
  const response = await apiFetch("/api/voice/speak", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ input: text }),
  });
  if (!response.ok) {
    showNotice(`Could not speak the answer: ${(await response.json()).error.message}`);
    return;
  }
  stopPlayback();
  playback = new Audio(URL.createObjectURL(await response.blob()));
  // data-playback lets people's tools (and the browser tests) see what the speaker is doing.
  playback.addEventListener("playing", () => { document.body.dataset.playback = "playing"; });
  playback.addEventListener("ended", () => { document.body.dataset.playback = "ended"; });
  await playback.play().catch(() => showNotice("The browser blocked audio playback; click the page first."));
}

function stopPlayback() {
  if (playback) {
    playback.pause();
    playback = null;
    document.body.dataset.playback = "stopped";
  }
}

// Push-to-talk: hold the button (or Space on it) to record; release to transcribe and send.
let recorder = null;
let talkHeld = false; // the button is down; a release while the microphone is still opening cancels the recording

async function startTalking() {
  if (talkHeld || recorder || ui.talk.disabled) return;
  talkHeld = true;
  stopPlayback(); // barge-in: the user speaking stops the answer being played
  if (turn) socket.send(JSON.stringify({ type: "cancel", id: turn.id }));
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    talkHeld = false;
    showNotice(`Microphone unavailable: ${error.message}`);
    return;
  }
  if (!talkHeld) {
    stream.getTracks().forEach((track) => track.stop()); // released before the microphone opened: a tap, not speech
    return;
  }
  const chunks = [];
  const active = new MediaRecorder(stream);
  recorder = active;
  active.addEventListener("dataavailable", (event) => chunks.push(event.data));
  active.addEventListener("stop", async () => {
    stream.getTracks().forEach((track) => track.stop());
    recorder = null;
    await transcribeAndSend(new Blob(chunks, { type: active.mimeType }));
  });
  active.start();
  ui.talk.classList.add("recording");
}

function stopTalking() {
  talkHeld = false;
  if (recorder && recorder.state === "recording") recorder.stop();
  ui.talk.classList.remove("recording");
}

async function transcribeAndSend(blob) {
  const form = new FormData();
  form.append("file", blob, blob.type.includes("ogg") ? "speech.ogg" : "speech.webm");
  let response, body;
  try {
    response = await apiFetch("/api/voice/transcribe", { method: "POST", body: form });
    body = await response.json();
  } catch (error) {
    showNotice(`Transcription failed: ${error.message}`);
    return;
  }
  if (!response.ok) {
    showNotice(`Transcription failed: ${body.error ? body.error.message : response.statusText}`);
    return;
  }
  if (!body.text.trim()) {
    showNotice("No speech was heard; hold the button while you talk.");
    return;
  }
  sendMessage(body.text.trim());
}

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  sendMessage(ui.text.value);
  ui.text.value = "";
});
ui.cancel.addEventListener("click", () => turn && socket.send(JSON.stringify({ type: "cancel", id: turn.id })));
$("new-conversation").addEventListener("click", () => {
  threadId = null;
  ui.messages.replaceChildren();
  ui.council.hidden = true;
  if (handsFree.active) handsFree.configure(voiceConfig());
  refreshConversations();
});
ui.path.addEventListener("change", () => handsFree.active && handsFree.configure(voiceConfig()));
ui.handsFree.addEventListener("click", toggleHandsFree);
ui.talk.addEventListener("pointerdown", startTalking);
ui.talk.addEventListener("pointerup", stopTalking);
ui.talk.addEventListener("pointerleave", stopTalking);
ui.talk.addEventListener("keydown", (event) => event.code === "Space" && !event.repeat && startTalking());
ui.talk.addEventListener("keyup", (event) => event.code === "Space" && stopTalking());

// Hands-free: the microphone stays open; the server hears where a turn begins and ends, and speaking over the
// answer interrupts it. The page shows what the session is doing and what it heard so far.
const VOICE_STATES = {
  off: "hands-free off", connecting: "connecting…", listening: "listening…", thinking: "thinking…", speaking: "speaking…",
};
const handsFree = new HandsFree({ onEvent: handleVoiceEvent, onChange: showHandsFree });
let voiceTurn = null; // the view of the turn the voice socket is answering
let voiceError = "";
// Playback and capture counters (samples played, frames sent, …) for people's tools and the browser tests.
window.handsFreeStats = handsFree.stats;

function voiceConfig() {
  return { path: ui.path.value, threadId };
}

function updateVoiceButtons() {
  const capable = Boolean(navigator.mediaDevices && window.AudioWorkletNode);
  ui.talk.disabled = !voiceReady || !navigator.mediaDevices || handsFree.active;
  ui.handsFree.disabled = !handsFree.active && (!voiceReady || !capable);
}

async function toggleHandsFree() {
  if (handsFree.active) {
    handsFree.stop();
    return;
  }
  stopPlayback();
  voiceError = "";
  setText(ui.liveTranscript, "");
  try {
    await handsFree.start(voiceConfig());
  } catch (error) {
    showNotice(`Hands-free could not start: ${error.message}`);
  }
}

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text; // unchanged text is not announced again
}

function showHandsFree(session) {
  const { state, playedSamples } = session.stats;
  ui.voiceBar.hidden = state === "off";
  ui.voiceState.dataset.state = state;
  ui.voiceState.dataset.playedSamples = String(playedSamples);
  setText(ui.voiceState, VOICE_STATES[state] || state);
  ui.handsFree.setAttribute("aria-pressed", String(session.active)); // the label stays: pressed means on
  updateVoiceButtons();
}

function handleVoiceEvent(event) {
  switch (event.type) {
    case "speech.started":
    case "audio.resumed": // it was a backchannel or a noise: nothing to keep of it
      setText(ui.liveTranscript, "");
      break;
    case "transcript.delta":
      ui.liveTranscript.textContent += event.delta;
      break;
    case "transcript":
      setText(ui.liveTranscript, "");
      startVoiceTurn(event);
      break;
    case "audio.start": // an acknowledgement ("let me put that to the council") is said while the council works
      if (event.kind === "acknowledgement" && event.text && voiceTurn && event.id === voiceTurn.id) {
        voiceTurn.meta.textContent += ` · “${event.text}”`;
      }
      break;
    case "session.closed":
      voiceTurn = null;
      showNotice(`Hands-free stopped: ${voiceError || event.reason || `the connection closed (${event.code})`}.`);
      break;
    case "error": // said aside: a turn's text may still go on to `final` when only its speech failed
      if (!event.id) voiceError = `${event.message} (${event.code})`;
      showNotice(`Voice: ${event.message} (${event.code})`);
      break;
    default:
      if (voiceTurn && event.id === voiceTurn.id) {
        renderEvent(voiceTurn, event);
        if (event.type === "final") refreshConversations();
      }
  }
}

function startVoiceTurn(event) {
  const text = (event.text || "").trim();
  if (!text) return; // nothing was understood: no turn
  addMessage("user", text, "voice");
  const reply = addMessage("assistant", "", "thinking…");
  voiceTurn = { id: event.id, source: "voice · ", element: reply.element, answer: reply.body, meta: reply.meta,
                members: new Map() };
  ui.members.replaceChildren();
  ui.council.hidden = true;
}

// Who the server says we are (asking for a key first, if it needs one), then the socket and the conversations.
async function start() {
  const response = await apiFetch("/api/caller");
  if (response.ok) {
    const { name } = await response.json();
    ui.caller.hidden = name === "local"; // a local install has no callers to tell apart
    ui.caller.textContent = name;
  }
  connect();
  refreshConversations();
}

start();
checkVoice();
setInterval(checkVoice, 10000);
