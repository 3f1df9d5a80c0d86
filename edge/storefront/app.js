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
//
// Sign-in, the stream reader, Idempotency-Keys and what else the console does alike come from
// /shared/common.js, loaded first.
"use strict";

const POLL_MS = 1000;
// How often a page with live events checks that the origin still answers.
const LIVE_CHECK_MS = 5000;
// An event stream quiet for this long is dead (the origin sends a comment every 15 s).
const STREAM_SILENCE_MS = 40000;

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

// A sign-in link never silently replaces a session the tab already has, since whoever made the
// link would then receive this shopper's purchases.
const signIn = tabSignIn({
  storageKey: "furnitureops.shopper-token",
  nameId: "shopper",
  nobody: "shopper",
});

function signOut() {
  signIn.forget();
  shop.token = null;
  shop.live = false;
  shop.stream?.abort();
  signIn.show(shop.token);
}

// ---- Showing the shop -------------------------------------------------------------------

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
  showPicture(row, item.images?.[0]);
  row.querySelector(".item-name").textContent = item.name;
  row.querySelector(".item-price").textContent = price.format(item.price_cents / 100);
  showStock(row, item.stock);
}

// ---- Pictures ---------------------------------------------------------------------------

// How many cards load their picture at once: about the first screen's row. The rest load as
// they come near the viewport, so a long shop costs no more than its first screen.
const EAGER_PICTURES = 4;
// The picture's width on the page: the grid's card (at least 14rem) or the whole column.
const PICTURE_SIZES = "(max-width: 40rem) calc(100vw - 2rem), 20rem";

// An item's first picture on its card: every size in srcset (the browser picks by the card's
// width and the screen's density), width and height so the card never shifts when it loads.
function showPicture(row, picture) {
  const image = row.querySelector(".item-picture");
  if (!picture) {
    image.hidden = true;
    image.removeAttribute("src");
    return;
  }
  if (image.dataset.pictureId === picture.id) return;
  image.dataset.pictureId = picture.id;
  const sizes = [picture, ...(picture.sizes ?? [])].sort((a, b) => a.width - b.width);
  const index = [...shop.rows.keys()].indexOf(row.dataset.itemId);
  image.loading = index < EAGER_PICTURES ? "eager" : "lazy";
  if (index === 0) image.fetchPriority = "high";
  image.decoding = "async";
  image.width = picture.width;
  image.height = picture.height;
  image.alt = picture.alt;
  image.sizes = PICTURE_SIZES;
  image.srcset = sizes.map((size) => `${size.url} ${size.width}w`).join(", ");
  image.src = (sizes.find((size) => size.width >= 640) ?? sizes[sizes.length - 1]).url;
  image.hidden = false;
}

function showStock(row, stock) {
  row.dataset.stock = String(stock);
  const soldOut = stock <= 0;
  row.classList.toggle("sold-out", soldOut);
  row.querySelector(".item-stock").textContent = soldOut ? "Sold out" : `${stock} in stock`;
  row.querySelector("button").disabled = soldOut || row.dataset.buying === "true";
}

async function loadShopName() {
  await showShopName((name) => name, shop.token);
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
  let complete = false;
  const listed = new Set();
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const response = await fetchInventoryPage(PAGE_ITEMS, after, shop.token);
    if (response.headers.get("x-edge-cache") === "stale") {
      stale = true;
      age = Math.max(age, Number(response.headers.get("age") ?? 0));
    }
    const { items, next } = await response.json();
    for (const item of items) {
      listed.add(item.id);
      // A stock event newer than this read knows better than the read does.
      if ((shop.streamedAt.get(item.id) ?? -Infinity) > startedAt) {
        item.stock = Number(shop.rows.get(item.id)?.dataset.stock ?? item.stock);
      }
      showItem(item);
    }
    if (!next) {
      complete = true;
      break;
    }
    after = next;
  }
  // An item the shop removed is no longer listed: its card goes, once a whole fresh list says
  // so (a stale copy may predate items added since).
  if (complete && !stale) {
    for (const [id, row] of shop.rows) {
      if (listed.has(id)) continue;
      row.remove();
      shop.rows.delete(id);
    }
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
// so it is dropped and polling takes over until the stream is back. The page has just loaded
// the stock when this starts, so it waits first.
async function pollWhileNotLive() {
  let lastCheck = performance.now();
  for (;;) {
    await sleep(POLL_MS);
    if (!shop.named) loadShopName().catch(() => {});
    if (!shop.live) {
      await loadInventory().catch(unreachable);
    } else if (performance.now() - lastCheck >= LIVE_CHECK_MS) {
      lastCheck = performance.now();
      const originSilent = await loadInventory().catch(unreachable);
      if (originSilent) shop.stream?.abort();
    }
  }
}

// ---- Live events ------------------------------------------------------------------------

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
  const pauses = reconnectPauses();
  while (shop.token) {
    const stream = new AbortController();
    shop.stream = stream;
    try {
      const response = await openEventStream("/api/events", shop.token, stream);
      if (response.status === 401 || response.status === 403) {
        signOut();
        notice("Your sign-in is no longer valid; stock now refreshes every second.");
        return;
      }
      await readEventStream(response, stream, STREAM_SILENCE_MS, (name, data) => {
        pauses.reset();
        onEvent(name, data);
      });
    } catch {
      // The stream broke: poll until it is back.
    }
    shop.live = false;
    await sleep(pauses.jittered());
    pauses.grow();
  }
}

// ---- Buying -----------------------------------------------------------------------------

// Retries of a buy wait for Retry-After by themselves only when it is this short.
const AUTO_RETRY_MAX_S = 2;
const BUY_ATTEMPTS = 4;

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
  const headers = { "content-type": "application/json" };
  if (shop.token) headers.authorization = `Bearer ${shop.token}`;
  const send = async (key) => {
    const response = await fetch("/api/buy", {
      method: "POST",
      headers: { ...headers, "idempotency-key": key },
      body,
    });
    return { response, data: await response.json().catch(() => null) };
  };
  const inDoubt = ({ response, data }) => worthRetrying(response, data);
  const answer = await writeWithKey(shop.unsettledKeys, body, send, {
    attempts: BUY_ATTEMPTS,
    pauseMs: 250,
    inDoubt,
    // A refusal while catching up may hide a purchase that went through: keep its key.
    settles: ({ data }) => !catchingUp(data),
  });
  // The final answer, or, when the last one left the click in doubt, the shop catching up.
  if (answer && (!inDoubt(answer) || catchingUp(answer.data))) {
    return outcome(answer.response, answer.data, row, quantity);
  }
  return "The shop did not answer. Press Buy again: the same order will not be placed twice.";
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
  shop.token = signIn.take();
  signIn.show(shop.token);
  $("sign-out").addEventListener("click", signOut);
  loadShopName().catch(() => notice("The shop cannot be reached right now."));
  await loadInventory().catch(() => notice("The shop cannot be reached; retrying…"));
  followEvents();
  pollWhileNotLive();
}

start();
