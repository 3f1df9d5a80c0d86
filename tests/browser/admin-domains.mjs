// A shop owner brings their own domains live from the console's Domains panel, in headless
// Chromium against the real Worker and origin. Started by
// tests/tests/suite/custom_domains_console.rs, which checks the database after.
//
// Environment: EDGE_PORT (the Worker on 127.0.0.1), HOME_DOMAIN (the shop's operator-made
// domain), ADMIN_TOKEN (its owner), NEW_DOMAIN and WWW_DOMAIN (the domains the owner adds),
// TARGET (the CNAME target the panel must show).
import { eventually, launch, openPage, runSteps, waitForText } from "./browser.mjs";

const env = process.env;
const port = env.EDGE_PORT;
const originOf = (domain) => `http://${domain}:${port}`;
const card = (page, hostname) => page.locator(`#domain-list li[data-hostname="${hostname}"]`);

function assert(condition, message) {
  if (!condition) throw new Error(message);
}


const failures = [];
const domains = [env.HOME_DOMAIN, env.NEW_DOMAIN, env.WWW_DOMAIN];
const browser = await launch(domains.map(originOf));
let owner;

async function addAndCheck(written, hostname) {
  await owner.locator("#add-domain input[name=hostname]").fill(written);
  await owner.locator("#add-domain button[type=submit]").click();
  await waitForText(owner.locator("#add-domain .result"), "was added");
  const added = card(owner, hostname);
  await waitForText(added.locator(".domain-status"), "Waiting for DNS");
  await added.locator(".check").click();
  await waitForText(owner.locator("#add-domain .result"), `${hostname} is live`);
  await waitForText(card(owner, hostname).locator(".domain-status"), "Live");
}

const steps = [
  [
    "the panel lists the domain the shop was given, live",
    async () => {
      owner = await openPage(browser, `${originOf(env.HOME_DOMAIN)}/admin#token=${env.ADMIN_TOKEN}`, failures);
      await waitForText(card(owner, env.HOME_DOMAIN).locator(".domain-status"), "Live");
    },
  ],
  [
    "adding a domain shows the DNS records to create and that it waits for DNS",
    async () => {
      await owner.locator("#add-domain input[name=hostname]").fill("Chairs.Acme.test");
      await owner.locator("#add-domain button[type=submit]").click();
      const added = card(owner, env.NEW_DOMAIN);
      await waitForText(added.locator(".domain-status"), "Waiting for DNS");
      const rows = await added.locator(".records tbody tr").allTextContents();
      assert(rows.length === 2, `two records: ${rows}`);
      assert(rows[0].includes("CNAME") && rows[0].includes(env.TARGET) && rows[0].includes("Required"), rows[0]);
      assert(rows[1].includes("TXT") && rows[1].includes(`_furnitureops.${env.NEW_DOMAIN}`) && rows[1].includes("Optional"), rows[1]);
      assert(await added.locator(".make-primary").isHidden(), "a pending domain cannot be primary");
    },
  ],
  [
    "check now verifies through the Worker and the domain is live",
    async () => {
      await card(owner, env.NEW_DOMAIN).locator(".check").click();
      await waitForText(owner.locator("#add-domain .result"), `${env.NEW_DOMAIN} is live`);
      const live = card(owner, env.NEW_DOMAIN);
      await waitForText(live.locator(".domain-status"), "Live");
      assert(await live.locator(".records-wrap").isHidden(), "no records left to create");
      const shop = await openPage(browser, `${originOf(env.NEW_DOMAIN)}/`, failures);
      await waitForText(shop.locator("h1"), env.HOME_DOMAIN);
      await shop.context().close();
    },
  ],
  [
    "a second domain made primary: the first answers 301 to it",
    async () => {
      await addAndCheck(env.WWW_DOMAIN, env.WWW_DOMAIN);
      await card(owner, env.WWW_DOMAIN).locator(".make-primary").click();
      await waitForText(owner.locator("#add-domain .result"), "is now the primary domain");
      assert(await card(owner, env.WWW_DOMAIN).locator(".domain-primary").isVisible(), "marked primary");
      const visitor = await openPage(browser, `${originOf(env.HOME_DOMAIN)}/`, failures);
      const landed = await eventually(
        async () => {
          await visitor.goto(`${originOf(env.NEW_DOMAIN)}/`);
          return visitor.url();
        },
        (url) => url.startsWith(originOf(env.WWW_DOMAIN)),
        "the old domain moves visitors to the primary",
      );
      assert(landed === `${originOf(env.WWW_DOMAIN)}/`, landed);
      await visitor.context().close();
    },
  ],
  [
    "remove asks first, then the domain is gone",
    async () => {
      const old = card(owner, env.NEW_DOMAIN);
      await old.locator(".remove").click();
      await old.locator(".remove-no").click();
      assert(await old.locator(".remove-confirm").isHidden(), "kept");
      await old.locator(".remove").click();
      await old.locator(".remove-yes").click();
      await waitForText(owner.locator("#add-domain .result"), `${env.NEW_DOMAIN} was removed`);
      await card(owner, env.NEW_DOMAIN).waitFor({ state: "detached" });
    },
  ],
];

const passed = await runSteps(steps, failures);
await browser.close();
process.exit(passed ? 0 : 1);
