// The storefront's behaviour, with no framework: the shop's name and items from the shop API,
// live stock from the event stream, and purchases that can be retried without buying twice.
//
// - Signed in (a shopper token in sessionStorage), stock arrives as `stock` events from
//   GET /api/events. That route needs `Authorization`, which EventSource cannot send, so the
//   stream is read with fetch() and parsed here. While the stream is down, and for guests, the
//   inventory is polled every second instead. The stream reconnects with growing pauses, and is
//   dropped when it falls silent (the origin sends a comment every 15 s) or when the inventory
//   comes back stale, since either means the origin stopped talking.
// - When the origin cannot answer, the edge serves the last good stock marked
//   `X-Edge-Cache: stale` with its `Age`: the page says how old it is until fresh stock returns.
// - A click on Buy gets one Idempotency-Key. Every retry of that click (a network error, a 5xx,
//   or 409 "still running") sends the same key, so the origin answers the first purchase again
//   instead of making a second one. The button stays disabled while the click is in flight.
//   While the shop is catching up (503 `origin-unavailable` or `origin-timeout`) the shopper is
//   told when to press Buy again; the same key goes with it.
"use strict";

const TOKEN_KEY = "furnitureops.shopper-token";
const POLL_MS = 1000;
// How often a page with live events checks that the origin still answers.
const LIVE_CHECK_MS = 5000;
// An event stream quiet for this long is dead (the origin sends a comment every 15 s).
const STREAM_SILENCE_MS = 40000;
const STREAM_BACKOFF_MAX_MS = 10000;
// Retries of a buy wait for Retry-After by themselves only when it is this short.
const AUTO_RETRY_MAX_S = 2;
// The edge may answer inventory reads from a cache up to a second old.
const EDGE_CACHE_MS = 1000;
const BUY_ATTEMPTS = 4;
const PROBLEM = "https://furnitureops.dev/problems/";
const price = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const shop = {
  token: null,
  named: false,
  live: false,
  stream: null, // AbortController of the open event stream
  rows: new Map(), // item id -> <li>
  streamedAt: new Map(), // item id -> when its last stock event arrived
  unsettledKeys: new Map(), // request body -> Idempotency-Key of a buy with no final answer yet
};

// ---- Signing in -------------------------------------------------------------------------

// A sign-in link (`#token=...`) signs the tab in; it never silently replaces a session the tab
// already has, since whoever made the link would then receive this shopper's purchases.
function takeToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromLink = fragment.get("token");
  const current = sessionStorage.getItem(TOKEN_KEY);
  if (fromLink) {
    history.replaceState(null, "", location.pathname + location.search);
    if (!current || current === fromLink) {
      sessionStorage.setItem(TOKEN_KEY, fromLink);
    } else {
      askBeforeSwitching(current, fromLink);
    }
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function askBeforeSwitching(current, fromLink) {
  $("switch-to").textContent = shopperName(fromLink);
  $("switch-to-again").textContent = shopperName(fromLink);
  $("switch-from").textContent = shopperName(current);
  $("switch-session").hidden = false;
  $("switch-confirm").addEventListener("click", () => {
    sessionStorage.setItem(TOKEN_KEY, fromLink);
    location.reload();
  });
  $("switch-keep").addEventListener("click", () => {
    $("switch-session").hidden = true;
  });
}

function shopperName(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).sub || "shopper";
  } catch {
    return "shopper";
  }
}

function showSession() {
  $("signed-in").hidden = !shop.token;
  $("signed-out").hidden = Boolean(shop.token);
  if (shop.token) $("shopper").textContent = shopperName(shop.token);
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  shop.token = null;
  shop.live = false;
  shop.stream?.abort();
  showSession();
}

// ---- Showing the shop -------------------------------------------------------------------

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

function rowFor(item) {
  let row = shop.rows.get(item.id);
  if (!row) {
    row = $("item-template").content.firstElementChild.cloneNode(true);
    row.dataset.itemId = item.id;
    row.dataset.sku = item.sku;
    row.querySelector("form").addEventListener("submit", (event) => {
      event.preventDefault();
      onBuy(row);
    });
    shop.rows.set(item.id, row);
    $("items").append(row);
  }
  return row;
}

function showItem(item) {
  const row = rowFor(item);
  row.dataset.name = item.name;
  row.querySelector(".item-name").textContent = item.name;
  row.querySelector(".item-price").textContent = price.format(item.price_cents / 100);
  showStock(row, item.stock);
}

function showStock(row, stock) {
  row.dataset.stock = String(stock);
  const soldOut = stock <= 0;
  row.classList.toggle("sold-out", soldOut);
  row.querySelector(".item-stock").textContent = soldOut ? "Sold out" : `${stock} in stock`;
  row.querySelector("button").disabled = soldOut || row.dataset.buying === "true";
}

async function loadShopName() {
  const response = await fetch("/api/shop", { cache: "no-store" });
  if (!response.ok) throw new Error(`shop: HTTP ${response.status}`);
  const { name } = await response.json();
  $("shop-name").textContent = name;
  document.title = name;
  shop.named = true;
}

// The list comes a page at a time; the page follows `next` up to this many pages.
const PAGE_ITEMS = 200;
const MAX_PAGES = 10;

// Shows the shop's stock, every page of it; answers whether any page was the edge's stale copy.
async function loadInventory() {
  const startedAt = performance.now();
  let stale = false;
  let age = 0;
  let after = null;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const query = `limit=${PAGE_ITEMS}` + (after ? `&after=${encodeURIComponent(after)}` : "");
    // Signed in, the token goes along: the reads spend the shop's signed-in budget, which no
    // anonymous flood can spend (the edge still answers them from the shared cache), and the
    // write position this shopper's buy left in its cookie is honoured only for its shopper.
    const headers = shop.token ? { authorization: `Bearer ${shop.token}` } : {};
    const response = await fetch(`/api/inventory?${query}`, { cache: "no-store", headers });
    if (!response.ok) throw new Error(`inventory: HTTP ${response.status}`);
    if (response.headers.get("x-edge-cache") === "stale") {
      stale = true;
      age = Math.max(age, Number(response.headers.get("age") ?? 0));
    }
    const { items, next } = await response.json();
    for (const item of items) {
      // A stock event newer than this read knows better than the read does.
      if ((shop.streamedAt.get(item.id) ?? -Infinity) > startedAt) {
        item.stock = Number(shop.rows.get(item.id)?.dataset.stock ?? item.stock);
      }
      showItem(item);
    }
    if (!next) break;
    after = next;
  }
  document.body.classList.toggle("stale", stale);
  notice(stale ? `Stock as of ${age} s ago: the shop is catching up.` : "");
  return stale;
}

// Says the shop cannot be reached; answers true, like a stale read: the origin is not talking.
function unreachable() {
  notice("The shop cannot be reached; retrying…");
  return true;
}

// Polls the stock every second while there are no live events. With live events it only
// checks now and then that the origin answers: stale stock means the stream is stalled too,
// so it is dropped and polling takes over until the stream is back.
async function pollWhileNotLive() {
  let lastCheck = performance.now();
  for (;;) {
    if (!shop.named) loadShopName().catch(() => {});
    if (!shop.live) {
      await loadInventory().catch(unreachable);
    } else if (performance.now() - lastCheck >= LIVE_CHECK_MS) {
      lastCheck = performance.now();
      const originSilent = await loadInventory().catch(unreachable);
      if (originSilent) shop.stream?.abort();
    }
    await sleep(POLL_MS);
  }
}

// ---- Live events ------------------------------------------------------------------------

// Reads a text/event-stream body, calling onEvent(name, data) per event, until it ends or
// `onSilence` is called after STREAM_SILENCE_MS without a byte.
async function readEvents(body, onEvent, onSilence) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  let name = "message";
  let data = [];
  for (;;) {
    const silence = setTimeout(onSilence, STREAM_SILENCE_MS);
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

function onEvent(name, data) {
  if (name === "ready") {
    shop.live = true;
    // Catch up on what happened before the stream opened, then once more when any cached
    // inventory read from before that moment has expired.
    loadInventory().catch(() => {});
    setTimeout(() => loadInventory().catch(() => {}), EDGE_CACHE_MS + 100);
  } else if (name === "stock") {
    const { item_id: itemId, stock } = JSON.parse(data);
    shop.streamedAt.set(itemId, performance.now());
    const row = shop.rows.get(itemId);
    if (row) showStock(row, stock);
  }
}

async function followEvents() {
  let backoff = 500;
  while (shop.token) {
    const stream = new AbortController();
    shop.stream = stream;
    try {
      const response = await fetch("/api/events", {
        headers: { authorization: `Bearer ${shop.token}`, accept: "text/event-stream" },
        cache: "no-store",
        signal: stream.signal,
      });
      if (response.status === 401 || response.status === 403) {
        signOut();
        notice("Your sign-in is no longer valid; stock now refreshes every second.");
        return;
      }
      if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
      await readEvents(
        response.body,
        (name, data) => {
          backoff = 500;
          onEvent(name, data);
        },
        () => stream.abort(),
      );
    } catch {
      // The stream broke: poll until it is back.
    }
    shop.live = false;
    await sleep(backoff + Math.random() * backoff);
    backoff = Math.min(backoff * 2, STREAM_BACKOFF_MAX_MS);
  }
}

// ---- Buying -----------------------------------------------------------------------------

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

function retryAfterSeconds(response, fallback) {
  const header = response.headers.get("retry-after");
  const seconds = header === null ? NaN : Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : fallback;
}

// What the shopper is told about a final answer to a buy.
function outcome(response, body, row, quantity) {
  const wait = retryAfterSeconds(response, 1);
  const type = body?.type ?? "";
  if (response.status === 201) {
    return `Order ${body?.order_id} confirmed: ${quantity} × ${row.dataset.name}.`;
  }
  if (type === `${PROBLEM}out-of-stock`) return `Not enough stock: ${body.detail}.`;
  if (response.status === 429) return `Too many requests: please wait ${wait} s and try again.`;
  if (type === `${PROBLEM}sales-paused`) {
    return `Sales are paused right now (${body.detail}); try again in ${wait} s.`;
  }
  if (catchingUp(body)) {
    return `The shop is catching up: please press Buy again in ${wait} s (your order will not be placed twice).`;
  }
  if (response.status === 401) {
    signOut();
    return "Please sign in to buy: open your shop's sign-in link.";
  }
  if (response.status === 403) return "Your sign-in belongs to another shop.";
  return `${body?.title ?? "The purchase failed"}: ${body?.detail ?? `HTTP ${response.status}`}.`;
}

// The edge could not get an answer from the origin.
function catchingUp(body) {
  return [`${PROBLEM}origin-unavailable`, `${PROBLEM}origin-timeout`].includes(body?.type);
}

// Answers after which the same click may safely be sent again with its key, at once: a shop
// catching up for longer is left to the shopper.
function worthRetrying(response, body) {
  if (body?.type === `${PROBLEM}idempotency-key-in-flight`) return true;
  if (catchingUp(body)) return retryAfterSeconds(response, 1) <= AUTO_RETRY_MAX_S;
  return response.status >= 500 && body?.type !== `${PROBLEM}sales-paused`;
}

async function buy(row, quantity) {
  const body = JSON.stringify({ item_id: row.dataset.itemId, quantity });
  const key = shop.unsettledKeys.get(body) ?? newIdempotencyKey();
  shop.unsettledKeys.set(body, key);
  const headers = { "content-type": "application/json", "idempotency-key": key };
  if (shop.token) headers.authorization = `Bearer ${shop.token}`;
  for (let attempt = 1; ; attempt++) {
    let response;
    let answer;
    try {
      response = await fetch("/api/buy", { method: "POST", headers, body });
      answer = await response.json().catch(() => null);
    } catch {
      response = null;
    }
    const again = !response || worthRetrying(response, answer);
    if (!again) {
      // A refusal while catching up may hide a purchase that went through: keep its key.
      if (!catchingUp(answer)) shop.unsettledKeys.delete(body);
      return outcome(response, answer, row, quantity);
    }
    if (attempt === BUY_ATTEMPTS) {
      if (response && catchingUp(answer)) return outcome(response, answer, row, quantity);
      return "The shop did not answer. Press Buy again: the same order will not be placed twice.";
    }
    await sleep(response ? retryAfterSeconds(response, 1) * 1000 : 250 * 2 ** attempt);
  }
}

async function onBuy(row) {
  if (row.dataset.buying === "true") return;
  const button = row.querySelector("button");
  const result = row.querySelector(".item-result");
  const quantity = Number(row.querySelector("input").value);
  row.dataset.buying = "true";
  button.disabled = true;
  result.textContent = "Buying…";
  try {
    result.textContent = await buy(row, quantity);
  } catch (err) {
    result.textContent = `The purchase could not be sent: ${err.message}`;
  } finally {
    row.dataset.buying = "false";
    showStock(row, Number(row.dataset.stock));
  }
}

// ---- Start ------------------------------------------------------------------------------

async function start() {
  shop.token = takeToken();
  showSession();
  $("sign-out").addEventListener("click", signOut);
  loadShopName().catch(() => notice("The shop cannot be reached right now."));
  await loadInventory().catch(() => notice("The shop cannot be reached; retrying…"));
  followEvents();
  pollWhileNotLive();
}

start();
