// The conversation on the page: messages, and each turn's answer and council panel as the orchestrator's events
// (docs/websocket.md) arrive. Typed turns (/ws/chat) and spoken ones (/ws/voice) render alike.

const $ = (id) => document.getElementById(id);
const ui = {
  messages: $("messages"), council: $("council"), members: $("members"), ranking: $("ranking"),
  badge: $("route-badge"), reason: $("route-reason"),
};

export function addMessage(kind, text, meta = "") {
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

export function clearConversation() {
  ui.messages.replaceChildren();
  ui.council.hidden = true;
}

// The user's words and the answer about to come, as a view for renderEvent() to fill; `via` ("voice") marks both.
export function startTurn(id, text, via = "") {
  addMessage("user", text, via);
  const reply = addMessage("assistant", "", "thinking…");
  ui.members.replaceChildren();
  ui.council.hidden = true;
  const source = via ? `${via} · ` : "";
  return { id, source, element: reply.element, answer: reply.body, meta: reply.meta, members: new Map() };
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

// Renders one orchestrator event into a turn's view (startTurn()).
export function renderEvent(view, event) {
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
