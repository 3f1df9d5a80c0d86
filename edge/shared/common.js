// What the storefront (`/app.js`) and the shop owner's console (`/admin/console.js`) do alike,
// written once. Each page loads this script first (a plain script: its names are the page
// script's too) and passes what differs: its sign-in's storage key, its stream's path and
// silence, its write's retry rules.
//
// - Signing in: a token from the link's fragment (`#token=...`), kept in sessionStorage for this
//   tab under the page's own key, so a shopper's and an admin's sign-ins stay apart. A link never
//   silently replaces a session the tab already has: whoever made the link would then receive
//   what the tab does next.
// - Live events come from routes that need `Authorization`, which EventSource cannot send, so
//   streams are read with fetch() and parsed here, and reconnect after growing pauses.
// - Writes carry an Idempotency-Key: every retry of one click reuses it, so the shop answers the
//   first write again instead of making a second one.
"use strict";

const PROBLEM = "https://furnitureops.dev/problems/";
const STREAM_BACKOFF_MAX_MS = 10000;
// The edge may answer inventory reads from a cache up to a second old.
const EDGE_CACHE_MS = 1000;
const price = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- Signing in -------------------------------------------------------------------------

// This tab's sign-in on a page: the token is kept under `storageKey`, its holder is shown in
// the element `nameId`, and a token with no readable subject is shown as `nobody`.
function tabSignIn({ storageKey, nameId, nobody }) {
  // The token's subject, for display only: the shop decides what the token may do.
  const nameIn = (token) => {
    try {
      const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(payload)).sub || nobody;
    } catch {
      return nobody;
    }
  };

  const askBeforeSwitching = (current, fromLink) => {
    for (const id of ["switch-to", "switch-to-again"]) {
      if ($(id)) $(id).textContent = nameIn(fromLink);
    }
    $("switch-from").textContent = nameIn(current);
    $("switch-session").hidden = false;
    $("switch-confirm").addEventListener("click", () => {
      sessionStorage.setItem(storageKey, fromLink);
      location.reload();
    });
    $("switch-keep").addEventListener("click", () => {
      $("switch-session").hidden = true;
    });
  };

  return {
    // The tab's token after reading the link's fragment (which leaves the address bar).
    take() {
      const fragment = new URLSearchParams(location.hash.slice(1));
      const fromLink = fragment.get("token");
      const current = sessionStorage.getItem(storageKey);
      if (fromLink) {
        history.replaceState(null, "", location.pathname + location.search);
        if (!current || current === fromLink) {
          sessionStorage.setItem(storageKey, fromLink);
        } else {
          askBeforeSwitching(current, fromLink);
        }
      }
      return sessionStorage.getItem(storageKey);
    },
    show(token) {
      $("signed-in").hidden = !token;
      $("signed-out").hidden = Boolean(token);
      if (token) $(nameId).textContent = nameIn(token);
    },
    forget() {
      sessionStorage.removeItem(storageKey);
    },
  };
}

// ---- Talking to the shop ----------------------------------------------------------------

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

// Shows the shop's name in the heading, and `titleOf` it as the tab's title.
// Signed in, the token goes along, so the read is counted as the caller's (a shopper's, or the
// admin's own quota), never against the anonymous ceiling a flood can spend.
async function showShopName(titleOf, token) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const response = await fetch("/api/shop", { cache: "no-store", headers });
  if (!response.ok) throw new Error(`shop: HTTP ${response.status}`);
  const { name } = await response.json();
  $("shop-name").textContent = name;
  document.title = titleOf(name);
}

// One page of the shop's items, `limit` of them after the cursor `after` (none: the first).
// Signed in, the token goes along: the reads spend the shop's signed-in budget, which no
// anonymous flood can spend (the edge still answers them from the shared cache), and the write
// position this tab's last write left in its cookie is honoured only for its token.
async function fetchInventoryPage(limit, after, token) {
  const query = `limit=${limit}` + (after ? `&after=${encodeURIComponent(after)}` : "");
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const response = await fetch(`/api/inventory?${query}`, { cache: "no-store", headers });
  if (!response.ok) throw new Error(`inventory: HTTP ${response.status}`);
  return response;
}

function retryAfterSeconds(response, fallback) {
  const header = response.headers.get("retry-after");
  const seconds = header === null ? NaN : Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : fallback;
}

// ---- Writes that may be retried ---------------------------------------------------------

// crypto.randomUUID() exists only in secure contexts (https, localhost); a shop opened over
// plain http elsewhere gets the same kind of random v4 UUID from getRandomValues().
function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// Sends one click's write: `send(key)` makes one attempt and answers `{ response, data }` (the
// problem+json or result body, or null). While `inDoubt(answer)`, or with no answer at all, the
// write is sent again with the same key, up to `attempts` times, after the answer's Retry-After
// (or, with no answer, `pauseMs` doubled per attempt). The key stays in `keys` under `what` for
// the next click of the same write until an answer settles it (`settles`, by default any answer
// not in doubt). Answers the last answer, or null if the shop never answered.
async function writeWithKey(keys, what, send, options) {
  const { attempts, pauseMs, inDoubt, settles = () => true } = options;
  const key = keys.get(what) ?? newIdempotencyKey();
  keys.set(what, key);
  for (let attempt = 1; ; attempt += 1) {
    let answer = null;
    try {
      answer = await send(key);
    } catch {
      answer = null;
    }
    const again = !answer || inDoubt(answer);
    if (!again && settles(answer)) keys.delete(what);
    if (!again || attempt === attempts) return answer;
    await sleep(answer ? retryAfterSeconds(answer.response, 1) * 1000 : pauseMs * 2 ** attempt);
  }
}

// ---- Live events ------------------------------------------------------------------------

// Opens the event stream at `path` for `token`; `stream` (an AbortController) closes it.
function openEventStream(path, token, stream) {
  return fetch(path, {
    headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
    cache: "no-store",
    signal: stream.signal,
  });
}

// Reads an opened stream's events, calling onEvent(name, data) per event, until it ends or is
// closed; closes it after `silenceMs` without a byte. Throws if the stream was refused.
async function readEventStream(response, stream, silenceMs, onEvent) {
  if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
  await readEvents(response.body, onEvent, () => stream.abort(), silenceMs);
}

// Reads a text/event-stream body, calling onEvent(name, data) per event, until it ends or
// `onSilence` is called after `silenceMs` without a byte.
async function readEvents(body, onEvent, onSilence, silenceMs) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  let name = "message";
  let data = [];
  for (;;) {
    const silence = setTimeout(onSilence, silenceMs);
    const { value, done } = await reader.read().finally(() => clearTimeout(silence));
    if (done) return;
    const lines = (pending + value).split("\n");
    pending = lines.pop();
    for (const raw of lines) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (line === "") {
        if (data.length) onEvent(name, data.join("\n"));
        name = "message";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") name = text;
      else if (field === "data") data.push(text);
    }
  }
}

// The pauses between a stream's reconnections: from half a second, doubled after each attempt up
// to STREAM_BACKOFF_MAX_MS, and back to half a second once the stream delivers an event.
function reconnectPauses() {
  let backoff = 500;
  return {
    // The next pause, with as much jitter again at the most.
    jittered: () => backoff + Math.random() * backoff,
    grow() {
      backoff = Math.min(backoff * 2, STREAM_BACKOFF_MAX_MS);
    },
    reset() {
      backoff = 500;
    },
  };
}
