// Signs one study in Debian's Chromium through playwright-core: log in, open the study, write the
// findings, sign (the dialog's Sign button), and wait until the page shows it signed.
// For the outbound end-to-end test. Usage: node sign_study.mjs BASE_URL STUDY_ID USERNAME PASSWORD ARTIFACT_DIR FINDINGS
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, studyId, username, password, artifacts, findings] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "januscxr-chromium-")), {
  executablePath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  viewport: { width: 1600, height: 1000 },
});
const page = context.pages()[0] || (await context.newPage());
try {
  await page.goto(`${base}/login?next=/studies/${studyId}`);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", password);
  await Promise.all([page.waitForURL(`**/studies/${studyId}`), page.click("button[type=submit]")]);
  await page.waitForSelector("#viewer[data-loaded=true]");
  await page.fill("#findings-text", findings);
  await page.click("#sign");
  await page.click("#confirm-sign");
  await page.waitForFunction(() => document.querySelector("#report-status").textContent === "signed");
  await page.screenshot({ path: join(artifacts, "outbound-signed.png") });
} finally {
  await context.close();
}
