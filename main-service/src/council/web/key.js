// The key this page sends when the server needs one (COUNCIL_AUTH__API_KEY / COUNCIL_AUTH__CLIENT_KEYS): asked for
// when the server answers 401, kept for this browser tab's session only (sessionStorage), sent as a bearer header
// on requests and as a subprotocol on sockets (a browser cannot set headers on a WebSocket handshake).

const STORAGE = "council.key";

export function apiKey() {
  return sessionStorage.getItem(STORAGE) || "";
}

function base64url(text) {
  const bytes = new TextEncoder().encode(text);
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// What `new WebSocket(url, protocols)` offers: nothing without a key; else the key, and `council` for the server
// to choose (a browser fails a handshake whose offers were all refused).
export function socketProtocols() {
  const key = apiKey();
  return key ? ["council", `council.key.${base64url(key)}`] : [];
}

// Resolves true once a key was entered, false when the dialog was cancelled.
function askForKey(reason) {
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  document.getElementById("key-reason").textContent = reason;
  input.value = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const entered = dialog.returnValue === "ok" && input.value.trim();
      if (entered) sessionStorage.setItem(STORAGE, input.value.trim());
      resolve(Boolean(entered));
    }, { once: true });
    dialog.showModal();
  });
}

let asking = null; // one dialog for all the requests that were refused at once

// fetch, with the key; on a 401 the user is asked for a key (again) and the request is retried with it.
export async function apiFetch(url, options = {}) {
  for (;;) {
    const headers = new Headers(options.headers || {});
    const key = apiKey();
    if (key) headers.set("Authorization", `Bearer ${key}`);
    const response = await fetch(url, { ...options, headers });
    if (response.status !== 401) return response;
    if (key && apiKey() !== key) continue; // another request's dialog has set a new key meanwhile
    asking ||= askForKey(key ? "That key was not accepted; enter another." : "This server needs a key.")
      .finally(() => { asking = null; });
    if (!(await asking)) return response;
  }
}
