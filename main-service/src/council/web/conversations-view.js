// The caller's conversations in the side list: refreshed after each answer, and one opened on a click, its messages
// shown in place of the current ones (`onOpened(threadId, messages)`).

import { apiFetch } from "./key.js";

export class ConversationsView {
  constructor(list, { onOpened }) {
    this.list = list;
    this.onOpened = onOpened;
  }

  async refresh(current) {
    const response = await apiFetch("/api/conversations?limit=50");
    if (!response.ok) return;
    const { conversations } = await response.json();
    this.list.replaceChildren(
      ...conversations.map((conversation) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = conversation.title || conversation.thread_id;
        button.title = `${conversation.turns} turns`;
        button.setAttribute("aria-current", String(conversation.thread_id === current));
        button.addEventListener("click", () => this.open(conversation.thread_id));
        item.append(button);
        return item;
      }),
    );
  }

  async open(id) {
    const response = await apiFetch(`/api/conversations/${encodeURIComponent(id)}`);
    if (!response.ok) return;
    const { messages } = await response.json();
    this.onOpened(id, messages);
  }
}
