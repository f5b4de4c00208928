// The console in a real headless Chromium, driven by playwright-core, for
// tests/security/browser.rs. The Rust test owns the server and the gRPC
// side; this script owns the browsers. They talk in lines: this script
// prints a step's name when the page is ready for it, the test answers with
// the step's data ("draft <id>", ...). Any failed check throws: the script
// prints "FAIL ..." and exits 1, which fails the test.

import { chromium } from "playwright-core";
import readline from "node:readline";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env("CONSOLE_BASE");
const SHOTS = env("SCREENSHOTS");
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(step) {
  console.log(step);
  const { value, done } = await lines.next();
  if (done) throw new Error(`stdin closed waiting for ${step}`);
  return value.trim().split(" ");
}
function check(ok, what) {
  if (!ok) throw new Error(what);
}

const errors = [];
function watch(page, who) {
  page.on("console", (m) => { if (m.type() === "error") errors.push(`${who}: ${m.text()}`); });
  page.on("pageerror", (e) => errors.push(`${who}: ${e.message}`));
  return page;
}

async function signIn(browser, token, who, viewport) {
  const context = await browser.newContext({ viewport: viewport || { width: 1280, height: 900 } });
  const page = watch(await context.newPage(), who);
  await page.goto(`${BASE}/console`);
  check(page.url().endsWith("/console/login"), `${who}: not sent to sign in (${page.url()})`);
  await page.getByLabel("Your token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${BASE}/console`);
  return page;
}

/// Every visible form control has a name a screen reader can say.
async function everyControlIsLabelled(page, where) {
  const unlabelled = await page.evaluate(() =>
    Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea, button"))
      .filter((el) => el.offsetParent !== null)
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !(el.textContent || "").trim())
      .map((el) => el.outerHTML.slice(0, 80)));
  check(unlabelled.length === 0, `${where}: controls without a label: ${unlabelled.join(", ")}`);
}

async function noSideScroll(page, where) {
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(scroll <= width + 1, `${where}: ${scroll}px wide in a ${width}px window`);
}

const browser = await chromium.launch({ executablePath: env("CHROMIUM"), args: ["--no-sandbox"] });
try {
  const ana = await signIn(browser, env("TOKEN_ANA"), "ana");
  await everyControlIsLabelled(ana, "queue");
  // Layout shift while the page is open, and a marker that a reload would lose.
  await ana.evaluate(() => {
    window.__noReload = true;
    window.__shift = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (!e.hadRecentInput) window.__shift += e.value;
    }).observe({ type: "layout-shift", buffered: false });
  });

  // 1. A draft created over gRPC appears without a reload.
  const [, draftId] = await ask("ready-for-draft");
  const row = ana.locator(`tr[data-draft="${draftId}"]`);
  await row.waitFor({ timeout: 15000 });
  check(await ana.evaluate(() => window.__noReload === true), "the queue reloaded to show the draft");
  const shift = await ana.evaluate(() => window.__shift);
  check(shift < 0.1, `the page shifted by ${shift} when the draft arrived`);
  check((await ana.title()).startsWith("(1) "), `the tab does not count the waiting draft: ${await ana.title()}`);
  await ana.screenshot({ path: `${SHOTS}/console-queue.png`, fullPage: true });

  // 2. Claim with one key, on the review view.
  await row.getByRole("link").click();
  await ana.waitForURL(`${BASE}/console/drafts/${draftId}`);
  await everyControlIsLabelled(ana, "review view");
  await ana.keyboard.press("c");
  await ana.getByText("You hold this draft").waitFor();

  // 3. A second agent sees it held and cannot approve.
  const bob = await signIn(browser, env("TOKEN_BOB"), "bob");
  await bob.goto(`${BASE}/console/drafts/${draftId}`);
  await bob.getByText("Held by ana").waitFor();
  check((await bob.getByRole("button", { name: /Approve/ }).count()) === 0, "bob is offered Approve on ana's draft");
  const bobTries = await bob.evaluate(async (id) => {
    const csrf = document.querySelector("input[name=csrf]").value;
    const r = await fetch(`/console/drafts/${id}/approve`, {
      method: "POST", body: new URLSearchParams({ csrf }), redirect: "manual",
    });
    return [r.status, await r.text()];
  }, draftId);
  check(bobTries[0] === 409 && bobTries[1].includes("claimed by ana"), `bob approved or got ${bobTries[0]}`);

  // 4. A viewer sees but cannot act.
  const max = await signIn(browser, env("TOKEN_MAX"), "max");
  await max.goto(`${BASE}/console/drafts/${draftId}`);
  await max.getByText("but not act on it").waitFor();
  const maxTries = await max.evaluate(async (id) => {
    const csrf = document.querySelector("input[name=csrf]").value;
    const r = await fetch(`/console/drafts/${id}/claim`, { method: "POST", body: new URLSearchParams({ csrf }), redirect: "manual" });
    return r.status;
  }, draftId);
  check(maxTries === 403, `a viewer's claim got ${maxTries}`);

  // 5. Ana edits (the diff shows it, the preview is what the customer sees) and approves.
  const [, ...json] = await ask("ready-for-edit");
  const edited = JSON.parse(json.join(" "));
  await ana.keyboard.press("e");
  const box = ana.getByLabel("Edit the reply");
  check(await box.evaluate((el) => el === document.activeElement), "e did not focus the editor");
  await box.fill(edited);
  await ana.locator("#edit-diff ins").first().waitFor();
  const shown = await ana.locator("#preview-body").textContent();
  check(shown.trim() === edited.trim(), `the preview shows ${shown}`);
  await ana.screenshot({ path: `${SHOTS}/console-review.png`, fullPage: true });
  await box.press("Control+Enter");
  await ana.waitForURL(/\/console\?done=/);
  await ana.getByText("Approved with your edit").waitFor();
  console.log("approved");

  // 6. A rejection with a reason code shows in the transcript.
  const [, second, conversation] = await ask("ready-for-reject");
  await ana.goto(`${BASE}/console/drafts/${second}`);
  await ana.getByLabel("Why").selectOption("incomplete");
  await ana.getByLabel("Note (optional)").fill("the steps are missing");
  await ana.getByRole("button", { name: "Reject" }).click();
  await ana.waitForURL(/\/console\?done=/);
  await ana.goto(`${BASE}/console/conversations/${conversation}`);
  await ana.locator(".timeline .rejected", { hasText: "the steps are missing" }).waitFor();
  await ana.locator(".timeline .rejected .reason-code", { hasText: "Incomplete" }).waitFor();

  // 7. At 390 px the pages still read without scrolling sideways.
  const phone = await signIn(browser, env("TOKEN_ANA"), "ana-phone", { width: 390, height: 844 });
  await noSideScroll(phone, "queue at 390 px");
  await phone.goto(`${BASE}/console/conversations/${conversation}`);
  await noSideScroll(phone, "conversation at 390 px");

  // 8. The customer's record: only its conversation; nothing once altered or expired.
  const [, url, other, shortUrl] = await ask("ready-for-links");
  const customer = watch(await (await browser.newContext()).newPage(), "customer");
  await customer.goto(url);
  await customer.getByRole("heading", { name: "Your conversation" }).waitFor();
  const record = await customer.textContent("body");
  check(record.includes("AI"), "the record does not say which replies AI wrote");
  check(!record.includes(decodeURIComponent(other)), "the record shows another conversation");
  check((await customer.locator("a").count()) === 0, "the record links elsewhere");
  const altered = url.slice(0, -1) + (url.endsWith("0") ? "1" : "0");
  const bad = await customer.goto(altered);
  check(bad.status() === 404, `an altered link answered ${bad.status()}`);
  await customer.getByText("This link is not valid").waitFor();
  await new Promise((r) => setTimeout(r, 2500));
  const late = await customer.goto(shortUrl);
  check(late.status() === 404, `an expired link answered ${late.status()}`);

  // Errors the pages logged, but the refusals this script provoked on purpose
  // (Chromium logs a refused request's status as an error).
  const provoked = [["bob:", "409"], ["max:", "403"], ["customer:", "404"]];
  const real = errors.filter((e) => !provoked.some(([who, code]) => e.startsWith(who) && e.includes(`status of ${code}`)));
  check(real.length === 0, `console errors: ${real.join(" | ")}`);
  console.log("done");
} catch (e) {
  console.log(`FAIL ${e.message.split("\n")[0]}`);
  console.error(e);
  await browser.close();
  process.exit(1);
}
await browser.close();
process.exit(0);
