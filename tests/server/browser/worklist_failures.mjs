// Issue 11 in Chromium: failed and refused reads on the worklist, live search, the worklist
// refreshing itself (no reload, focus kept), discordances updated on save, upload counts.
// Usage: node worklist_failures.mjs BASE_URL ARTIFACT_DIR USERNAME PASSWORD NOISE_PNG
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, artifacts, username, password, noisePng] = process.argv.slice(2);
const userDataDir = mkdtempSync(join(tmpdir(), "januscxr-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  headless: true,
  viewport: { width: 1600, height: 900 },
});
const page = context.pages()[0] || (await context.newPage());
const checks = [];
const check = (name, ok, detail = "") => {
  checks.push({ name, ok: Boolean(ok), detail: String(detail) });
  if (!ok) throw new Error(`check failed: ${name} ${detail}`);
};
const shot = (name) => page.screenshot({ path: join(artifacts, name) });
const errors = [];
page.on("pageerror", (error) => errors.push(String(error)));
const rowTexts = () => page.$$eval("#worklist tbody tr[data-study-id]", (rows) => rows.map((r) => r.innerText));

try {
  await page.goto(`${base}/login`);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", password);
  await Promise.all([page.waitForURL("**/worklist"), page.click("button[type=submit]")]);
  const refused = await page.$("#worklist tbody tr.p-refused");
  check("a refused study has its own row state", refused);
  check("its badge says so", (await refused.$eval(".badge", (b) => b.textContent)) === "AI refused");
  check("with the reason in words", (await refused.innerText()).includes("Not a chest radiograph: looks like random noise."));
  check("no failed read shows as routine", !(await page.$("#worklist tbody tr.p-refused .badge.routine, #worklist tbody tr.p-failed .badge.routine")));
  const order = await page.$$eval("#worklist tbody tr[data-study-id]", (rows) => rows.map((r) => r.className));
  check("it sorts right after the critical studies", order.indexOf("p-refused") === order.filter((c) => c === "p-critical").length, order);
  await shot("11-worklist-failed.png");

  // live search: the rows change, the search box keeps the focus, the URL keeps the filter
  await page.evaluate(() => (window.notReloaded = true));
  await page.click("#worklist-search");
  await page.keyboard.type("nobody-by-this-name");
  await page.waitForFunction(() => !document.querySelector("#worklist tbody tr[data-study-id]"));
  check("search filters without a reload", await page.evaluate(() => window.notReloaded === true));
  check("the search box keeps the focus", await page.evaluate(() => document.activeElement.id === "worklist-search"));
  check("the URL keeps the search", page.url().includes("search=nobody-by-this-name"));
  await page.fill("#worklist-search", "");
  await page.waitForFunction(() => document.querySelectorAll("#worklist tbody tr[data-study-id]").length >= 2);

  // refresh: a study uploaded elsewhere appears; the focused row keeps the focus; no reload
  const before = (await rowTexts()).length;
  const focusedId = await page.$eval("#worklist tbody tr[data-study-id] a", (a) => {
    a.focus();
    return a.closest("tr").dataset.studyId;
  });
  const status = await page.evaluate(async (url) => {
    const me = await (await fetch("/api/me")).json();
    const form = new FormData();
    form.append("files", await (await fetch(url)).blob(), "arrived-later.png");
    const response = await fetch("/api/studies", { method: "POST", body: form, headers: { "X-CSRF-Token": me.csrf_token } });
    return response.status;
  }, "/api/images/1/display.png");
  check("a file uploads from another window", status === 202, status);
  await page.evaluate(() => window.januscxrWorklist.refresh());
  await page.waitForFunction((n) => document.querySelectorAll("#worklist tbody tr[data-study-id]").length > n, before);
  check("the refresh did not reload the page", await page.evaluate(() => window.notReloaded === true));
  check("the focused row keeps the focus", await page.evaluate((id) => document.activeElement.closest("tr")?.dataset.studyId === id, focusedId));
  check("the refresh says when", (await page.textContent("#worklist-refreshed")).startsWith("Updated"));

  // discordances follow the saved text, without a reload
  await Promise.all([page.waitForURL("**/studies/*"), page.click("#worklist tbody tr.p-critical a")]);
  await page.waitForSelector("#findings");
  await page.evaluate(() => (window.notReloaded = true));
  await page.fill("#findings-text", "No pneumothorax. No pleural effusion.");
  await page.fill("#impression-text", "Normal chest.");
  await page.click("#save-draft");
  await page.waitForFunction(() => document.querySelectorAll("#discordances li").length === 2);
  const shown = await page.$$eval(".discordance:not([hidden])", (b) => b.map((x) => x.dataset.finding).sort());
  check("the AI's flags the report denies are marked", JSON.stringify(shown) === '["Pleural Effusion","Pneumothorax"]', shown);
  check("in words", (await page.textContent("#discordances")).includes("the report says it is absent"));
  await shot("12-discordances.png");
  await page.fill("#findings-text", "Right pneumothorax. Right pleural effusion.");
  await page.fill("#impression-text", "Right pneumothorax and pleural effusion.");
  await page.click("#save-draft");
  await page.waitForFunction(() => document.querySelectorAll("#discordances li").length === 0);
  check("agreeing text clears them", (await page.$$(".discordance:not([hidden])")).length === 0);
  check("no reload on save", await page.evaluate(() => window.notReloaded === true));

  // the upload result page counts and names what the AI refused
  await page.goto(`${base}/upload`);
  await page.setInputFiles("input[type=file]", [noisePng]);
  await Promise.all([page.waitForURL("**/upload"), page.click("button.primary")]);
  await page.waitForFunction(() => document.body.dataset.aiReadsSettled === "true", null, { timeout: 60000 });
  check("the upload page counts the refusal", (await page.textContent("#ai-counts")).includes("1 AI refused"));
  check("and names the file", (await page.textContent("#unread-files")).includes("page-noise.png"));
  await shot("13-upload.png");
  check("no script errors", errors.length === 0, errors.join("; "));
} catch (error) {
  await shot("failure-11.png").catch(() => {});
  console.error(String(error && error.stack ? error.stack : error));
  process.exitCode = 1;
} finally {
  console.log(JSON.stringify({ checks }, null, 1));
  await context.close();
}
