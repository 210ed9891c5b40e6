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
function kargoApply(yaml) {
  return execFileSync(process.env.KARGO_BIN, ["apply", "-f", "-"], { env: { ...process.env }, input: yaml, encoding: "utf8", timeout: 60000 });
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
  // The quick start rolled prod-us back to v1.0.0: its node and page say so.
  await a.locator("#node-stage-prod-us .tag.rollback").waitFor();
  await a.goto(`${url}/ui/projects/${P}/stages/prod-us`);
  if (!(await a.locator("#detail table tr .tag.rollback").count())) fail("no rollback mark in prod-us's Promotions");
  await a.goto(`${url}/ui/projects/${P}`);
  ok("rollback_marker_on_graph_and_stage");
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
  await b.locator("#phase > .st", { hasText: "Succeeded" }).waitFor();
  await a.locator(`#node-stage-prod-us a[href$="/freight/${fname}"]`).waitFor();
  timings.promote_to_graph_update_ms = Date.now() - clicked;
  if (!(await a.evaluate(() => window.__noReload))) fail("the project page reloaded");
  const statuses = await b.locator("#steps li").evaluateAll((ls) => ls.map((l) => l.dataset.status));
  if (statuses.length < 2 || statuses.some((s) => s !== "Succeeded" && s !== "Skipped")) fail(`steps ${statuses}`);
  await shot(b, "promotion");
  ok("promote_from_the_page_updates_the_graph_live");
  if (await a.locator("#node-stage-prod-us .tag.rollback").count()) fail("prod-us still marked as rolled back after v1.1.0");

  // Roll back from the Stage page: a Promotion of the older Freight,
  // marked as Kargo marks rollbacks, and the node says so.
  await b.goto(`${url}/ui/projects/${P}/stages/prod-us`);
  await b.locator("button[data-action=rollback]").first().click();
  await b.waitForURL("**/promotions/**");
  await b.locator("#phase > .st", { hasText: "Succeeded" }).waitFor();
  await a.locator("#node-stage-prod-us .tag.rollback").waitFor();
  const rb = JSON.parse(kargo("get", "promotion", b.url().split("/").pop(), "-p", P, "-o", "json"));
  if (rb.metadata.annotations["kargo.akuity.io/rollback"] !== "true") fail("the rollback Promotion lacks kargo.akuity.io/rollback");
  await b.goto(`${url}/ui/projects/${P}/stages/prod-us`);
  await shot(b, "stage-rollback");
  ok("roll_back_from_the_stage_page");

  // Statistics: the project's view shows prod-us's row as `kargo stats`
  // prints it (the rollback just made counts the Promotion before it as a
  // failure), and the Stage page has its figures.
  await b.goto(`${url}/ui/projects/${P}`);
  await b.click("nav.views a#stats-view");
  const words = (s) => s.trim().split(/\s+/).join(" ");
  // The rollback's verification may still end meanwhile: compare again
  // until both read the same state.
  for (let i = 0; ; i++) {
    await b.locator("#stats-window", { hasText: "7d" }).waitFor();
    const statsRow = await b.locator("#stats-table tr[data-stage=prod-us] td").allInnerTexts();
    const cliRow = kargo("stats", "-p", P).split("\n").find((l) => l.startsWith("prod-us ")) || "";
    if (words(statsRow.join(" ")) === words(cliRow)) break;
    if (i > 30) fail(`statistics row ${JSON.stringify(statsRow)} vs kargo stats ${JSON.stringify(cliRow)}`);
    await new Promise((r) => setTimeout(r, 1000));
    await b.reload();
  }
  const cli = JSON.parse(kargo("stats", "-p", P, "-o", "json")).stages.find((s) => s.stage === "prod-us");
  if (!(cli.failures >= 1)) fail("the rollback's predecessor is not counted as a failure");
  await shot(b, "project-stats");
  await b.click("#stats-table tr[data-stage=prod-us] a");
  await b.locator("#stage-stats tr", { hasText: "Deployments" }).locator("td", { hasText: String(cli.deployments) }).waitFor();
  ok("statistics_as_kargo_stats_prints_them");

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
  await a.locator("#phase > .st", { hasText: "Aborted" }).waitFor();
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

  // The verification's AnalysisRun: every measurement, a sparkline's data.
  await b.locator("#detail a", { hasText: "Measurements and logs" }).first().click();
  await b.waitForURL("**/analysisruns/**");
  await b.locator("section.metric[data-metric=healthz]").waitFor();
  if ((await b.locator("table.measurements tbody tr").count()) < 1) fail("no measurements on the AnalysisRun page");
  await shot(b, "analysisrun");
  ok("analysis_run_measurements");

  // Refresh the Warehouse: it discovers v1.3.0 (Manual creation policy).
  await b.goto(`${url}/ui/projects/${P}/warehouses/${P}`);
  if (await b.locator("fieldset label", { hasText: "v1.3.0" }).count()) fail("v1.3.0 known before the refresh");
  await b.click("button[data-action=refresh-warehouse]");
  await b.locator(".flash", { hasText: "Refresh" }).waitFor();
  // Discovery runs in the Warehouse controller; on a loaded machine it can
  // take longer than the default wait, so this one waits up to 90 s.
  await b.locator("#detail", { hasText: "v1.3.0" }).waitFor({ timeout: 90000 });
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

  // Clone: the Warehouse's form starts from the Freight's artifacts.
  const made = b.url();
  await b.click("a#clone");
  await b.waitForURL("**/warehouses/**?clone=**");
  await b.locator("h2#assembly", { hasText: "Clone Freight ui-renamed" }).waitFor();
  if (!(await b.locator("fieldset label", { hasText: "v1.3.0" }).locator("input").isChecked())) fail("the clone does not start from v1.3.0");
  await shot(b, "freight-clone");
  // Delete: not while a Stage holds the Freight (dev auto-promotes the new
  // one); the failed v1.2.0 dev then leaves goes, after a confirmation.
  const c = await ctx.newPage();
  const until = async (what, cond) => {
    for (let i = 0; !(await cond()); i++) {
      if (i > 120) fail(what);
      await new Promise((r) => setTimeout(r, 500));
      await c.reload();
    }
  };
  await c.goto(made);
  await until("dev never took the new Freight", async () => (await c.locator(".actions", { hasText: "In use by dev" }).count()) > 0);
  if (await c.locator("button[data-action=delete-freight]").count()) fail("Delete offered for Freight in use");
  await c.goto(`${url}/ui/projects/${P}/freight/${broken}`);
  await until("v1.2.0 stayed in use", async () => (await c.locator("details.confirm summary").count()) > 0);
  await c.click("details.confirm summary");
  await c.click("button[data-action=delete-freight]");
  await c.waitForURL(`**/ui/projects/${P}?ok=*`);
  await c.locator(".flash", { hasText: "deleted" }).waitFor();
  if (await c.locator(".card", { hasText: "v1.2.0" }).count()) fail("the deleted Freight is still on the timeline");
  await c.close();
  ok("delete_freight");
  // The clone, changed to the deleted v1.2.0, makes it again.
  await b.locator("fieldset label", { hasText: "v1.2.0" }).locator("input").check();
  await b.fill("form.create input[name=alias]", "ui-cloned");
  await b.click("button[data-action=create-freight]");
  await b.waitForURL("**/freight/**");
  await b.locator("#detail h1", { hasText: "ui-cloned" }).waitFor();
  ok("clone_freight");

  // Settings: AnalysisTemplates, PromotionTasks, credentials (no values),
  // webhook receivers with their URLs — from the project page.
  kargo("create", "repo-credentials", "--project", P, "app-repo", "--type=git", "--repo-url=https://git.example.com/app.git", "--username=bot", "--password=pw-never-shown");
  kargoApply(`apiVersion: v1
kind: Secret
metadata: {name: gh-hook, namespace: ${P}}
stringData: {secret: hook-secret-never-shown}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: ${P}, namespace: ${P}}
spec:
  promotionPolicies:
  - stage: dev
    autoPromotionEnabled: true
  - stageSelector: {name: "glob:staging-*"}
    autoPromotionEnabled: true
  webhookReceivers:
  - name: github-app
    github: {secretRef: {name: gh-hook}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: PromotionTask
metadata: {name: bump, namespace: ${P}}
spec:
  vars:
  - name: tag
  steps:
  - uses: git-clone
    config: {repoURL: https://git.example.com/app.git}
  - uses: git-push
    as: push
    config: {path: ./out}
`);
  await b.goto(`${url}/ui/projects/${P}`);
  await b.click("a#settings");
  await b.waitForURL("**/settings");
  await b.locator("#analysis-templates details[data-template=health]", { hasText: "healthz" }).waitFor();
  await b.locator("#promotion-tasks details[data-task=bump] .tag", { hasText: "push" }).waitFor();
  await b.locator("#credential-list tr[data-credential=app-repo]", { hasText: "https://git.example.com/app.git" }).waitFor();
  for (let i = 0; !(await b.locator("#webhook-list code.url", { hasText: "/webhooks/github/" }).count()); i++) {
    if (i > 60) fail("the webhook receiver's URL never showed");
    await new Promise((r) => setTimeout(r, 500));
    await b.reload();
  }
  const html = await b.content();
  if (html.includes("pw-never-shown") || html.includes("hook-secret-never-shown")) fail("a secret value is on the settings page");
  await shot(b, "settings");
  ok("settings");

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
