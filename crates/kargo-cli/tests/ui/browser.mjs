// Drives the web UI in Debian's Chromium with playwright-core, as a user
// would, against a running `kargo quickstart --keep-running`. Started by
// tests/ui_browser.rs, which passes:
//   PLAYWRIGHT_CORE  the installed playwright-core package directory
//   KARGO_URL        https://127.0.0.1:PORT of the server
//   KARGO_TOKEN      a token to sign in with
//   KARGO_BIN, KARGO_CONFIG  to run `kargo` for set-up the UI does not do
//   SHOTS            where screenshots go
//   HOLD_STAGE       a manifest of a Stage whose promotion keeps running
// Prints "ok <check>" per check and one JSON line "timings {...}".
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const url = process.env.KARGO_URL;
const P = "my-web-app";
const shots = process.env.SHOTS;
const timings = {};

function ok(name) { console.log("ok " + name); }
function fail(msg) { throw new Error(msg); }
async function shot(page, name) { await page.screenshot({ path: join(shots, name + ".png"), fullPage: true }); }
function kargo(...args) {
  return execFileSync(process.env.KARGO_BIN, args, { env: { ...process.env }, encoding: "utf8", timeout: 60000 });
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
  timeout: 60000,
});
try {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 }, colorScheme: "light" });
  ctx.setDefaultTimeout(30000);
  const a = await ctx.newPage();

  // Sign in: a deep link sends a signed-out browser to sign-in and back.
  const first = await a.goto(`${url}/ui/projects/${P}/stages/dev`);
  if (!a.url().includes("/ui/login?next=")) fail("deep link did not go to sign-in: " + a.url());
  if ((first.headers()["content-type"] || "").includes("json")) fail("deep link answered JSON");
  await shot(a, "sign-in");
  await a.fill("input[name=token]", process.env.KARGO_TOKEN);
  await a.click("form:has(input[name=token]) button");
  await a.waitForURL(`**/ui/projects/${P}/stages/dev`);
  ok("sign_in_comes_back_to_the_deep_link");

  // The quick start's pipeline: 4 Stages, fan-out from dev, fan-in to prod-us.
  const t0 = Date.now();
  await a.goto(`${url}/ui/projects/${P}`);
  timings.project_page_load_ms = Date.now() - t0;
  const stages = await a.locator(".node.stage").count();
  if (stages !== 4) fail(`expected 4 Stage nodes, saw ${stages}`);
  const intoProd = await a.locator('path.edge[data-to="stage:prod-us"]').count();
  const fromDev = await a.locator('path.edge[data-from="stage:dev"]').count();
  if (intoProd !== 2 || fromDev !== 2) fail(`fan-in ${intoProd}, fan-out ${fromDev}`);
  await shot(a, "project");
  ok("pipeline_renders_four_stages_with_fan_in");
  await a.click("nav.views a:has-text('List')");
  if ((await a.locator("#stage-list tbody tr").count()) !== 4) fail("list view rows");
  await shot(a, "project-list");
  ok("list_view");
  await a.goto(`${url}/ui`);
  await shot(a, "projects");

  // Promote from the page; the graph in another tab updates without reload.
  await a.goto(`${url}/ui/projects/${P}`);
  await a.evaluate(() => { window.__noReload = true; });
  const b = await ctx.newPage();
  await b.goto(`${url}/ui/projects/${P}/promote?stage=prod-us`);
  await shot(b, "promote");
  const row = b.locator("table.promote tr", { hasText: "v1.1.0" }).filter({ has: b.locator("button[data-action=promote]") }).first();
  const fname = await row.getAttribute("data-freight");
  const clicked = Date.now();
  await row.locator("button[data-action=promote]").click();
  await b.waitForURL("**/promotions/**");
  await b.locator("#detail .st", { hasText: "Succeeded" }).first().waitFor();
  await a.locator(`#node-stage-prod-us a[href$="/freight/${fname}"]`).waitFor();
  timings.promote_to_graph_update_ms = Date.now() - clicked;
  if (!(await a.evaluate(() => window.__noReload))) fail("the project page reloaded");
  const statuses = await b.locator("#steps li").evaluateAll((ls) => ls.map((l) => l.dataset.status));
  if (statuses.length < 2 || statuses.some((s) => s !== "Succeeded" && s !== "Skipped")) fail(`steps ${statuses}`);
  await shot(b, "promotion");
  ok("promote_from_the_page_updates_the_graph_live");

  // A Promotion that keeps running: its page follows it live, Abort ends it.
  kargo("apply", "-f", process.env.HOLD_STAGE);
  await b.goto(`${url}/ui/projects/${P}/promote?stage=hold`);
  await b.locator("table.promote button[data-action=promote]").first().click();
  await b.waitForURL("**/promotions/**");
  await a.goto(b.url());
  await a.evaluate(() => { window.__noReload = true; });
  await a.locator('#steps li[data-status="Running"]').waitFor();
  ok("a_running_promotion_shows_running");
  await b.locator("button[data-action=abort]").click();
  await b.locator(".flash", { hasText: "Abort" }).waitFor();
  await a.locator("#detail .st", { hasText: "Aborted" }).first().waitFor();
  if (!(await a.evaluate(() => window.__noReload))) fail("the promotion page reloaded");
  await shot(a, "promotion-aborted");
  ok("abort_updates_the_step_list_live");

  // Approve: the failed v1.2.0 for prod-us.
  await b.bringToFront();
  await b.goto(`${url}/ui/projects/${P}`);
  const broken = await b.locator(".card", { hasText: "v1.2.0" }).first().getAttribute("data-freight");
  await b.goto(`${url}/ui/projects/${P}/freight/${broken}`);
  if (!(await b.locator("#detail", { hasText: "FAILED" }).count())) fail("v1.2.0 does not show FAILED");
  await b.selectOption("select[name=stage]", "prod-us");
  await b.click("button[data-action=approve]");
  await b.locator(".flash", { hasText: "approved for Stage prod-us" }).waitFor();
  await b.locator("#detail a.chip", { hasText: "prod-us" }).first().waitFor();
  await shot(b, "freight");
  ok("approve");

  // Re-verify staging-eu: a new verification appears live.
  await b.goto(`${url}/ui/projects/${P}/stages/staging-eu`);
  const before = await b.locator("#detail .verif").count();
  await b.click("button[data-action=reverify]");
  await b.locator(".flash", { hasText: "Verification requested" }).waitFor();
  // Polled on a timer: a page in a background tab gets no animation frames.
  await b.waitForFunction((n) => document.querySelectorAll("#detail .verif").length > Math.min(n, 4), before, { polling: 200 });
  await shot(b, "stage");
  ok("reverify");

  // Refresh the Warehouse: it discovers v1.3.0 (Manual creation policy).
  await b.goto(`${url}/ui/projects/${P}/warehouses/${P}`);
  if (await b.locator("fieldset label", { hasText: "v1.3.0" }).count()) fail("v1.3.0 known before the refresh");
  await b.click("button[data-action=refresh-warehouse]");
  await b.locator(".flash", { hasText: "Refresh" }).waitFor();
  await b.locator("#detail", { hasText: "v1.3.0" }).waitFor();
  await b.reload();
  await shot(b, "warehouse");
  ok("refresh_warehouse");

  // Create Freight from the chosen artifact, then edit its alias.
  await b.locator("fieldset label", { hasText: "v1.3.0" }).locator("input").check();
  await b.fill("form.create input[name=alias]", "ui-made");
  await b.click("button[data-action=create-freight]");
  await b.waitForURL("**/freight/**");
  await b.locator("#detail h1", { hasText: "ui-made" }).waitFor();
  ok("create_freight");
  await b.fill("input[name=alias]", "ui-renamed");
  await b.click("button[data-action=alias]");
  await b.locator("#detail h1", { hasText: "ui-renamed" }).waitFor();
  ok("edit_alias");

  // Dark mode: the toggle, and the system preference.
  await a.goto(`${url}/ui/projects/${P}`);
  await a.click("#theme");
  const bg = await a.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const dark = (s) => s.match(/\d+/g).slice(0, 3).reduce((x, y) => x + Number(y), 0) < 150;
  if (!dark(bg)) fail("toggle left the page light: " + bg);
  await shot(a, "project-dark");
  const dctx = await browser.newContext({ ignoreHTTPSErrors: true, colorScheme: "dark", viewport: { width: 390, height: 844 } });
  await dctx.addCookies(await ctx.cookies());
  const d = await dctx.newPage();
  await d.goto(`${url}/ui/projects/${P}`);
  if (!dark(await d.evaluate(() => getComputedStyle(document.body).backgroundColor))) fail("prefers-color-scheme: dark ignored");
  await shot(d, "project-narrow-dark");
  ok("dark_mode");
  console.log("timings " + JSON.stringify(timings));
} finally {
  await browser.close();
}
