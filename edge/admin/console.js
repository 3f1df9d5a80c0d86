// The shop owner's console, with no framework and nothing from elsewhere (the page's Content
// Security Policy allows this script, its stylesheet and the shop's own API, nothing else).
//
// - Signing in works as on the storefront: an admin token from the link's fragment
//   (`#token=...`), kept in sessionStorage for this tab, never silently replacing the tab's
//   session. The console shows nothing until the shop has answered an admin route for the token:
//   a shopper's token, or another shop's, gets the shop's refusal and no data.
// - Every write carries an Idempotency-Key. A click gets a fresh key, its retries (a network
//   error, a 5xx, 409 "still running") reuse it, and the button is disabled while the click is
//   in flight, so a double click changes nothing twice. Refusals show the problem's `detail`.
// - The live sale view follows GET /api/admin/events (read with fetch(), since EventSource cannot
//   send the token): one aggregate of the whole shop a second, however fast it sells. The charts
//   are SVG drawn here from the last five minutes the page has seen.
//
// Sign-in, the stream reader, Idempotency-Keys and what else the storefront does alike come from
// /shared/common.js, loaded first.
"use strict";

const PAGE_ITEMS = 20;
const AUDIT_PAGE = 20;
const HISTORY_SECONDS = 300;
// The charts span the seconds seen, at least this many (so a short sale is not a sliver).
const MIN_SPAN_SECONDS = 60;
// A second arrives every second; this long without a byte means the stream is dead.
const STREAM_SILENCE_MS = 5000;
const WRITE_ATTEMPTS = 3;
const REASONS = ["sold_out", "rate_limited", "paused", "busy"];
const count = new Intl.NumberFormat("en-US");
const clock = new Intl.DateTimeFormat("en-US", { dateStyle: "medium", timeStyle: "medium" });

const session = { token: null };

// ---- Signing in -------------------------------------------------------------------------

const signIn = tabSignIn({
  storageKey: "furnitureops.admin-token",
  nameId: "admin-name",
  nobody: "someone",
});

function signOut() {
  signIn.forget();
  location.replace(location.pathname);
}

// ---- Talking to the shop ----------------------------------------------------------------

function refuse(text) {
  $("refusal").textContent = text;
  $("refusal").hidden = false;
  $("console").hidden = true;
  $("sections").hidden = true;
}

// One call of the shop's API as this admin: the response and its JSON body (or null).
async function call(path, { method = "GET", body, key } = {}) {
  const headers = { authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (key) headers["idempotency-key"] = key;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const data = await response.json().catch(() => null);
  noteServerClock(response);
  return { response, data };
}

// What a refusal says, from its problem+json.
function refusalOf({ response, data }) {
  if (data?.detail) return data.detail;
  return data?.title ?? `the shop answered HTTP ${response.status}`;
}

// Writes not yet answered for good, by what they send: a retry of the same click reuses the key.
const unsettledKeys = new Map();

// A write with an Idempotency-Key, retried with that same key while the answer is in doubt.
// Returns the last answer, or null if the shop never answered.
function write(method, path, body) {
  const what = `${method} ${path} ${JSON.stringify(body)}`;
  return writeWithKey(unsettledKeys, what, (key) => call(path, { method, body, key }), {
    attempts: WRITE_ATTEMPTS,
    pauseMs: 300,
    inDoubt: ({ response, data }) =>
      data?.type === `${PROBLEM}idempotency-key-in-flight` ||
      (response.status >= 500 && data?.type !== `${PROBLEM}sales-paused`),
  });
}

// Runs `action` for a form's submission, once at a time: its buttons are disabled meanwhile, so
// a second click of the same button does nothing.
function onSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.dataset.busy === "true") return;
    form.dataset.busy = "true";
    const buttons = form.querySelectorAll("button");
    buttons.forEach((button) => (button.disabled = true));
    try {
      await action(form);
    } finally {
      form.dataset.busy = "false";
      buttons.forEach((button) => (button.disabled = false));
    }
  });
}

function say(element, text, ok) {
  element.textContent = text;
  element.classList.toggle("error", ok === false);
}

function cents(value) {
  return Math.round(Number(value) * 100);
}

// The server's clock minus this browser's, from the Date header (whole seconds): the kill
// switch's cooldown is counted down on the shop's clock.
let serverOffsetMs = 0;

function noteServerClock(response) {
  const date = Date.parse(response.headers.get("date") ?? "");
  if (!Number.isFinite(date)) return;
  const offset = date - Date.now();
  serverOffsetMs = Math.abs(offset) > 2000 ? offset : 0;
}

// ---- Items ------------------------------------------------------------------------------

const items = {
  cursors: [null], // `after` of each page seen so far
  page: 0,
  next: null,
  byId: new Map(), // every item seen, by id
  rows: new Map(), // item id -> its <tr> on this page
};

async function loadItems() {
  const after = items.cursors[items.page];
  // The token goes along: an admin's write position is honoured only for that admin.
  const response = await fetchInventoryPage(PAGE_ITEMS, after, session.token);
  const { items: page, next } = await response.json();
  items.next = next ?? null;
  items.rows.clear();
  const body = $("item-rows");
  body.replaceChildren();
  for (const item of page) {
    items.byId.set(item.id, item);
    const row = itemRow(item);
    items.rows.set(item.id, row);
    body.append(row);
  }
  $("items-prev").disabled = items.page === 0;
  $("items-next").disabled = !items.next;
  $("items-page").textContent = page.length
    ? `Page ${items.page + 1}`
    : "No items yet: add the first below.";
  fillLiveChoices();
}

function itemRow(item) {
  const row = $("item-row-template").content.firstElementChild.cloneNode(true);
  row.dataset.itemId = item.id;
  row.dataset.sku = item.sku;
  showItem(row, item);
  const result = row.querySelector(".result");
  onSubmit(row.querySelector(".rename"), async (form) => {
    const body = {
      name: form.elements.name.value.trim(),
      price_cents: cents(form.elements.price.value),
    };
    say(result, "Saving…");
    const answer = await write("PATCH", `/api/admin/items/${item.id}`, body);
    afterItemWrite(row, answer, result, (saved) => `Saved: ${saved.name} at ${price.format(saved.price_cents / 100)}.`);
  });
  onSubmit(row.querySelector(".restock"), async (form) => {
    const delta = Number(form.elements.delta.value);
    say(result, "Restocking…");
    const answer = await write("PATCH", `/api/admin/items/${item.id}`, { stock_delta: delta });
    afterItemWrite(row, answer, result, (saved) => {
      form.reset();
      return `Restocked: ${count.format(saved.stock)} in stock now.`;
    });
  });
  row.querySelector(".watch").addEventListener("click", () => {
    watchItem(item.id);
    $("live").scrollIntoView();
    $("live-item").focus();
  });
  return row;
}

function showItem(row, item) {
  row.querySelector(".item-name").textContent = item.name;
  row.querySelector(".item-sku").textContent = item.sku;
  row.querySelector(".item-price").textContent = price.format(item.price_cents / 100);
  showStock(row, item.stock);
  const rename = row.querySelector(".rename");
  rename.elements.name.value = item.name;
  rename.elements.price.value = (item.price_cents / 100).toFixed(2);
  row.querySelector(".edit summary").setAttribute("aria-label", `Edit ${item.name}`);
  row.querySelector(".watch").setAttribute("aria-label", `Watch ${item.name} live`);
}

function showStock(row, stock) {
  row.dataset.stock = String(stock);
  row.querySelector(".item-stock").textContent = count.format(stock);
}

function afterItemWrite(row, answer, result, success) {
  if (!answer) {
    say(result, "The shop did not answer. Try again: the same change is not made twice.", false);
    return;
  }
  if (!answer.response.ok) {
    say(result, `Refused: ${refusalOf(answer)}`, false);
    return;
  }
  const saved = answer.data;
  items.byId.set(saved.id, saved);
  showItem(row, saved);
  say(result, success(saved), true);
  fillLiveChoices();
  refreshAudit();
}

function setUpItems() {
  $("items-prev").addEventListener("click", () => {
    items.page = Math.max(0, items.page - 1);
    loadItems().catch(() => notice("The items cannot be read right now."));
  });
  $("items-next").addEventListener("click", () => {
    if (!items.next) return;
    items.cursors[items.page + 1] = items.next;
    items.page += 1;
    loadItems().catch(() => notice("The items cannot be read right now."));
  });
  const form = $("create-item");
  const result = form.querySelector(".result");
  onSubmit(form, async () => {
    const body = {
      sku: form.elements.sku.value.trim(),
      name: form.elements.name.value.trim(),
      price_cents: cents(form.elements.price.value),
      stock: Number(form.elements.stock.value),
    };
    say(result, "Adding…");
    const answer = await write("POST", "/api/admin/items", body);
    if (!answer) {
      say(result, "The shop did not answer. Try again: the item is not added twice.", false);
      return;
    }
    if (!answer.response.ok) {
      say(result, `Refused: ${refusalOf(answer)}`, false);
      return;
    }
    const added = answer.data;
    items.byId.set(added.id, added);
    form.reset();
    say(result, `Added ${added.name} (${added.sku}) with ${count.format(added.stock)} in stock.`, true);
    fillLiveChoices();
    refreshAudit();
    // The list may come from the edge's one-second cache: read it again once that has passed.
    setTimeout(() => loadItems().catch(() => {}), EDGE_CACHE_MS + 100);
  });
}

// ---- Sales: the kill switch -------------------------------------------------------------

const sales = { view: null, ticker: null };

async function loadSwitch() {
  const answer = await call("/api/admin/kill-switch");
  if (answer.response.ok) showSwitch(answer.data);
  return answer;
}

function showSwitch(view) {
  sales.view = { ...sales.view, ...view };
  const { engaged, reason, since, operators_paused: operators } = sales.view;
  const when = since ? ` since ${clock.format(new Date(since))}` : "";
  $("sales-state").textContent = engaged
    ? `Sales are paused${when}${reason ? `: ${reason}` : "."}`
    : `Sales are on${when}.`;
  $("sales-state").classList.toggle("paused", engaged);
  $("flip-button").textContent = engaged ? "Resume sales" : "Pause sales";
  $("operators-paused").hidden = operators == null;
  $("operators-paused").textContent =
    operators == null
      ? ""
      : `The platform's operators have paused every shop${operators ? `: ${operators}` : ""}. This shop's switch cannot lift that.`;
  tickCooldown();
  clearInterval(sales.ticker);
  sales.ticker = setInterval(tickCooldown, 1000);
}

function cooldownLeftMs() {
  const until = sales.view?.cooldown_until;
  if (!until) return 0;
  return Math.max(0, Date.parse(until) - (Date.now() + serverOffsetMs));
}

function tickCooldown() {
  const left = cooldownLeftMs();
  const cooling = left > 0;
  $("cooldown").hidden = !cooling;
  $("force-open").hidden = !cooling;
  if (!cooling) {
    $("force").hidden = true;
    clearInterval(sales.ticker);
    return;
  }
  const seconds = Math.ceil(left / 1000);
  const minutes = Math.floor(seconds / 60);
  const shown = `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
  const next = sales.view.engaged ? "resumed" : "paused again";
  $("cooldown").textContent = `Cooldown: sales can be ${next} in ${shown}, unless the flip is forced.`;
  $("cooldown").dataset.seconds = String(seconds);
}

async function flip(force) {
  const form = $("flip");
  const result = form.querySelector(".result");
  const engaged = !sales.view?.engaged;
  const body = { engaged, reason: form.elements.reason.value.trim() || null, force };
  say(result, engaged ? "Pausing…" : "Resuming…");
  const answer = await write("PUT", "/api/admin/kill-switch", body);
  if (!answer) {
    say(result, "The shop did not answer. Try again: the switch does not flip twice.", false);
    return;
  }
  if (!answer.response.ok) {
    say(result, `Refused: ${refusalOf(answer)}`, false);
    tickCooldown();
    return;
  }
  showSwitch(answer.data);
  form.elements.reason.value = "";
  say(result, answer.data.engaged ? "Sales are paused." : "Sales are on again.", true);
  refreshAudit();
}

function setUpSales() {
  onSubmit($("flip"), () => flip(false));
  $("force-open").addEventListener("click", () => {
    const next = sales.view?.engaged ? "resume" : "pause";
    $("force-question").textContent =
      `Force sales to ${next} now, inside the cooldown? The audit log records the flip as forced.`;
    $("force").hidden = false;
    $("force-confirm").focus();
  });
  $("force-cancel").addEventListener("click", () => {
    $("force").hidden = true;
    $("force-open").focus();
  });
  $("force-confirm").addEventListener("click", async () => {
    const button = $("force-confirm");
    if (button.disabled) return;
    button.disabled = true;
    try {
      await flip(true);
    } finally {
      button.disabled = false;
      $("force").hidden = true;
      $("flip-button").focus();
    }
  });
}

// ---- Audit log --------------------------------------------------------------------------

const audit = { action: "", cursors: [null], page: 0, next: null };

async function loadAudit() {
  const before = audit.cursors[audit.page];
  let query = `order=newest&limit=${AUDIT_PAGE}`;
  if (audit.action) query += `&action=${encodeURIComponent(audit.action)}`;
  if (before) query += `&before=${before}`;
  const answer = await call(`/api/admin/audit?${query}`);
  if (!answer.response.ok) throw new Error(refusalOf(answer));
  const { entries, next } = answer.data;
  audit.next = next ?? null;
  const list = $("audit-entries");
  list.replaceChildren(
    ...entries.map((entry) => {
      const li = document.createElement("li");
      li.dataset.action = entry.action;
      const time = document.createElement("time");
      time.dateTime = entry.at;
      time.textContent = clock.format(new Date(entry.at));
      const action = document.createElement("strong");
      action.textContent = entry.action;
      const who = document.createElement("span");
      who.className = "actor";
      who.textContent = `by ${entry.actor}`;
      const what = document.createElement("span");
      what.className = "change";
      what.textContent = describe(entry);
      li.append(time, " ", action, " ", who, " ", what);
      return li;
    }),
  );
  if (!entries.length) {
    const li = document.createElement("li");
    li.textContent = audit.page ? "No older entries." : "No entries.";
    list.append(li);
  }
  $("audit-newer").disabled = audit.page === 0;
  $("audit-older").disabled = !audit.next;
}

// One line for what an entry changed.
function describe(entry) {
  const before = entry.before ?? {};
  const after = entry.after ?? {};
  const target = items.byId.get(entry.target.replace(/^item:/, ""))?.name ?? entry.target;
  if (entry.action === "purchase") {
    return `${target}: ${after.quantity} bought, stock ${before.stock} → ${after.stock}`;
  }
  if (entry.action.startsWith("kill_switch.")) {
    const reason = after.state?.reason;
    return reason ? `reason: ${reason}` : "";
  }
  const changes = Object.keys(after)
    .filter((key) => key !== "id" && JSON.stringify(before[key]) !== JSON.stringify(after[key]))
    .map((key) =>
      key in before ? `${key} ${before[key]} → ${after[key]}` : `${key} ${after[key]}`,
    );
  return `${target}: ${changes.join(", ")}`;
}

// After a write: the newest page again, if that is the page shown.
function refreshAudit() {
  if (audit.page === 0) loadAudit().catch(() => {});
}

function setUpAudit() {
  const form = $("audit-filter");
  onSubmit(form, async () => {
    audit.action = form.elements.action.value;
    audit.cursors = [null];
    audit.page = 0;
    await loadAudit().catch((err) => notice(`The audit log cannot be read: ${err.message}`));
  });
  $("audit-older").addEventListener("click", () => {
    if (!audit.next) return;
    audit.cursors[audit.page + 1] = audit.next;
    audit.page += 1;
    loadAudit().catch(() => {});
  });
  $("audit-newer").addEventListener("click", () => {
    audit.page = Math.max(0, audit.page - 1);
    loadAudit().catch(() => {});
  });
}

// ---- Live sale --------------------------------------------------------------------------

const live = {
  itemId: null,
  seconds: [], // the last HISTORY_SECONDS aggregates, oldest first
  stockAtStart: new Map(), // item id -> stock when the page first knew it
  soldWhileWatched: new Map(), // item id -> units
  stream: null,
};

function fillLiveChoices() {
  const select = $("live-item");
  const choices = [...items.byId.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const item of choices) {
    if (!live.stockAtStart.has(item.id)) live.stockAtStart.set(item.id, item.stock);
  }
  select.replaceChildren(
    ...choices.map((item) => {
      const option = document.createElement("option");
      option.value = item.id;
      option.textContent = `${item.name} (${item.sku})`;
      return option;
    }),
  );
  if (!live.itemId && choices.length) live.itemId = choices[0].id;
  select.value = live.itemId ?? "";
  drawLive();
}

function watchItem(itemId) {
  live.itemId = itemId;
  $("live-item").value = itemId;
  drawLive();
}

function liveStatus(text) {
  $("live-status").textContent = text;
}

function onLiveEvent(name, data) {
  if (name === "ready") {
    const ready = JSON.parse(data);
    $("edge-counted").hidden = ready.edge_counted;
    liveStatus("Live: the whole shop, updated every second.");
    return;
  }
  if (name !== "second") return;
  const second = JSON.parse(data);
  second.byItem = new Map(second.items.map((item) => [item.item_id, item]));
  live.seconds.push(second);
  if (live.seconds.length > HISTORY_SECONDS) live.seconds.shift();
  for (const item of second.items) {
    live.soldWhileWatched.set(item.item_id, (live.soldWhileWatched.get(item.item_id) ?? 0) + item.sold);
    const known = items.byId.get(item.item_id);
    if (known) known.stock = item.stock;
    const row = items.rows.get(item.item_id);
    if (row) showStock(row, item.stock);
  }
  drawLive();
}

// The selected item's series over the seconds seen: units sold, and stock carried forward.
function series(itemId) {
  let stock = live.stockAtStart.get(itemId) ?? null;
  const sold = [];
  const left = [];
  for (const second of live.seconds) {
    const item = second.byItem.get(itemId);
    sold.push(item?.sold ?? 0);
    if (item) stock = item.stock;
    left.push(stock);
  }
  return { sold, left };
}

function drawLive() {
  const itemId = live.itemId;
  const latest = live.seconds.at(-1);
  if (itemId) {
    const { sold, left } = series(itemId);
    const item = items.byId.get(itemId);
    $("live-sold").textContent = count.format(sold.at(-1) ?? 0);
    const stock = left.at(-1) ?? item?.stock;
    $("live-stock").textContent = stock == null ? "–" : count.format(stock);
    $("live-sold-total").textContent = count.format(live.soldWhileWatched.get(itemId) ?? 0);
    const peak = Math.max(1, ...sold);
    drawArea($("chart-sold"), sold, peak);
    const stockPeak = Math.max(1, ...left.filter((v) => v != null));
    drawLine($("chart-stock"), left, stockPeak);
    $("chart-sold-caption").textContent = `Units sold per second, ${spanText()} (peak ${count.format(Math.max(0, ...sold))})`;
    $("chart-stock-caption").textContent = `Stock left, ${spanText()} (top ${count.format(stockPeak)})`;
    const name = item?.name ?? "the item";
    $("chart-sold-text").textContent =
      `${name}: ${count.format(sum(sold))} sold in the last ${sold.length} s, at most ${count.format(Math.max(0, ...sold))} in one second.`;
    $("chart-stock-text").textContent = `${name}: ${stock == null ? "stock unknown" : `${count.format(stock)} in stock now`}.`;
  }
  const totals = Object.fromEntries(REASONS.map((reason) => [reason, 0]));
  for (const second of live.seconds) {
    for (const reason of REASONS) totals[reason] += second.refused[reason];
  }
  for (const reason of REASONS) {
    $(`refused-${reason}-now`).textContent = count.format(latest?.refused[reason] ?? 0);
    $(`refused-${reason}-total`).textContent = count.format(totals[reason]);
  }
  drawStacked($("chart-refused"), live.seconds.map((second) => second.refused));
  $("chart-refused-caption").textContent = `Refused purchases per second, by reason, ${spanText()}`;
  $("chart-refused-text").textContent = REASONS.map(
    (reason) => `${reason.replace("_", " ")}: ${count.format(totals[reason])}`,
  ).join(", ");
}

const sum = (values) => values.reduce((a, b) => a + b, 0);

// SVG drawing: x is the second (the newest on the right edge), y grows downwards.
const SVG = "http://www.w3.org/2000/svg";

function spanSeconds() {
  return Math.min(HISTORY_SECONDS, Math.max(MIN_SPAN_SECONDS, live.seconds.length));
}

function spanText() {
  const span = spanSeconds();
  return span % 60 === 0 ? `last ${span / 60} min` : `last ${span} s`;
}

function chartSize(svg) {
  const [, , width, height] = svg.getAttribute("viewBox").split(" ").map(Number);
  return { width, height, step: width / (spanSeconds() - 1) };
}

function xOf(index, length, step, width) {
  return width - (length - 1 - index) * step;
}

function pathIn(svg, className) {
  let path = svg.querySelector(`path.${className}`);
  if (!path) {
    path = document.createElementNS(SVG, "path");
    path.setAttribute("class", className);
    svg.append(path);
  }
  return path;
}

function drawArea(svg, values, peak) {
  const { width, height, step } = chartSize(svg);
  const n = values.length;
  if (!n) return pathIn(svg, "area").setAttribute("d", "");
  let d = `M${xOf(0, n, step, width).toFixed(1)},${height}`;
  values.forEach((value, i) => {
    d += ` L${xOf(i, n, step, width).toFixed(1)},${(height - (value / peak) * (height - 4)).toFixed(1)}`;
  });
  d += ` L${width},${height} Z`;
  pathIn(svg, "area").setAttribute("d", d);
}

function drawLine(svg, values, peak) {
  const { width, height, step } = chartSize(svg);
  const n = values.length;
  let d = "";
  values.forEach((value, i) => {
    if (value == null) return;
    const x = xOf(i, n, step, width).toFixed(1);
    const y = (height - 2 - (value / peak) * (height - 6)).toFixed(1);
    d += d ? ` L${x},${y}` : `M${x},${y}`;
  });
  pathIn(svg, "line").setAttribute("d", d);
}

// Refusals per second, stacked by reason.
function drawStacked(svg, seconds) {
  const { width, height, step } = chartSize(svg);
  const n = seconds.length;
  const peak = Math.max(1, ...seconds.map((r) => sum(REASONS.map((reason) => r[reason]))));
  const base = new Array(n).fill(0);
  for (const reason of REASONS) {
    const top = seconds.map((r, i) => base[i] + r[reason]);
    const y = (v) => (height - (v / peak) * (height - 4)).toFixed(1);
    let d = "";
    if (n) {
      d = top.map((v, i) => `${i ? "L" : "M"}${xOf(i, n, step, width).toFixed(1)},${y(v)}`).join(" ");
      for (let i = n - 1; i >= 0; i -= 1) d += ` L${xOf(i, n, step, width).toFixed(1)},${y(base[i])}`;
      d += " Z";
    }
    pathIn(svg, `refused-${reason.replace("_", "-")}`).setAttribute("d", d);
    top.forEach((v, i) => (base[i] = v));
  }
}

async function followLive() {
  const pauses = reconnectPauses();
  while (session.token) {
    const stream = new AbortController();
    live.stream = stream;
    let wait = pauses.jittered();
    try {
      const response = await openEventStream("/api/admin/events", session.token, stream);
      if (response.status === 401 || response.status === 403) {
        const problem = await response.json().catch(() => null);
        liveStatus(`The live view stopped: ${problem?.detail ?? "the sign-in is no longer valid"}. Open a fresh admin link.`);
        return;
      }
      if (response.status === 429) {
        wait = retryAfterSeconds(response, 5) * 1000;
        liveStatus(`Too many live views are open for this sign-in; retrying in ${Math.round(wait / 1000)} s.`);
      } else {
        await readEventStream(response, stream, STREAM_SILENCE_MS, (name, data) => {
          pauses.reset();
          onLiveEvent(name, data);
        });
        liveStatus("Reconnecting…");
      }
    } catch {
      liveStatus("Reconnecting…");
    }
    await sleep(wait);
    pauses.grow();
  }
}

// ---- Domains ----------------------------------------------------------------------------

const domainsPath = "/api/admin/domains";
const domainPath = (hostname, rest = "") => `${domainsPath}/${encodeURIComponent(hostname)}${rest}`;

// Where a domain stands, in words the owner can act on.
function domainStatus(domain) {
  const reason = domain.reason ? `: ${domain.reason}` : "";
  if (domain.status === "failed") return `Failed${reason || ": the last check did not pass"}`;
  if (domain.status === "active") {
    const certificate = domain.certificate;
    if (certificate && certificate !== "active") {
      return `Verified; its certificate is pending (${certificate})`;
    }
    return "Live";
  }
  const lapses = domain.expires_at ? ` The claim lapses ${clock.format(new Date(domain.expires_at))}.` : "";
  const what = domain.verification?.txt_required ? "Waiting for ownership proof (the TXT record)" : "Waiting for DNS";
  return `${what}${reason}.${lapses}`;
}

function recordRow(type, name, value, needed) {
  const row = document.createElement("tr");
  for (const text of [type, name, value, needed]) {
    const cell = document.createElement("td");
    cell.textContent = text;
    row.append(cell);
  }
  return row;
}

function domainItem(domain) {
  const item = $("domain-template").content.firstElementChild.cloneNode(true);
  const find = (selector) => item.querySelector(selector);
  item.dataset.hostname = domain.hostname;
  item.dataset.status = domain.status;
  find(".domain-name").textContent = domain.hostname;
  find(".domain-primary").hidden = !domain.primary;
  find(".domain-status").textContent = domainStatus(domain);
  const records = find(".records tbody");
  records.append(recordRow("CNAME", domain.cname.name, domain.cname.target, "Required"));
  const txt = domain.verification?.txt;
  if (txt) {
    const needed = domain.verification.txt_required ? "Required" : "Optional";
    records.append(recordRow("TXT", txt.name, txt.value, needed));
  }
  find(".records-wrap").hidden = domain.status === "active";
  find(".domain-checked").textContent = domain.last_checked_at
    ? `Last checked ${clock.format(new Date(domain.last_checked_at))}.`
    : "Not checked yet.";
  find(".check").hidden = domain.status === "active";
  find(".make-primary").hidden = domain.status !== "active" || domain.primary;
  const result = find(".result");
  const act = async (button, method, rest, done) => {
    button.disabled = true;
    try {
      const answer = await write(method, domainPath(domain.hostname, rest));
      if (!answer) say(result, "The shop did not answer; try again.", false);
      else if (!answer.response.ok) say(result, refusalOf(answer), false);
      else {
        await loadDomains();
        say($("add-domain").querySelector(".result"), done(answer), true);
      }
    } finally {
      button.disabled = false;
    }
  };
  find(".check").addEventListener("click", (event) =>
    act(event.target, "POST", "/verify", (answer) =>
      answer.data?.status === "active" ? `${domain.hostname} is live.` : domainStatus(answer.data ?? domain),
    ),
  );
  find(".make-primary").addEventListener("click", (event) =>
    act(event.target, "PUT", "/primary", () => `${domain.hostname} is now the primary domain.`),
  );
  const confirm = find(".remove-confirm");
  find(".remove").addEventListener("click", () => (confirm.hidden = false));
  find(".remove-no").addEventListener("click", () => (confirm.hidden = true));
  find(".remove-yes").addEventListener("click", (event) =>
    act(event.target, "DELETE", "", () => `${domain.hostname} was removed.`),
  );
  return item;
}

async function loadDomains() {
  const answer = await call(domainsPath);
  if (!answer.response.ok) throw new Error(refusalOf(answer));
  const domains = answer.data?.domains ?? [];
  const list = $("domain-list");
  list.replaceChildren(...domains.map(domainItem));
  if (!domains.length) {
    const none = document.createElement("li");
    none.textContent = "The shop has no domain of its own yet.";
    list.append(none);
  }
}

function setUpDomains() {
  onSubmit($("add-domain"), async (form) => {
    const result = form.querySelector(".result");
    const hostname = form.elements.hostname.value.trim();
    const answer = await write("POST", domainsPath, { hostname });
    if (!answer) return say(result, "The shop did not answer; try again.", false);
    if (!answer.response.ok) return say(result, refusalOf(answer), false);
    form.reset();
    say(result, `${answer.data?.hostname ?? hostname} was added: create its DNS records, then check it.`, true);
    await loadDomains();
  });
}

// ---- Pictures ---------------------------------------------------------------------------

// An item's pictures. The browser makes the sizes itself before uploading (canvas to WebP at
// 1280, 640 and 320 px wide, never wider than the file), so the Worker never decodes an image:
// the widest goes up first and is the picture, the others follow as its sizes (`size_of`), for
// the storefront's srcset. Each file shows its progress: the bytes go with XMLHttpRequest,
// because fetch() cannot report an upload's progress. A retry sends the same Idempotency-Key,
// so a picture is never added twice.
const PICTURE_WIDTHS = [1280, 640, 320];
const PICTURE_QUALITY = 0.85;
const pictures = { itemId: null, list: [] };

function fillPictureChoices() {
  const select = $("picture-item");
  const chosen = pictures.itemId ?? select.value;
  select.replaceChildren();
  for (const item of items.byId.values()) {
    select.append(new Option(`${item.name} (${item.sku})`, item.id));
  }
  if (chosen && items.byId.has(chosen)) select.value = chosen;
  pictures.itemId = select.value || null;
  loadPictures().catch(() => notice("The pictures cannot be read right now."));
}

async function loadPictures() {
  if (!pictures.itemId) return;
  const { response, data } = await call(`/api/inventory/${pictures.itemId}`);
  if (!response.ok) throw new Error(refusalOf({ response, data }));
  showPictures(data.images ?? []);
}

// The smallest size at least `width` px wide, else the widest: what a thumbnail loads.
function sizeFor(picture, width) {
  const all = [picture, ...(picture.sizes ?? [])].sort((a, b) => a.width - b.width);
  return all.find((size) => size.width >= width) ?? all[all.length - 1];
}

function showPictures(list) {
  pictures.list = list;
  $("picture-empty").hidden = list.length > 0;
  const rows = list.map((picture, index) => {
    const row = $("picture-template").content.firstElementChild.cloneNode(true);
    row.dataset.pictureId = picture.id;
    const image = row.querySelector("img");
    const thumbnail = sizeFor(picture, 320);
    image.src = thumbnail.url;
    image.width = 160;
    image.height = Math.round((160 * picture.height) / picture.width);
    image.alt = picture.alt;
    row.querySelector(".picture-alt").textContent = picture.alt;
    const earlier = row.querySelector(".earlier");
    const later = row.querySelector(".later");
    earlier.disabled = index === 0;
    later.disabled = index === list.length - 1;
    earlier.addEventListener("click", () => movePicture(index, -1));
    later.addEventListener("click", () => movePicture(index, 1));
    row.querySelector(".remove").addEventListener("click", () => removePicture(picture));
    for (const [button, what] of [[earlier, "earlier"], [later, "later"], [row.querySelector(".remove"), "Remove"]]) {
      button.setAttribute("aria-label", `${what === "Remove" ? "Remove" : `Move ${what}`}: ${picture.alt}`);
    }
    return row;
  });
  $("picture-list").replaceChildren(...rows);
}

async function movePicture(index, step) {
  const ids = pictures.list.map((picture) => picture.id);
  const [moved] = ids.splice(index, 1);
  ids.splice(index + step, 0, moved);
  const result = $("add-pictures").querySelector(".result");
  const answer = await write("PUT", `/api/admin/items/${pictures.itemId}/images`, { ids });
  if (!answer?.response.ok) {
    say(result, answer ? `Refused: ${refusalOf(answer)}` : "The shop did not answer.", false);
    return;
  }
  showPictures(answer.data);
  refreshAudit();
}

async function removePicture(picture) {
  const result = $("add-pictures").querySelector(".result");
  const path = `/api/admin/items/${pictures.itemId}/images/${picture.id}`;
  const answer = await write("DELETE", path);
  if (!answer?.response.ok) {
    say(result, answer ? `Refused: ${refusalOf(answer)}` : "The shop did not answer.", false);
    return;
  }
  say(result, `Removed: ${picture.alt}.`, true);
  showPictures(pictures.list.filter((p) => p.id !== picture.id));
  refreshAudit();
}

// The sizes of `file` to upload, widest first, as WebP made with canvas.
async function sizesOf(file) {
  const bitmap = await createImageBitmap(file);
  const widths = [...new Set(PICTURE_WIDTHS.map((width) => Math.min(width, bitmap.width)))];
  const sizes = [];
  for (const width of widths) {
    const height = Math.max(1, Math.round((bitmap.height * width) / bitmap.width));
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    canvas.getContext("2d").drawImage(bitmap, 0, 0, width, height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/webp", PICTURE_QUALITY));
    sizes.push(blob);
  }
  bitmap.close();
  return sizes;
}

// One upload of `blob`, reporting its progress; retried with its key while the answer is in
// doubt. Resolves to { status, data } (status 0: the shop never answered).
async function sendPicture(query, blob, key, onProgress) {
  const path = `/api/admin/items/${pictures.itemId}/images?${new URLSearchParams(query)}`;
  let answer = { status: 0, data: null };
  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt += 1) {
    answer = await new Promise((resolve) => {
      const request = new XMLHttpRequest();
      request.open("POST", path);
      request.setRequestHeader("authorization", `Bearer ${session.token}`);
      request.setRequestHeader("idempotency-key", key);
      request.setRequestHeader("content-type", blob.type || "application/octet-stream");
      request.upload.addEventListener("progress", (event) => onProgress(event.loaded));
      request.addEventListener("load", () => {
        let data = null;
        try {
          data = JSON.parse(request.responseText);
        } catch {
          // Not JSON: reported by its status.
        }
        resolve({ status: request.status, data });
      });
      request.addEventListener("error", () => resolve({ status: 0, data: null }));
      request.send(blob);
    });
    const inDoubt = answer.status === 0 || answer.status >= 500 ||
      answer.data?.type === `${PROBLEM}idempotency-key-in-flight`;
    if (!inDoubt) break;
    await sleep(300 * (attempt + 1));
  }
  return answer;
}

// Uploads each of `files` (every size of it), each with its own progress line.
async function uploadPictures(files, alt) {
  for (const file of files) {
    const line = $("upload-template").content.firstElementChild.cloneNode(true);
    line.querySelector(".upload-name").textContent = file.name;
    const bar = line.querySelector("progress");
    const state = line.querySelector(".upload-state");
    $("picture-uploads").append(line);
    let sizes;
    try {
      state.textContent = "Making the sizes…";
      sizes = await sizesOf(file);
    } catch {
      state.textContent = "Refused: this browser cannot read it as a picture.";
      continue;
    }
    const total = sizes.reduce((sum, blob) => sum + blob.size, 0);
    let sent = 0;
    let picture = null;
    for (const blob of sizes) {
      state.textContent = "Uploading…";
      const query = picture ? { alt, size_of: picture.id } : { alt };
      const answer = await sendPicture(query, blob, newIdempotencyKey(), (loaded) => {
        bar.value = (sent + loaded) / total;
      });
      if (answer.status !== 201) {
        const why = answer.data?.detail ?? (answer.status ? `HTTP ${answer.status}` : "no answer");
        state.textContent = `Refused: ${why}`;
        break;
      }
      sent += blob.size;
      bar.value = sent / total;
      picture = picture ?? answer.data;
    }
    if (sent === total) state.textContent = "Added.";
  }
  await loadPictures();
  refreshAudit();
}

function setUpPictures() {
  $("picture-item").addEventListener("change", (event) => {
    pictures.itemId = event.target.value;
    loadPictures().catch(() => notice("The pictures cannot be read right now."));
  });
  const form = $("add-pictures");
  const result = form.querySelector(".result");
  onSubmit(form, async () => {
    say(result, "");
    await uploadPictures([...form.elements.files.files], form.elements.alt.value.trim());
    form.reset();
  });
  const zone = $("picture-drop");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const alt = form.elements.alt.value.trim();
    if (!alt) {
      say(result, "Write the alt text first: it goes with every picture dropped.", false);
      form.elements.alt.focus();
      return;
    }
    await uploadPictures([...event.dataTransfer.files], alt);
  });
}

// ---- Start ------------------------------------------------------------------------------

async function start() {
  session.token = signIn.take();
  signIn.show(session.token);
  $("sign-out").addEventListener("click", signOut);
  showShopName((name) => `${name} · console`, session.token).catch(() => notice("The shop cannot be reached right now."));
  if (!session.token) return;
  // Nothing of the shop is shown before the shop has accepted this token for an admin route.
  let answer;
  for (;;) {
    try {
      answer = await loadSwitch();
      if (answer.response.status < 500) break;
    } catch {
      // The shop cannot be reached: try again.
    }
    notice("The shop cannot be reached; retrying…");
    await sleep(2000);
  }
  notice("");
  if (answer.response.status === 401) {
    refuse(`This sign-in is not valid (${refusalOf(answer)}). Open a fresh admin link.`);
    return;
  }
  if (!answer.response.ok) {
    refuse(`This sign-in cannot manage the shop: ${refusalOf(answer)}.`);
    return;
  }
  $("console").hidden = false;
  $("sections").hidden = false;
  setUpItems();
  setUpSales();
  setUpAudit();
  setUpDomains();
  setUpPictures();
  $("live-item").addEventListener("change", (event) => watchItem(event.target.value));
  loadItems()
    .then(fillPictureChoices)
    .catch(() => notice("The items cannot be read right now."));
  loadAudit().catch((err) => notice(`The audit log cannot be read: ${err.message}`));
  loadDomains().catch((err) => notice(`The domains cannot be read: ${err.message}`));
  followLive();
}

start();
