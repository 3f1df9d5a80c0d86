// The shop owner's console as an owner uses it, in headless Chromium against the real Worker
// and origin. Started by tests/tests/admin_console.rs, which sets up the shops and checks the
// database after.
//
// Environment: EDGE_PORT (the Worker under miniflare on 127.0.0.1), DEMO_DOMAIN and
// OTHER_DOMAIN (two shops), ADMIN_TOKEN (the demo shop's owner), OTHER_ADMIN_TOKEN (the other
// shop's), SHOPPER_TOKEN (a demo shopper), BUYER_TOKENS (a JSON array of demo shoppers for the
// load), GREEDY_TOKEN (a demo shopper who buys past the rate limit), LOAD_PER_BUYER, GREEDY_BUYS,
// SCREENSHOT_DIR (where the pictures go).
//
// The demo shop starts with CHAIR 10 and SOFA 1; the other shop with LAMP 3.
import { mkdir } from "node:fs/promises";
import path from "node:path";

import { eventually, launch, openPage, runSteps, waitForText } from "./browser.mjs";

const env = process.env;
const port = env.EDGE_PORT;
const demo = env.DEMO_DOMAIN;
const other = env.OTHER_DOMAIN;
const buyers = JSON.parse(env.BUYER_TOKENS);
const perBuyer = Number(env.LOAD_PER_BUYER);
const greedyBuys = Number(env.GREEDY_BUYS);

const originOf = (domain) => `http://${domain}:${port}`;
const consoleUrl = (domain, token) => `${originOf(domain)}/admin#token=${token}`;
const shopUrl = (domain, token) => `${originOf(domain)}/#token=${token}`;
const itemRow = (page, sku) => page.locator(`#item-rows tr[data-sku="${sku}"]`);
const text = async (locator) => (await locator.textContent())?.trim() ?? "";
const number = async (locator) => Number((await text(locator)).replace(/,/g, ""));

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Calls to `method` on URLs ending with `suffix`, as the page sends them. */
function recordRequests(page, method, suffix) {
  const seen = [];
  page.on("request", (request) => {
    if (request.method() === method && new URL(request.url()).pathname.endsWith(suffix)) {
      seen.push(request.headers()["idempotency-key"]);
    }
  });
  return seen;
}


const failures = [];
const browser = await launch([originOf(demo), originOf(other)]);
const pages = {};
const shots = async (name, page) => {
  await mkdir(env.SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(env.SCREENSHOT_DIR, name), fullPage: true });
};

const steps = [
  [
    "the admin link signs the owner in: the shop, its items and its sales",
    async () => {
      pages.owner = await openPage(browser, consoleUrl(demo, env.ADMIN_TOKEN), failures);
      const owner = pages.owner;
      await waitForText(owner.locator("h1"), `Shop ${demo}`);
      await waitForText(owner.locator("#admin-name"), "owner");
      assert(!owner.url().includes("#"), `the token stayed in the address bar: ${owner.url()}`);
      await waitForText(itemRow(owner, "CHAIR").locator(".item-stock"), "10");
      await waitForText(itemRow(owner, "CHAIR").locator(".item-price"), "$100.00");
      await waitForText(owner.locator("#sales-state"), "Sales are on");
      await waitForText(owner.locator("#live-status"), "Live");
    },
  ],
  [
    "every control has a label",
    async () => {
      const unlabelled = await pages.owner.evaluate(() =>
        [...document.querySelectorAll("input, select, textarea, button, summary, a")]
          .filter((el) => {
            if (el.matches("input, select, textarea")) {
              return el.labels.length === 0 && !el.getAttribute("aria-label");
            }
            return !(el.getAttribute("aria-label") || el.textContent.trim());
          })
          .map((el) => el.outerHTML.slice(0, 80)),
      );
      assert(unlabelled.length === 0, `controls without a label: ${unlabelled.join(" | ")}`);
    },
  ],
  [
    "an item is added with its own Idempotency-Key, and a double click adds it once",
    async () => {
      const owner = pages.owner;
      const creates = recordRequests(owner, "POST", "/api/admin/items");
      await owner.locator("#new-item summary").click();
      const form = owner.locator("#create-item");
      await form.getByLabel("SKU").fill("BENCH");
      await form.getByLabel("Name").fill("Oak bench");
      await form.getByLabel("Price (USD)").fill("249.00");
      await form.getByLabel("Stock").fill("100");
      await form.getByRole("button", { name: "Add the item" }).dblclick();
      await waitForText(form.locator(".result"), "Added Oak bench (BENCH) with 100 in stock.");
      await waitForText(itemRow(owner, "BENCH").locator(".item-stock"), "100");
      assert(creates.length === 1, `a double click sent ${creates.length} creates`);
      // The same form sent again is a new item: the shop refuses its sku, in its own words.
      await form.getByLabel("SKU").fill("BENCH");
      await form.getByLabel("Name").fill("Another bench");
      await form.getByLabel("Price (USD)").fill("1");
      await form.getByLabel("Stock").fill("1");
      await form.getByRole("button", { name: "Add the item" }).click();
      await waitForText(form.locator(".result"), "Refused: an item with this sku already exists");
      assert(creates.length === 2 && creates[0] !== creates[1], "each write has its own key");
    },
  ],
  [
    "a restock by keyboard, a double-clicked restock counted once, a rename, a refusal",
    async () => {
      const owner = pages.owner;
      const patches = recordRequests(owner, "PATCH", "");
      const row = itemRow(owner, "BENCH");
      await row.locator("summary").focus();
      await owner.keyboard.press("Enter");
      const restock = row.locator("form.restock");
      const delta = restock.getByLabel("Add to stock");
      await delta.focus();
      await owner.keyboard.type("30");
      await owner.keyboard.press("Enter");
      await waitForText(row.locator(".result"), "Restocked: 130 in stock now.");
      await delta.fill("20");
      await restock.getByRole("button", { name: "Restock" }).dblclick();
      await waitForText(row.locator(".result"), "Restocked: 150 in stock now.");
      await waitForText(row.locator(".item-stock"), "150");
      assert(patches.length === 2, `two restocks sent ${patches.length} writes`);
      assert(patches[0] !== patches[1], "each restock has its own Idempotency-Key");

      const rename = row.locator("form.rename");
      await rename.getByLabel("Name").fill("Oak bench, long");
      await rename.getByLabel("Price (USD)").fill("259.00");
      await rename.getByRole("button", { name: "Save name and price" }).click();
      await waitForText(row.locator(".result"), "Saved: Oak bench, long at $259.00.");
      await waitForText(row.locator(".item-price"), "$259.00");

      await delta.fill("-1000");
      await restock.getByRole("button", { name: "Restock" }).click();
      await waitForText(row.locator(".result"), "Refused: stock cannot go below zero");
      await waitForText(row.locator(".item-stock"), "150");
    },
  ],
  [
    "pausing sales with a reason: the storefront shows the pause and the cooldown counts down",
    async () => {
      const owner = pages.owner;
      await owner.locator("#flip").getByLabel("Reason").fill("stocktaking");
      await owner.getByRole("button", { name: "Pause sales" }).click();
      await waitForText(owner.locator("#sales-state"), /Sales are paused since .*: stocktaking/);
      await waitForText(owner.locator("#cooldown"), /can be resumed in \d+:\d\d/);
      const before = Number(await owner.locator("#cooldown").getAttribute("data-seconds"));
      await eventually(
        async () => Number(await owner.locator("#cooldown").getAttribute("data-seconds")),
        (seconds) => seconds < before,
        "the countdown",
        5000,
      );
      pages.shopper = await openPage(browser, shopUrl(demo, env.SHOPPER_TOKEN), failures);
      const shopper = pages.shopper;
      const bench = shopper.locator('li[data-sku="BENCH"]');
      await waitForText(bench.locator(".item-stock"), "150 in stock");
      await bench.locator("button").click();
      await waitForText(bench.locator(".item-result"), /^Sales are paused right now \(.*stocktaking.*\)/);
    },
  ],
  [
    "resuming inside the cooldown is refused, and forcing it asks first",
    async () => {
      const owner = pages.owner;
      await owner.getByRole("button", { name: "Resume sales" }).click();
      await waitForText(owner.locator("#flip .result"), /^Refused: the kill switch is in its cooldown/);
      await owner.getByRole("button", { name: "Force the flip…" }).click();
      await waitForText(owner.locator("#force-question"), "Force sales to resume now");
      await owner.getByRole("button", { name: "Cancel" }).click();
      assert(await owner.locator("#force").isHidden(), "cancelled");
      await waitForText(owner.locator("#sales-state"), "Sales are paused");
      await owner.getByRole("button", { name: "Force the flip…" }).click();
      await owner.getByRole("button", { name: "Yes, force it" }).click();
      await waitForText(owner.locator("#sales-state"), "Sales are on");
      const bench = pages.shopper.locator('li[data-sku="BENCH"]');
      await bench.locator("button").click();
      await waitForText(bench.locator(".item-result"), /^Order [0-9a-f-]{36} confirmed: 1 × Oak bench, long\.$/);
    },
  ],
  [
    "the live chart moves while a bounded load of purchases runs",
    async () => {
      const owner = pages.owner;
      const itemId = await itemRow(owner, "BENCH").getAttribute("data-item-id");
      await owner.locator("#live-item").selectOption(itemId);
      await waitForText(owner.locator("#live-stock"), "149");
      const soldBefore = await number(owner.locator("#live-sold-total"));
      const soldPath = () => owner.locator("#chart-sold path.area").getAttribute("d");
      const stockPath = () => owner.locator("#chart-stock path.line").getAttribute("d");
      const before = { sold: await soldPath(), stock: await stockPath() };
      // The load: buyers of the bench, each a few buys, paced, and one buyer past the rate
      // limit; sold-out answers from the edge and the origin alike count as sold out; from a
      // shopper's page, so it goes through the Worker as a browser's would.
      const load = pages.shopper.evaluate(
        async ({ buyers, greedy, itemId, perBuyer, greedyBuys }) => {
          const statuses = {};
          const refusedAt = [];
          let edgeSoldOut = 0;
          const buyOnce = async (token) => {
            const response = await fetch("/api/buy", {
              method: "POST",
              headers: {
                authorization: `Bearer ${token}`,
                "content-type": "application/json",
                "idempotency-key": crypto.randomUUID(),
              },
              body: JSON.stringify({ item_id: itemId, quantity: 1 }),
            });
            statuses[response.status] = (statuses[response.status] ?? 0) + 1;
            if (response.status === 429) refusedAt.push(Date.now());
            if (response.status === 409 && response.headers.get("x-edge-refusal")) edgeSoldOut += 1;
          };
          const buyer = async (token, n, pauseMs) => {
            for (let i = 0; i < n; i += 1) {
              await buyOnce(token);
              await new Promise((resolve) => setTimeout(resolve, pauseMs));
            }
          };
          // The greedy buyer goes first, past its quota while benches are left (once the edge
          // knows they are sold out, buys are answered 409 there and count against nothing).
          await buyer(greedy, greedyBuys, 0);
          await Promise.all(buyers.map((token) => buyer(token, perBuyer, 100)));
          const span = refusedAt.length ? Math.max(...refusedAt) - Math.min(...refusedAt) : 0;
          return { statuses, refusedForMs: span, edgeSoldOut };
        },
        { buyers, greedy: env.GREEDY_TOKEN, itemId, perBuyer, greedyBuys },
      );
      await eventually(
        () => number(owner.locator("#live-sold-total")),
        (n) => n > soldBefore,
        "units sold while the load runs",
      );
      const during = await soldPath();
      const { statuses, refusedForMs, edgeSoldOut } = await load;
      console.log(`# the load was answered ${JSON.stringify(statuses)}, 429s over ${refusedForMs} ms`);
      const confirmed = statuses[201] ?? 0;
      assert(confirmed === 149, `149 benches were left to sell, ${confirmed} sold`);
      await eventually(
        () => number(owner.locator("#live-sold-total")),
        (n) => n === soldBefore + confirmed,
        "units sold while watched",
      );
      await waitForText(owner.locator("#live-stock"), /^0$/);
      await waitForText(itemRow(owner, "BENCH").locator(".item-stock"), /^0$/);
      assert(during !== before.sold, "the units-sold chart did not move during the load");
      assert((await soldPath()) !== during, "the units-sold chart did not move on");
      assert((await stockPath()) !== before.stock, "the stock chart did not move");
      // The origin counts each sold-out answer it gives; the edge counts a client once a second.
      const fromOrigin = (statuses[409] ?? 0) - edgeSoldOut;
      const fewest = fromOrigin + (edgeSoldOut > 0 ? 1 : 0);
      await eventually(
        () => number(owner.locator("#refused-sold_out-total")),
        (n) => n >= fewest && n <= (statuses[409] ?? 0),
        `sold-out refusals (${fewest}..=${statuses[409] ?? 0})`,
      );
      // A client counts once per second however often it is refused (one greedy shopper
      // cannot inflate the view): its refusals, over refusedForMs, count once per second.
      const mostCounted = Math.min(statuses[429] ?? 0, Math.ceil(refusedForMs / 1000) + 1);
      await eventually(
        () => number(owner.locator("#refused-rate_limited-total")),
        (n) => n >= 1 && n <= mostCounted,
        `rate-limited refusals (1..=${mostCounted})`,
      );
      assert((statuses[429] ?? 0) > 0, "the greedy buyer was rate limited");
      assert((await number(owner.locator("#refused-paused-total"))) >= 1, "the paused buy counts");
      assert(await owner.locator("#edge-counted").isHidden(), "the edge's refusals are counted");
      await mkdir(env.SCREENSHOT_DIR, { recursive: true });
      await owner.locator("#live").screenshot({ path: path.join(env.SCREENSHOT_DIR, "admin-live.png") });
    },
  ],
  [
    "the audit log lists the newest first, filters by action and pages back",
    async () => {
      const owner = pages.owner;
      const filter = owner.locator("#audit-filter");
      const actions = () =>
        owner.locator("#audit-entries li").evaluateAll((items) => items.map((li) => li.dataset.action));
      const times = () =>
        owner.locator("#audit-entries time").evaluateAll((items) => items.map((t) => t.dateTime));
      await filter.getByLabel("Action").selectOption("kill_switch.engage");
      await filter.getByRole("button", { name: "Show the newest" }).click();
      await eventually(actions, (a) => a.length === 1 && a[0] === "kill_switch.engage", "pauses");
      await waitForText(owner.locator("#audit-entries li"), "stocktaking");
      await filter.getByLabel("Action").selectOption("kill_switch.release_forced");
      await filter.getByRole("button", { name: "Show the newest" }).click();
      await eventually(actions, (a) => a.length === 1 && a[0] === "kill_switch.release_forced", "forced");
      await filter.getByLabel("Action").selectOption("item.update");
      await filter.getByRole("button", { name: "Show the newest" }).click();
      await eventually(actions, (a) => a.length === 3, "item changes");
      await waitForText(owner.locator("#audit-entries li").first(), "name Oak bench → Oak bench, long");
      await filter.getByLabel("Action").selectOption("");
      await filter.getByRole("button", { name: "Show the newest" }).click();
      const newest = await eventually(times, (t) => t.length === 20, "a full page");
      assert(
        newest.every((t, i) => i === 0 || Date.parse(newest[i - 1]) >= Date.parse(t)),
        "newest first",
      );
      await owner.getByRole("button", { name: "Older entries" }).click();
      const older = await eventually(times, (t) => t.length > 0 && t[0] !== newest[0], "older");
      assert(Date.parse(older[0]) <= Date.parse(newest.at(-1)), "the next page is older");
      assert(await owner.getByRole("button", { name: "Newer entries" }).isEnabled(), "newer");
      await shots("admin-console.png", owner);
    },
  ],
  [
    "at 375 px wide the console fits, and works by keyboard",
    async () => {
      const narrow = await openPage(browser, consoleUrl(demo, env.ADMIN_TOKEN), failures, {
        width: 375,
        height: 812,
      });
      pages.narrow = narrow;
      await waitForText(itemRow(narrow, "BENCH").locator(".item-stock"), "0");
      await waitForText(narrow.locator("#live-status"), "Live");
      const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth);
      assert(overflow <= 375, `the page is ${overflow} px wide at 375 px`);
      await narrow.keyboard.press("Tab");
      assert(
        (await narrow.evaluate(() => document.activeElement?.textContent)) === "Skip to the console",
        "the first Tab reaches the skip link",
      );
      await narrow.locator("#new-item summary").focus();
      await narrow.keyboard.press("Enter");
      assert(await narrow.locator("#new-item").evaluate((d) => d.open), "Enter opens the form");
      const bench = itemRow(narrow, "BENCH");
      await bench.locator("summary").focus();
      await narrow.keyboard.press("Enter");
      await bench.locator("form.restock").getByLabel("Add to stock").focus();
      await narrow.keyboard.type("5");
      await narrow.keyboard.press("Enter");
      await waitForText(bench.locator(".result"), "Restocked: 5 in stock now.");
      await shots("admin-narrow.png", narrow);
    },
  ],
  [
    "a shopper's token gets a clear refusal and no admin data",
    async () => {
      const answered = [];
      const page = await openPage(browser, "about:blank", failures);
      page.on("response", (response) => {
        const { pathname } = new URL(response.url());
        if (pathname.startsWith("/api/")) answered.push(`${response.status()} ${pathname}`);
      });
      await page.goto(consoleUrl(demo, env.SHOPPER_TOKEN));
      await waitForText(
        page.locator("#refusal"),
        "This sign-in cannot manage the shop: this route is for shop admins.",
      );
      assert(await page.locator("#console").isHidden(), "the console stays hidden");
      assert((await page.locator("#item-rows tr").count()) === 0, "no items shown");
      assert((await page.locator("#audit-entries li").count()) === 0, "no audit shown");
      await page.waitForTimeout(1500);
      const adminAnswers = answered.filter((a) => a.includes("/api/admin/") || a.includes("/api/inventory"));
      assert(
        adminAnswers.length === 1 && adminAnswers[0] === "403 /api/admin/kill-switch",
        `the page asked for: ${adminAnswers.join(", ")}`,
      );
      await shots("admin-refused.png", page);
    },
  ],
  [
    "another shop's console shows none of this shop's data",
    async () => {
      const page = await openPage(browser, consoleUrl(other, env.OTHER_ADMIN_TOKEN), failures);
      await waitForText(page.locator("h1"), `Shop ${other}`);
      await waitForText(itemRow(page, "LAMP").locator(".item-stock"), "3");
      await waitForText(page.locator("#live-status"), "Live");
      const skus = await page
        .locator("#item-rows tr")
        .evaluateAll((rows) => rows.map((row) => row.dataset.sku));
      assert(JSON.stringify(skus) === '["LAMP"]', `the other shop lists ${skus}`);
      await waitForText(page.locator("#audit-entries li"), "No entries.");
      // A few seconds of its live view: nothing of the demo shop's sale or refusals.
      await page.waitForTimeout(3000);
      for (const id of ["#live-sold-total", "#refused-sold_out-total", "#refused-rate_limited-total", "#refused-paused-total"]) {
        assert((await number(page.locator(id))) === 0, `${id} shows another shop's figures`);
      }
      const body = await text(page.locator("body"));
      assert(!/Oak bench|BENCH|CHAIR|stocktaking/.test(body), "the demo shop's data shows");
      // The demo owner's token is refused on the other shop's console.
      const wrong = await openPage(browser, consoleUrl(other, env.ADMIN_TOKEN), failures);
      await waitForText(wrong.locator("#refusal"), "the token belongs to another shop");
      assert(await wrong.locator("#console").isHidden(), "no data for a foreign token");
    },
  ],
];

const passed = await runSteps(steps, failures);
await browser.close();
process.exit(passed ? 0 : 1);
