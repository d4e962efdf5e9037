// End-to-end browser test of the web UI against a live three-node demo (EU, NATO, JPN):
// publish at EU to {EU, JPN}, find it at JPN, and check NATO neither shows nor counts it;
// a statement endorsed from all three UIs is adopted; an alert raised at EU is acknowledged
// in JPN's UI and EU's dashboard changes by itself. Replication is asynchronous, so the steps that wait for another node poll with a
// deadline. Screenshots go to the output directory.
//
// Usage: node e2e.mjs DEMO_JSON OUT_DIR
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';

const demo = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const out = process.argv[3];
fs.mkdirSync(out, { recursive: true });
const node = (p) => demo.nodes.find((n) => n.partner === p);
const marker = `zephyr${Date.now().toString(36)}`;
// Every node serves HTTPS with a self-signed ECDSA P-256 certificate bound to its node key.
// Chromium is told to accept exactly those keys (their SPKI hashes from demo.json), so each
// page load below is a real TLS handshake Chromium completes with the node's certificate.
const pins = demo.nodes.map((n) => n.spki_pin).join(',');
assert.ok(demo.nodes.every((n) => n.url.startsWith('https://') && n.spki_pin), 'demo nodes on HTTPS');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', `--ignore-certificate-errors-spki-list=${pins}`],
});
let passed = 0;
// What the browser itself complains of on the signed-in pages: a script error or a blocked
// resource (a Content Security Policy violation shows only here, the page still looks right).
const complaints = [];
function watch(page, who) {
  page.on('pageerror', (e) => complaints.push(`${who} ${page.url()}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) {
      complaints.push(`${who} ${page.url()}: ${m.text()}`);
    }
  });
}
const step = async (name, f) => {
  const t0 = Date.now();
  await f();
  passed += 1;
  console.log(`ok ${passed} - ${name} (${Date.now() - t0} ms)`);
};

/** Retry `f` until it stops throwing or `ms` pass (another node has to sync first). */
async function eventually(f, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/// axe-core's WCAG 2.1 A/AA rules on the page as it is now.
async function axeRun(page, axeSource) {
  await page.evaluate(axeSource);
  return page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
}

async function login(p) {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await ctx.newPage();
  watch(page, p);
  await page.goto(`${node(p).url}/ui/login`);
  await page.fill('#username', node(p).username);
  await page.fill('#password', node(p).password);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/ui\/$/);
  return page;
}

async function measure(page, label) {
  await page.goto(`${page.url().split('/ui/')[0]}/ui/network`);
  const row = page.locator('#measures tr', { hasText: label });
  return Number(await row.locator('td').innerText());
}

const eu = await login('EU');
const nato = await login('NATO');
const jpn = await login('JPN');
const url = (page, p) => `${page.url().split('/ui/')[0]}${p}`;

let formatId;

await step('Chromium completes the TLS handshake with every node (HTTPS, HSTS, Secure cookies)', async () => {
  for (const [p, page] of [['EU', eu], ['NATO', nato], ['JPN', jpn]]) {
    assert.match(page.url(), /^https:\/\//, `${p} over HTTPS`);
    const r = await page.goto(url(page, '/ui/'));
    assert.equal(r.status(), 200);
    assert.match(r.headers()['strict-transport-security'] || '', /max-age=/);
    const sec = await r.securityDetails();
    assert.ok(sec && /TLS/.test(sec.protocol), `${p}: TLS details ${sec && sec.protocol}`);
    const cookies = await page.context().cookies();
    assert.ok(cookies.length > 0 && cookies.every((c) => c.secure), `${p}: Secure cookies`);
  }
});
await step('a format whose members are exactly EU, JPN and NATO', async () => {
  await eu.goto(url(eu, '/ui/formats'));
  const rows = eu.locator('table tbody tr');
  for (let i = 0; i < (await rows.count()); i++) {
    const cells = rows.nth(i).locator('td');
    const members = (await cells.nth(2).innerText()).trim().split(/\s+/).sort().join(',');
    if (members === 'EU,JPN,NATO' && (await cells.nth(4).innerText()).trim() === 'open') {
      formatId = (await cells.nth(0).locator('a').getAttribute('href')).split('/').pop();
      break;
    }
  }
  assert.ok(formatId, 'no format with exactly EU, JPN and NATO');
});

await step('the progress report opens on the period reports were filed for', async () => {
  await eu.goto(url(eu, '/ui/formats'));
  const formats = await eu.locator('table tbody tr td:first-child a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  let withReports = 0;
  for (const href of formats) {
    await eu.goto(url(eu, href));
    await eu.getByRole('link', { name: 'Progress report' }).click();
    await eu.waitForURL(/\/report$/);
    if ((await eu.locator('#periods a').count()) === 0) continue;
    withReports += 1;
    // The first view is the period of the latest report, not an empty month.
    assert.doesNotMatch(await eu.locator('main p').first().innerText(), / 0 progress reports/);
    assert.equal(await eu.locator('#periods a[aria-current=page]').count(), 1);
    await eu.screenshot({ path: path.join(out, 'progress-report.png'), fullPage: true });
  }
  assert.ok(withReports > 0, 'the demo has a format with progress reports');
});

await step('keyboard first: Tab reaches the skip link, then the navigation, with visible focus', async () => {
  const p = await eu.context().newPage();
  await p.goto(`${node('EU').url}/ui/`);
  await p.keyboard.press('Tab');
  assert.equal(await p.evaluate(() => document.activeElement.className), 'skip');
  const outline = await p.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
  await p.keyboard.press('Tab');
  assert.equal(await p.evaluate(() => document.activeElement.textContent), 'Dashboard');
  await p.close();
});

await step('pages are readable without JavaScript', async () => {
  const ctx = await browser.newContext({ javaScriptEnabled: false });
  const p = await ctx.newPage();
  await p.goto(`${node('JPN').url}/ui/login`);
  await p.fill('#username', node('JPN').username);
  await p.fill('#password', node('JPN').password);
  await p.click('button[type=submit]');
  await p.waitForURL(/\/ui\/$/);
  assert.ok((await p.locator('h1').innerText()).includes('Dashboard'));
  await ctx.close();
});

const natoEntriesBefore = await measure(nato, 'Entries');
const euEntriesBefore = await measure(eu, 'Entries');
const title = `Browser test item ${marker}`;
let itemUrl;

await step('a form with bad input shows the message beside the field and stores nothing', async () => {
  await eu.goto(url(eu, `/ui/items/new?format_id=${formatId}`));
  await eu.check('input[name=tlp][value=GREEN]');
  await eu.click('button[value=review]');
  await eu.locator('#title-error').waitFor();
  assert.match(await eu.locator('#title-error').innerText(), /Title is required/);
  // Every message is summarised at the top, in view, and the summary has the focus.
  const summary = eu.locator('#error-summary');
  assert.match(await summary.innerText(), /Title is required/);
  assert.ok((await summary.boundingBox()).y < 400, 'the summary is in view');
  assert.equal(await eu.evaluate(() => document.activeElement && document.activeElement.id), 'error-summary');
  assert.equal(await summary.getByRole('link', { name: /Title is required/ }).getAttribute('href'), '#title');
  await eu.screenshot({ path: path.join(out, 'form-error-summary.png') });
  await eu.goto(url(eu, `/ui/search?q=${marker}`));
  assert.equal(await eu.locator('#result-count').innerText(), '0 results');
});

await step('EU publishes an item released to {EU, JPN}, stated in words before publishing', async () => {
  await eu.goto(url(eu, `/ui/items/new?format_id=${formatId}`));
  await eu.fill('#title', title);
  await eu.fill('#body', `Exercise text mentioning ${marker} for the browser test.\n\n**Findings**: two ferries.\n\n<img src=x onerror="window.__pwned=1">`);
  await eu.check('input[name=tlp][value=GREEN]');
  await eu.check('input[name=releasable_to][value=JPN]');
  await eu.click('button[value=review]');
  const words = await eu.locator('#audience-words').innerText();
  assert.match(words, /JPN/);
  assert.doesNotMatch(words, /NATO/);
  // Under review the marking and the partners cannot be changed in the page.
  assert.equal(await eu.locator('input[type=radio][name=tlp]').count(), 0);
  assert.equal(await eu.locator('input[type=checkbox][name=releasable_to]').count(), 0);
  await eu.screenshot({ path: path.join(out, 'item-review.png'), fullPage: true });
  // A change after review (here: the form altered in the page, as a stale tab or a script
  // would send it) is not published: the review comes back with the new audience.
  await eu.evaluate(() => {
    document.querySelector('input[type=hidden][name=releasable_to]').value = 'NATO';
    document.querySelector('input[type=hidden][name=tlp]').value = 'CLEAR';
  });
  await eu.click('button[value=publish]');
  await eu.locator('#_form-error').waitFor();
  assert.match(await eu.locator('#_form-error').innerText(), /changed after you reviewed it/);
  assert.match(await eu.locator('#audience-words').innerText(), /NATO/);
  await eu.screenshot({ path: path.join(out, 'item-review-again.png'), fullPage: true });
  // Back to editing: the publish button is gone until the audience is reviewed again.
  await eu.click('button[value=edit]');
  assert.equal(await eu.locator('button[value=publish]').count(), 0);
  await eu.uncheck('input[name=releasable_to][value=NATO]');
  await eu.check('input[name=releasable_to][value=JPN]');
  await eu.check('input[name=tlp][value=GREEN]');
  await eu.click('button[value=review]');
  const again = await eu.locator('#audience-words').innerText();
  assert.match(again, /JPN/);
  assert.doesNotMatch(again, /NATO/);
  await eu.click('button[value=publish]');
  await eu.waitForURL(/\/ui\/items\/[0-9a-f-]{36}\?done=published$/);
  itemUrl = new URL(eu.url()).pathname;
  // The page says what was done.
  assert.match(await eu.locator('main .notice').innerText(), /^Published, signed and sent/);
  assert.match(await eu.locator('#signature').innerText(), /verified/);
  assert.match(await eu.locator('#audience').innerText(), /^EU, JPN — not NATO/);
  // The body's Markdown is rendered; its HTML is shown as text and never runs.
  assert.equal(await eu.locator('main .text strong').innerText(), 'Findings');
  assert.match(await eu.locator('main .text').innerText(), /<img src=x onerror=/);
  assert.equal(await eu.evaluate(() => window.__pwned), undefined);
  await eu.screenshot({ path: path.join(out, 'item.png'), fullPage: true });
});

await step('JPN finds it by search', async () => {
  await eventually(async () => {
    await jpn.goto(url(jpn, `/ui/search?q=${marker}`));
    assert.equal(await jpn.locator('#result-count').innerText(), '1 result');
    assert.equal(await jpn.locator('#results a').innerText(), title);
  });
  // The hit says its marking and originator; the page is bannered with the highest marking.
  assert.match(await jpn.locator('#results li').innerText(), /TLP:GREEN .*from EU/);
  assert.match(await jpn.locator('#marking-top').innerText(), /^TLP:GREEN/);
  assert.match(await jpn.locator('#marking-bottom').innerText(), /^TLP:GREEN/);
  // From the header's search box on any page, the first letters of a word are enough.
  await jpn.goto(url(jpn, '/ui/alerts'));
  await jpn.fill('#header-q', marker.slice(0, marker.length - 3));
  await jpn.press('#header-q', 'Enter');
  await jpn.waitForURL(/\/ui\/search\?q=/);
  assert.equal(await jpn.locator('#results a', { hasText: title }).count(), 1);
  await jpn.click('#results a');
  assert.match(await jpn.locator('#signature').innerText(), /verified/);
});

await step('JPN reports a sighting of it with the form\'s date picker, and sees it listed', async () => {
  await jpn.fill('#seen_at', '2026-11-30');
  await jpn.fill('#count', '2');
  await jpn.fill('#note', `seen ${marker}`);
  await jpn.click('text=Report sighting');
  await jpn.waitForURL(/\/ui\/items\/[0-9a-f-]{36}\?done=reaction$/);
  assert.equal(await jpn.locator('#seen_at-error').count(), 0);
  const row = jpn.locator('tr', { hasText: `seen ${marker}` });
  // JPN's node shows Tokyo time, UTC beside.
  assert.match(await row.innerText(), /JPN\s+2026-11-30 09:00 JST \(00:00 UTC\)\s+2/);
  // Only a best practice can be endorsed: the button is not offered on this item.
  assert.equal(await jpn.getByRole('button', { name: 'Endorse' }).count(), 0);
  await jpn.screenshot({ path: path.join(out, 'item-sighting.png'), fullPage: true });
});

await step('EU attaches a file with a Japanese name; JPN downloads the same bytes', async () => {
  const bytes = Buffer.concat([Buffer.from(`%PDF-1.7\n% ${marker} annex\n`), Buffer.alloc(300000, 7)]);
  const fileName = '事後報告書 フェリー演習.pdf';
  await eu.goto(url(eu, itemUrl));
  await eu.setInputFiles('#file', { name: fileName, mimeType: 'application/pdf', buffer: bytes });
  await eu.click('button:text("Attach")');
  await eu.waitForURL(/\/ui\/items\/[0-9a-f-]{36}\?done=attached$/);
  assert.match(await eu.locator('main .notice').innerText(), /^Attached/);
  assert.equal(await eu.locator('#attachments a').innerText(), fileName);
  assert.match(await eu.locator('#attachments li').innerText(), /300 KB · application\/pdf/);
  await eu.screenshot({ path: path.join(out, 'item-attached.png'), fullPage: true });
  // At JPN the file arrives with the item's revision and is offered for download, not shown.
  await eventually(async () => {
    await jpn.goto(url(jpn, itemUrl));
    assert.equal(await jpn.locator('#attachments a').count(), 1);
  });
  const [download] = await Promise.all([jpn.waitForEvent('download'), jpn.click('#attachments a')]);
  assert.equal(download.suggestedFilename(), fileName);
  const got = fs.readFileSync(await download.path());
  assert.ok(got.equals(bytes), 'the same bytes at JPN');
  await jpn.screenshot({ path: path.join(out, 'item-attachment-jpn.png'), fullPage: true });
});

await step('JPN narrows the Items list with a facet shown beside it, and the count is the rows', async () => {
  await jpn.goto(url(jpn, '/ui/items'));
  const table = await jpn.locator('table').first().boundingBox();
  const facets = await jpn.locator('aside.facets').boundingBox();
  // Beside, not above: the list starts next to the facets (it started ~1,400 px down).
  assert.ok(facets.x > table.x && table.y < facets.y + facets.height,
    `facets beside the table: ${JSON.stringify({ table, facets })}`);
  assert.ok(table.y < 600, `the table starts at ${table.y} px`);
  const link = jpn.locator('aside.facets').getByRole('link', { name: 'TLP:AMBER', exact: true });
  const n = Number(/\((\d+)\)/.exec(await link.locator('xpath=..').innerText())[1]);
  await link.click();
  await jpn.waitForURL(/tlp=AMBER/);
  const rows = jpn.locator('table tbody tr');
  assert.equal(await rows.count(), n);
  for (const r of await rows.all()) assert.match(await r.innerText(), /TLP:AMBER/);
  await jpn.screenshot({ path: path.join(out, 'items-facet.png'), fullPage: true });
});

await step("NATO's UI, search and network view neither show nor count it", async () => {
  await nato.goto(url(nato, `/ui/search?q=${marker}`));
  assert.equal(await nato.locator('#result-count').innerText(), '0 results');
  const r = await nato.goto(url(nato, itemUrl));
  assert.equal(r.status(), 404);
  await nato.goto(url(nato, '/ui/items'));
  assert.equal(await nato.getByText(title).count(), 0);
  await nato.goto(url(nato, `/ui/search?q=${encodeURIComponent('"Browser test item"')}`));
  assert.equal(await nato.locator('#result-count').innerText(), '0 results');
  assert.equal(await measure(nato, 'Entries'), natoEntriesBefore);
  // The same measure does move where the item is visible, so the check above can fail.
  assert.equal(await measure(eu, 'Entries'), euEntriesBefore + 1);
  await eu.goto(url(eu, '/ui/network'));
  await eu.screenshot({ path: path.join(out, 'network.png'), fullPage: true });
  // Each link of the network opens the items behind it, as many as its weight.
  const edge = eu.locator('#edges a', { hasText: 'EU – JPN' });
  const weight = Number((await edge.innerText()).match(/: (\d+) entr(y|ies) exchanged$/)[1]);
  await edge.click();
  await eu.waitForURL(/\/ui\/items\?released_to=EU&released_to=JPN$/);
  assert.equal(await eu.locator('main table tbody tr').count(), weight);
  assert.match(await eu.locator('#edge-filter').innerText(), /^Only items released to both EU and JPN/);
});

await step("NATO sets a silence deadline in Tokyo time, reads it in each member's local time, and picks its own zone", async () => {
  await nato.goto(url(nato, '/ui/statements'));
  await nato.selectOption('#format_id', formatId);
  await nato.fill('#title', `Silence procedure ${marker}`);
  await nato.fill('#text', 'Adopted unless a partner objects by the deadline.');
  await nato.check('input[name=rule][value=silence]');
  // A date alone is refused: a deadline needs its hour (it once became 23:59:59Z silently).
  await nato.locator('#deadline').evaluate((e) => { e.type = 'text'; e.value = '2027-01-15'; });
  await nato.click('text=Circulate draft');
  assert.match(await nato.locator('#error-summary').innerText(), /time of day/);
  await nato.fill('#deadline', '2027-01-15T09:30');
  await nato.selectOption('#deadline_zone', 'Asia/Tokyo');
  await nato.click('text=Circulate draft');
  await nato.waitForURL(/\/ui\/statements\/[0-9a-f-]{36}\?done=statement-drafted$/);
  const silencePath = new URL(nato.url()).pathname;
  // NATO's node shows Brussels time: 09:30 in Tokyo is 01:30 CET, 00:30 UTC.
  assert.match(await nato.locator('main').innerText(), /deadline 2027-01-15 01:30 CET \(00:30 UTC\)/);
  const locals = await nato.locator('#deadline-locals').innerText();
  assert.match(locals, /JPN 2027-01-15 09:30 JST/);
  assert.match(locals, /EU 2027-01-15 01:30 CET/);
  // The officer picks Tokyo time from the header; the deadline now reads there, UTC beside.
  await nato.click('header .who a');
  await nato.fill('#time_zone', 'Asia/Tokyo');
  await nato.click('text=Save');
  await nato.waitForURL(/\/ui\/settings\?done=settings-saved$/);
  assert.match(await nato.locator('#now').innerText(), / JST \(/);
  await nato.goto(url(nato, silencePath));
  assert.match(await nato.locator('main').innerText(), /deadline 2027-01-15 09:30 JST \(00:30 UTC\)/);
  await nato.screenshot({ path: path.join(out, 'statement-deadline-zones.png'), fullPage: true });
  // Back to the node's default for the steps that follow.
  await nato.goto(url(nato, '/ui/settings'));
  await nato.fill('#time_zone', '');
  await nato.click('text=Save');
  await nato.waitForURL(/\/ui\/settings\?done=settings-saved$/);
});

let statementPath;
const endorse = async (page) => {
  await page.check('input[name=stance][value=endorse]');
  await page.click('text=Record stance');
  await page.waitForURL(new RegExp(`${statementPath}\\?done=stance$`));
  assert.equal(await page.locator('main .notice').innerText(), 'Your stance is signed and sent.');
};
// Each page endorses the statement at `statementPath` once it has arrived at its node.
const endorseWhenArrived = async (pages) => {
  for (const page of pages) {
    await eventually(async () => {
      const r = await page.goto(url(page, statementPath));
      assert.equal(r.status(), 200);
      await page.locator('input[name=stance][value=endorse]').waitFor({ timeout: 1000 });
    });
    await endorse(page);
  }
};
await step('a statement drafted at EU is endorsed from all three UIs and adopted', async () => {
  await eu.goto(url(eu, '/ui/statements'));
  await eu.selectOption('#format_id', formatId);
  await eu.fill('#title', `Browser statement ${marker}`);
  await eu.fill('#text', 'The partners condemn the fictional exercise disruption.\nThey will coordinate.');
  await eu.click('text=Circulate draft');
  await eu.waitForURL(/\/ui\/statements\/[0-9a-f-]{36}\?done=statement-drafted$/);
  statementPath = new URL(eu.url()).pathname;
  await endorse(eu);
  await endorseWhenArrived([nato, jpn]);
  await eventually(async () => {
    await eu.goto(url(eu, statementPath));
    assert.match(await eu.locator('#statement-status').innerText(), /^adopted on \d{4}-\d{2}-\d{2}/);
    assert.equal(await eu.locator('#signatures tbody tr').count(), 4);
  });
  await eu.screenshot({ path: path.join(out, 'statement.png'), fullPage: true });
  // The list says it in words too, not as the program's name for it (`Adopted { at: … }`).
  await eu.goto(url(eu, '/ui/statements'));
  const row = eu.locator('tr', { hasText: `Browser statement ${marker}` });
  assert.match(await row.innerText(), /adopted on \d{4}-\d{2}-\d{2}/);
  assert.doesNotMatch(await eu.locator('main').innerText(), /Adopted \{|Blocked \{|InProgress/);
});

await step('the adopted statement has a printable signed copy and a JSON download that carries every signature', async () => {
  await eu.goto(url(eu, statementPath));
  await eu.getByRole('link', { name: 'Printable signed copy' }).click();
  await eu.waitForURL(new RegExp(`${statementPath}/signed$`));
  assert.equal(await eu.locator('h1').innerText(), `Browser statement ${marker}`);
  // The draft and the three stances, each with who and when.
  const table = eu.locator('#signed-signatures');
  assert.equal(await table.locator('tbody tr').count(), 4);
  const rows = await table.locator('tbody').innerText();
  for (const p of ['EU', 'NATO', 'JPN']) {
    assert.match(rows, new RegExp(String.raw`^${p}\tendorsed\tadmin@${p}\t[^\t]*\d{2}:\d{2}[^\t]*\tstatement\.stance #\d+\t[0-9a-f]{128}$`, 'm'), rows);
  }
  assert.match(await eu.locator('main').innerText(), /entente verify --dir <node directory> --statement statement-[0-9a-f-]{36}\.json/);
  await eu.screenshot({ path: path.join(out, 'statement-signed.png'), fullPage: true });
  // On paper: no navigation, no links that only work on screen; the marking stays.
  await eu.emulateMedia({ media: 'print' });
  assert.equal(await eu.locator('header').isVisible(), false);
  assert.equal(await eu.locator('.no-print').first().isVisible(), false);
  assert.equal(await eu.locator('#signed-marking-top').isVisible(), true);
  await eu.screenshot({ path: path.join(out, 'statement-signed-print.png'), fullPage: true });
  await eu.emulateMedia({ media: 'screen' });
  // The download, fetched with the page's session: the REST export's JSON, as a file.
  const href = await eu.getByRole('link', { name: 'Download signed copy (JSON)' }).getAttribute('href');
  const r = await eu.request.get(url(eu, href));
  assert.equal(r.status(), 200);
  assert.match(r.headers()['content-disposition'], /^attachment; filename="statement-[0-9a-f-]{36}\.json"$/);
  assert.equal(r.headers()['x-content-type-options'], 'nosniff');
  const doc = await r.json();
  assert.equal(doc.statement_id, statementPath.split('/').pop());
  assert.equal(doc.title, `Browser statement ${marker}`);
  assert.equal(doc.stances.length, 3);
  assert.ok(doc.draft && doc.stances.every((e) => e.sig), 'signed entries');
});

await step("an alert raised at EU appears live on JPN's dashboard and counters and NATO's list, and JPN's ack changes EU's dashboard without a reload", async () => {
  // The dashboards stay open, never reloaded: what changes must arrive by itself.
  const jpnDash = await jpn.context().newPage();
  await jpnDash.goto(url(jpn, '/ui/'));
  await jpnDash.evaluate(() => { window.__notReloaded = true; });
  const euDash = await eu.context().newPage();
  await euDash.goto(url(eu, '/ui/'));
  await euDash.evaluate(() => { window.__notReloaded = true; });
  // NATO's alert list is open too: the new alert must appear in it by itself.
  const natoList = await nato.context().newPage();
  await natoList.goto(url(nato, '/ui/alerts'));
  await natoList.evaluate(() => { window.__notReloaded = true; });
  await eu.goto(url(eu, '/ui/alerts'));
  await eu.selectOption('#format_id', formatId);
  await eu.selectOption('#severity', 'high');
  await eu.fill('#title', `Browser alert ${marker}`);
  await eu.click('text=Raise alert');
  await eu.waitForURL(/\/ui\/alerts\/[0-9a-f-]{36}\?done=alert-raised$/);
  const alertPath = new URL(eu.url()).pathname;
  // The alert states its audience in words, against the format's members.
  assert.equal(await eu.locator('main .audience').innerText(), 'every member: EU, JPN, NATO');
  // JPN's open dashboard lists it under what JPN owes, with its severity and how long is left,
  // and the navigation counts it.
  const owedLine = jpnDash.locator('#owed li', { hasText: `Browser alert ${marker}` });
  await owedLine.waitFor({ timeout: 30000 });
  assert.match(await owedLine.innerText(), /acknowledge \(raised by EU\)/);
  assert.match(await owedLine.innerText(), /due in /);
  assert.equal(await owedLine.locator('.sev').innerText(), 'high');
  await jpnDash.locator('nav a[href="/ui/alerts"] .count').waitFor({ timeout: 30000 });
  const listed = natoList.locator('#alert-list tr', { hasText: `Browser alert ${marker}` });
  await listed.waitFor({ timeout: 30000 });
  assert.equal(await listed.locator('.sev').innerText(), 'high');
  assert.ok(await natoList.evaluate(() => window.__notReloaded), "NATO's alert list was not reloaded");
  await natoList.close();
  await jpnDash.screenshot({ path: path.join(out, 'dashboard-live-owed.png'), fullPage: true });
  // EU's open dashboard lists what JPN and NATO owe it.
  await euDash.waitForFunction((m) => [...document.querySelectorAll('#owed li')]
    .some((li) => li.textContent.includes(m) && li.textContent.includes('acknowledgement from JPN, NATO')),
  `Browser alert ${marker}`, { timeout: 30000 });
  await eventually(async () => {
    const r = await jpn.goto(url(jpn, alertPath));
    assert.equal(r.status(), 200);
    await jpn.locator('text=Acknowledge for JPN').waitFor({ timeout: 1000 });
  });
  await jpn.fill('#note', `Coast guard informed ${marker}`);
  await jpn.click('text=Acknowledge for JPN');
  await jpn.waitForURL(new RegExp(`${alertPath}\\?done=acknowledged$`));
  assert.match(await jpn.locator('main .notice').innerText(), /^Acknowledged/);
  // Without a reload, EU's dashboard now names NATO alone, and JPN's line is gone from its own.
  await euDash.waitForFunction((m) => [...document.querySelectorAll('#owed li')]
    .some((li) => li.textContent.includes(m) && /acknowledgement from NATO/.test(li.textContent)
      && !li.textContent.includes('JPN')),
  `Browser alert ${marker}`, { timeout: 30000 });
  await jpnDash.waitForFunction((m) => ![...document.querySelectorAll('#owed li')]
    .some((li) => li.textContent.includes(m)), `Browser alert ${marker}`, { timeout: 30000 });
  assert.ok(await euDash.evaluate(() => window.__notReloaded), "EU's dashboard was not reloaded");
  assert.ok(await jpnDash.evaluate(() => window.__notReloaded), "JPN's dashboard was not reloaded");
  await euDash.screenshot({ path: path.join(out, 'dashboard-owed-to-us.png'), fullPage: true });
  await jpnDash.close();
  await euDash.close();
  await eventually(async () => {
    await eu.goto(url(eu, alertPath));
    const row = eu.locator('#board tr', { hasText: 'JPN' });
    assert.equal(await row.locator('td').nth(1).innerText(), 'Acknowledged');
    // The acknowledging officer's note reaches the raising partner's board.
    assert.equal(await row.locator('td').nth(4).innerText(), `Coast guard informed ${marker}`);
  });
});

await step('EU plans an exercise inviting JPN with the partner picker; JPN answers on its page; EU sees the answer', async () => {
  await eu.goto(url(eu, '/ui/exercises'));
  await eu.selectOption('#format_id', formatId);
  await eu.fill('#name', `Browser exercise ${marker}`);
  await eu.fill('#start', '2027-02-01');
  await eu.fill('#end', '2027-02-02');
  await eu.fill('#location', 'Tokyo (virtual link follows)');
  await eu.check('input[name=topics][value=maritime-security]');
  // The partners are ticked from a list, not typed as codes.
  assert.equal(await eu.locator('input[type=text][name=invited]').count(), 0);
  await eu.check('#invited input[value=JPN]');
  await eu.check('#observers input[value=NATO]');
  await eu.click('text=Plan exercise');
  await eu.waitForURL(/\/ui\/exercises\?done=exercise-planned$/);
  const link = eu.locator('main table a', { hasText: `Browser exercise ${marker}` });
  const href = await link.getAttribute('href');
  await eventually(async () => {
    const r = await jpn.goto(url(jpn, href));
    assert.equal(r.status(), 200);
  });
  assert.match(await jpn.locator('#responses tr', { hasText: 'JPN' }).innerText(), /no response yet/);
  await jpn.selectOption('#response', 'participate');
  await jpn.click('text=Send our response');
  await jpn.waitForURL(new RegExp(`${href}\\?done=response$`));
  await eventually(async () => {
    await eu.goto(url(eu, href));
    assert.match(await eu.locator('#responses tr', { hasText: 'JPN' }).innerText(), /participate/);
  });
  assert.match(await eu.locator('#responses tr', { hasText: 'NATO' }).innerText(), /observer/);
  await eu.screenshot({ path: path.join(out, 'exercise.png'), fullPage: true });
});

await step('EU creates a joint action with milestones picked as dates (rows, not typed lines); the progress report links it', async () => {
  await eu.goto(url(eu, '/ui/actions'));
  // Topics outside the partner's formats are folded away, not a wall of checkboxes.
  assert.equal(await eu.locator('fieldset.topics details[open]').count(), 0);
  await eu.selectOption('#format_id', formatId);
  await eu.fill('#title', `Browser action ${marker}`);
  await eu.check('fieldset.topics input[value=maritime-security]');
  await eu.check('#leads input[value=EU]');
  await eu.check('#participants input[value=JPN]');
  const rows = eu.locator('#milestones .row');
  assert.equal(await rows.count(), 3);
  await rows.nth(0).locator('input[type=date]').fill('2027-01-15');
  await rows.nth(0).locator('input[type=text]').fill('Terms of reference agreed');
  await eu.click('text=Add milestone rows');
  await eu.waitForURL(/\/ui\/actions$/);
  // The typed row is kept, with more empty rows after it.
  assert.equal(await rows.count(), 4);
  assert.equal(await rows.nth(0).locator('input[type=text]').inputValue(), 'Terms of reference agreed');
  await rows.nth(1).locator('input[type=date]').fill('2027-03-31');
  await rows.nth(1).locator('input[type=text]').fill('Joint survey report');
  await eu.click('text=Create action');
  await eu.waitForURL(/\/ui\/actions\/[0-9a-f-]{36}\?done=/);
  const actionPath = new URL(eu.url()).pathname;
  const ms = eu.locator('main table').first().locator('tbody tr');
  assert.equal(await ms.count(), 2);
  assert.match(await ms.nth(0).innerText(), /2027-01-15\s+Terms of reference agreed/);
  assert.match(await ms.nth(1).innerText(), /2027-03-31\s+Joint survey report/);
  await eu.screenshot({ path: path.join(out, 'action-milestones.png'), fullPage: true });
  // The format's progress report names the action as a link to it.
  await eu.goto(url(eu, `/ui/formats/${formatId}/report`));
  await eu.locator('main table a', { hasText: `Browser action ${marker}` }).click();
  await eu.waitForURL(new RegExp(`${actionPath}$`));
});

await step('JPN registers a project; EU expresses interest with a note on its page; JPN sees it, and a capability search by one word finds JPN', async () => {
  await jpn.goto(url(jpn, '/ui/projects'));
  await jpn.selectOption('#format_id', formatId);
  await jpn.fill('#title', `Browser project ${marker}`);
  await jpn.fill('#capability_area', 'maritime domain awareness');
  await jpn.selectOption('#stage', 'concept');
  await jpn.check('#participants input[value=JPN]');
  await jpn.click('text=Register project');
  await jpn.waitForURL(/\/ui\/projects\?done=project-registered$/);
  const href = await jpn.locator('main table a', { hasText: `Browser project ${marker}` }).getAttribute('href');
  await eventually(async () => {
    const r = await eu.goto(url(eu, href));
    assert.equal(r.status(), 200);
  });
  await eu.fill('#note', `sensor integration ${marker}`);
  await eu.click('text=Express our interest');
  await eu.waitForURL(new RegExp(`${href}\\?done=interest$`));
  assert.equal(await eu.locator('main .notice').innerText(), 'Your interest is signed and sent.');
  assert.match(await eu.locator('#interests tr', { hasText: 'EU' }).innerText(), new RegExp(`sensor integration ${marker}`));
  await eventually(async () => {
    await jpn.goto(url(jpn, href));
    assert.match(await jpn.locator('#interests tr', { hasText: 'EU' }).innerText(), new RegExp(`sensor integration ${marker}`));
  });
  await jpn.screenshot({ path: path.join(out, 'project-interest.png'), fullPage: true });
  // One word of the capability area is enough to find who works on it.
  await eu.goto(url(eu, '/ui/projects?area=maritime'));
  assert.doesNotMatch(await eu.locator('main').innerText(), /No partner works on/);
  const matchRow = eu.locator('main table').last().locator('tr', { hasText: 'JPN' });
  assert.match(await matchRow.innerText(), new RegExp(`Browser project ${marker}`));
});

await step('EU starts a discussion for EU and JPN; JPN sees it unread, replies quoting EU with a file chosen in the reply form, then attaches a second; EU sees the reply marked new and downloads the file; NATO sees nothing', async () => {
  await eu.goto(url(eu, '/ui/discussions'));
  await eu.selectOption('#format_id', formatId);
  await eu.fill('#title', `Browser discussion ${marker}`);
  await eu.fill('#body', `Who has **ferry** figures? @${node('JPN').username}@JPN`);
  await eu.check('#releasable_to input[value=JPN]');
  await eu.click('text=Start discussion');
  await eu.waitForURL(/\/ui\/discussions\/EU-[0-9a-f-]{36}\?done=discussion-started$/);
  const threadPath = new URL(eu.url()).pathname;
  assert.match(await eu.locator('main dl').innerText(), /EU, JPN — not NATO/);
  // At JPN the thread is listed as unread and mentioning the officer, and counted in the navigation.
  await eventually(async () => {
    await jpn.goto(url(jpn, '/ui/discussions'));
    const row = jpn.locator('#threads tr', { hasText: `Browser discussion ${marker}` });
    assert.match(await row.innerText(), /1 new post/);
    assert.match(await row.innerText(), /1 mentions you/);
  });
  assert.match(await jpn.locator('nav a[href="/ui/discussions"]').innerText(), /\d/);
  await jpn.locator('#threads a', { hasText: `Browser discussion ${marker}` }).click();
  await jpn.waitForURL(new RegExp(`${threadPath}$`));
  assert.equal(await jpn.locator('article.post.new').count(), 1);
  await jpn.click('text=Quote in reply');
  await jpn.fill('#body', `Twelve sailings a day ${marker}.`);
  // The timetable goes with the reply, chosen in the reply form itself.
  const timetable = Buffer.from(`route,sailings\nTsugaru,12\n${marker}\n`);
  const tableName = '運航表 津軽.csv';
  await jpn.locator('#file').setInputFiles({ name: tableName, mimeType: 'text/csv', buffer: timetable });
  await jpn.click('text=Send reply');
  await jpn.waitForURL(new RegExp(`${threadPath}\\?done=replied$`));
  assert.equal(await jpn.locator('article.post .post-files a').innerText(), tableName);
  assert.equal(await jpn.locator('main .notice').first().innerText(), "Reply signed and sent to the discussion's audience.");
  await jpn.screenshot({ path: path.join(out, 'discussion-jpn.png'), fullPage: true });
  await eventually(async () => {
    await eu.goto(url(eu, threadPath));
    const reply = eu.locator('article.post.new');
    assert.match(await reply.innerText(), new RegExp(`Twelve sailings a day ${marker}`));
    assert.match(await reply.locator('blockquote').innerText(), /ferry figures/);
  });
  await eu.screenshot({ path: path.join(out, 'discussion-eu.png'), fullPage: true });
  // JPN attaches a note to its reply afterwards; EU downloads the timetable's bytes under its
  // Japanese name.
  const mine = jpn.locator('article.post', { hasText: `Twelve sailings a day ${marker}` });
  await mine.locator('summary').click();
  await mine.locator('input[type=file]').setInputFiles({ name: '注記.txt', mimeType: 'text/plain', buffer: Buffer.from(`note ${marker}\n`) });
  await mine.locator('button:text("Attach")').click();
  await jpn.waitForURL(new RegExp(`${threadPath}\\?done=attached$`));
  assert.equal(await jpn.locator('article.post .post-files a').count(), 2);
  assert.equal(await jpn.locator('article.post .post-files a', { hasText: tableName }).count(), 1);
  let fileHref = '';
  await eventually(async () => {
    await eu.goto(url(eu, threadPath));
    const link = eu.locator('article.post .post-files a', { hasText: tableName });
    assert.equal(await link.count(), 1);
    fileHref = await link.getAttribute('href');
  });
  const [download] = await Promise.all([eu.waitForEvent('download'), eu.locator('article.post .post-files a', { hasText: tableName }).click()]);
  assert.equal(download.suggestedFilename(), tableName);
  assert.ok(fs.readFileSync(await download.path()).equals(timetable), 'the same bytes at EU');
  await eu.screenshot({ path: path.join(out, 'discussion-file-eu.png'), fullPage: true });
  // NATO: not listed, and neither the page nor the file is there.
  await nato.goto(url(nato, '/ui/discussions'));
  assert.doesNotMatch(await nato.locator('main').innerText(), new RegExp(`Browser discussion ${marker}`));
  const r = await nato.goto(url(nato, threadPath));
  assert.equal(r.status(), 404);
  const rf = await nato.request.get(url(nato, fileHref));
  assert.equal(rf.status(), 404);
});

await step('a concept paper goes draft → amendment proposed by NATO → accepted by EU → signed off by EU, NATO and JPN → adopted', async () => {
  await eu.goto(url(eu, '/ui/papers'));
  await eu.selectOption('#format_id', formatId);
  await eu.fill('#title', `Browser concept ${marker}`);
  await eu.fill('#text', 'Purpose of the concept.\n\n## Scope\nPorts and ferries.\n\n## Means\nShared ferry tables.\n');
  await eu.check('#co_authors input[value=JPN]');
  await eu.click('text=Draft paper');
  await eu.waitForURL(/\/ui\/papers\/EU-[0-9a-f-]{36}\?done=paper-drafted$/);
  const paperPath = new URL(eu.url()).pathname;
  // NATO proposes an amendment to the "Means" section, with a reason.
  await eventually(async () => {
    const r = await nato.goto(url(nato, paperPath));
    assert.equal(r.status(), 200);
  });
  const means = nato.locator('#section-2');
  await means.locator('summary').click();
  await means.locator('textarea').fill(`Shared ferry tables and air bridges ${marker}.`);
  await means.locator('input[name=reason]').fill('Air assets shorten an evacuation.');
  await means.locator('button[type=submit]').click();
  await nato.waitForURL(new RegExp(`${paperPath}\\?done=amendment-proposed$`));
  assert.match(await nato.locator('#amendments').innerText(), /Air assets shorten an evacuation/);
  // EU, the penholder, accepts it: version 2 with the change shown as a diff.
  await eventually(async () => {
    await eu.goto(url(eu, paperPath));
    await eu.locator('#amendments button', { hasText: 'Accept' }).waitFor({ timeout: 1000 });
  });
  await eu.locator('#amendments input[name=reason]').fill('agreed');
  await eu.locator('#amendments button', { hasText: 'Accept' }).click();
  await eu.waitForURL(new RegExp(`${paperPath}\\?done=amendment-decided$`));
  assert.match(await eu.locator('#paper-version').innerText(), /^2 /);
  assert.match(await eu.locator('#paper-diff').innerText(), new RegExp(`\\+ Shared ferry tables and air bridges ${marker}`));
  await eu.click('text=Circulate this version for sign-off');
  await eu.waitForURL(new RegExp(`${paperPath}\\?done=paper-circulated$`));
  await eu.click('text=Sign off or object');
  await eu.waitForURL(/\/ui\/statements\/[0-9a-f-]{36}$/);
  // The sign-off is a statement: endorsed on its page, as statements are.
  const statementBefore = statementPath;
  statementPath = new URL(eu.url()).pathname;
  await endorse(eu);
  await endorseWhenArrived([nato, jpn]);
  await eventually(async () => {
    await eu.goto(url(eu, paperPath));
    assert.equal(await eu.locator('#paper-status').innerText(), 'Adopted: every partner signed off this version');
  });
  await eu.screenshot({ path: path.join(out, 'paper-adopted.png'), fullPage: true });
  await eventually(async () => {
    await jpn.goto(url(jpn, paperPath));
    assert.equal(await jpn.locator('#paper-status').innerText(), 'Adopted: every partner signed off this version');
  });
  statementPath = statementBefore;
});

await step('EU convenes a meeting with NATO and JPN, removes a file attached by mistake, attaches the slides (JPN downloads them), circulates minutes with a decision; all three agree; the decision becomes a joint action JPN leads', async () => {
  await eu.goto(url(eu, '/ui/meetings'));
  await eu.selectOption('#format_id', formatId);
  await eu.fill('#title', `Browser meeting ${marker}`);
  await eu.selectOption('#level', 'working_level');
  await eu.fill('#starts_at', '2027-03-10T10:00');
  await eu.selectOption('#time_zone', 'Asia/Tokyo');
  await eu.fill('#place', 'Tokyo and video link');
  await eu.selectOption('#series', 'quarterly');
  await eu.check('#participants input[value=NATO]');
  await eu.check('#participants input[value=JPN]');
  await eu.click('text=Plan meeting');
  await eu.waitForURL(/\/ui\/meetings\/EU-[0-9a-f-]{36}\?done=meeting-planned$/);
  const meetingPath = new URL(eu.url()).pathname;
  assert.match(await eu.locator('main dl').innerText(), /2027-03-10 10:00 JST/);
  // A file attached by mistake comes off again with the button beside it.
  await eu.setInputFiles('#file', { name: 'wrong draft.txt', mimeType: 'text/plain', buffer: Buffer.from(`wrong ${marker}\n`) });
  await eu.click('button:text("Attach")');
  await eu.waitForURL(new RegExp(`${meetingPath}\\?done=attached$`));
  await eu.locator('#attachments li', { hasText: 'wrong draft.txt' }).locator('button', { hasText: 'Remove' }).click();
  await eu.waitForURL(new RegExp(`${meetingPath}\\?done=file-removed$`));
  assert.match(await eu.locator('main .notice').first().innerText(), /Removed/);
  assert.equal(await eu.locator('#attachments li').count(), 0);
  // The convener attaches the slides; JPN, a participant, downloads the same bytes.
  const slides = Buffer.from(`%PDF-1.4\n% slides ${marker}\n`);
  await eu.setInputFiles('#file', { name: 'スライド 港湾.pdf', mimeType: 'application/pdf', buffer: slides });
  await eu.click('button:text("Attach")');
  await eu.waitForURL(new RegExp(`${meetingPath}\\?done=attached$`));
  assert.equal(await eu.locator('#attachments a').innerText(), 'スライド 港湾.pdf');
  await eu.screenshot({ path: path.join(out, 'meeting-files-eu.png'), fullPage: true });
  await eventually(async () => {
    await jpn.goto(url(jpn, meetingPath));
    assert.equal(await jpn.locator('#attachments a').count(), 1);
  });
  assert.equal(await jpn.locator('input[type=file]').count(), 0, 'only the convener attaches');
  assert.equal(await jpn.locator('#attachments button').count(), 0, 'only the convener removes');
  assert.doesNotMatch(await jpn.locator('main').innerText(), /wrong draft/);
  const [slideDownload] = await Promise.all([jpn.waitForEvent('download'), jpn.click('#attachments a')]);
  assert.ok(fs.readFileSync(await slideDownload.path()).equals(slides), 'the same slides at JPN');
  await jpn.screenshot({ path: path.join(out, 'meeting-files-jpn.png'), fullPage: true });
  await eu.goto(url(eu, meetingPath));
  await eu.fill('#text', `Ferry tables reviewed.\n\n- DECISION: Joint ferry table ${marker} (lead: JPN)\n`);
  await eu.click('text=Circulate the minutes for agreement');
  await eu.waitForURL(new RegExp(`${meetingPath}\\?done=minutes-drafted$`));
  assert.match(await eu.locator('#decisions').innerText(), new RegExp(`Joint ferry table ${marker}`));
  await eu.click('text=Agree to the minutes or request changes');
  await eu.waitForURL(/\/ui\/statements\/[0-9a-f-]{36}$/);
  const statementBefore = statementPath;
  statementPath = new URL(eu.url()).pathname;
  await endorse(eu);
  await endorseWhenArrived([nato, jpn]);
  statementPath = statementBefore;
  await eventually(async () => {
    await eu.goto(url(eu, meetingPath));
    assert.equal(await eu.locator('#minutes-status strong').innerText(), 'Agreed by every participant');
  });
  await eu.click('text=Create the decisions as joint actions');
  await eu.waitForURL(new RegExp(`${meetingPath}\\?done=decisions-recorded$`));
  await eu.screenshot({ path: path.join(out, 'meeting-agreed.png'), fullPage: true });
  await eventually(async () => {
    await jpn.goto(url(jpn, '/ui/actions'));
    assert.match(await jpn.locator('main table').first().innerText(), new RegExp(`Joint ferry table ${marker}`));
  });
});

await step('an EU user asks for e-mails: a wrong address is refused, then alerts at once and replies in a digest are saved; the admin page has the delivery log', async () => {
  await eu.goto(url(eu, '/ui/settings'));
  // The browser itself refuses a wrong address before sending (the server refuses it too: web test).
  await eu.fill('#email', 'anna at eu');
  await eu.click('text=Save');
  assert.equal(await eu.locator('#email').evaluate((e) => e.validity.valid), false);
  assert.ok(!eu.url().includes('done=settings-saved'), eu.url());
  await eu.fill('#email', 'anna@eu.example');
  await eu.selectOption('#notify_alert', 'immediately');
  await eu.selectOption('#notify_reply', 'digest');
  await eu.selectOption('#notify_stance', 'off');
  await eu.click('text=Save');
  await eu.waitForURL(/\/ui\/settings\?done=settings-saved$/);
  assert.equal(await eu.inputValue('#email'), 'anna@eu.example');
  assert.equal(await eu.inputValue('#notify_stance'), 'off');
  assert.equal(await eu.inputValue('#notify_reply'), 'digest');
  await eu.screenshot({ path: path.join(out, 'settings-notifications.png'), fullPage: true });
  await eu.goto(url(eu, '/ui/admin'));
  assert.match(await eu.locator('#deliveries').innerText(), /Notification deliveries/);
});

await step('on a phone (375 px) no page is wider than the screen, and at 1366 px the header is one row', async () => {
  const pages = ['/ui/', '/ui/items', '/ui/alerts', '/ui/statements', '/ui/actions', '/ui/exercises',
    '/ui/projects', '/ui/discussions', '/ui/meetings', '/ui/papers', '/ui/network', '/ui/released', `/ui/search?q=${marker}`, '/ui/admin', '/ui/items/new'];
  await eu.setViewportSize({ width: 375, height: 800 });
  for (const p of pages) {
    await eu.goto(url(eu, p));
    const m = await eu.evaluate(() => ({
      width: document.documentElement.scrollWidth,
      header: document.querySelector('header').getBoundingClientRect().height,
      // What sticks out, to say in the failure what to fix.
      wide: [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > 376 && !e.closest('nav ul > *, table > *') && getComputedStyle(e).position !== 'absolute')
        .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)})`),
    }));
    assert.ok(m.width <= 375, `${p}: the page is ${m.width} px wide at 375 px: ${m.wide.join(', ')}`);
    assert.ok(m.header <= 120, `${p}: the header is ${m.header} px tall at 375 px`);
    if (p === '/ui/' || p === '/ui/items') {
      await eu.screenshot({ path: path.join(out, `phone${p === '/ui/' ? '-dashboard' : '-items'}.png`), fullPage: true });
    }
  }
  await eu.setViewportSize({ width: 1366, height: 900 });
  for (const p of [...pages, '/ui/formats', '/ui/settings']) {
    await eu.goto(url(eu, p));
    const h = await eu.evaluate(() => document.querySelector('header').getBoundingClientRect().height);
    assert.ok(h <= 60, `${p}: the header wraps at 1366 px (${h} px tall)`);
  }
  await eu.screenshot({ path: path.join(out, 'desktop-1366.png') });
  await eu.setViewportSize({ width: 1366, height: 900 });
});

await step('an admin adds a user, and disabling them ends their open session at once', async () => {
  const name = `rita${Date.now().toString(36)}`;
  const password = 'rita-password-0123456789';
  await eu.goto(url(eu, '/ui/admin'));
  await eu.fill('#username', name);
  await eu.selectOption('#role', 'analyst');
  await eu.fill('#password', password);
  await eu.click('text=Add user');
  await eu.waitForURL(/\/ui\/admin$/);
  // The new user signs in in a browser of their own.
  const ctx = await browser.newContext();
  const rita = await ctx.newPage();
  await rita.goto(url(eu, '/ui/login'));
  await rita.fill('#username', name);
  await rita.fill('#password', password);
  await rita.click('button[type=submit]');
  await rita.waitForURL(/\/ui\/$/);
  // The admin disables them; their next page load is the login form.
  await eu.goto(url(eu, '/ui/admin'));
  await eu.click(`text=Disable ${name}`);
  await eu.waitForURL(/\/ui\/admin$/);
  const row = eu.locator('#users tr', { hasText: name });
  assert.equal(await row.locator('td').nth(2).innerText(), 'disabled');
  await eu.screenshot({ path: path.join(out, 'admin.png'), fullPage: true });
  await rita.goto(url(eu, '/ui/items'));
  // Sent to the login, which would bring them back to the page they asked for.
  assert.match(rita.url(), /\/ui\/login\?next=%2Fui%2Fitems$/);
  // Their session is listed on the admin page and can be revoked there too.
  assert.ok(await eu.locator('#tokens tr', { hasText: name }).count() >= 1);
  await ctx.close();
});

await step('a link to an alert opened while signed out lands on the alert after the login', async () => {
  await jpn.goto(url(jpn, '/ui/alerts'));
  const href = await jpn.locator('main table a').first().getAttribute('href');
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const p = await ctx.newPage();
  await p.goto(url(jpn, href));
  assert.match(p.url(), /\/ui\/login\?next=/);
  await p.fill('#username', node('JPN').username);
  await p.fill('#password', node('JPN').password);
  await p.click('button[type=submit]');
  await p.waitForURL((u) => u.pathname === href);
  // The navigation says where the user is.
  assert.match(await p.locator('nav a[aria-current="page"]').innerText(), /^Alerts\b/);
  await p.screenshot({ path: path.join(out, 'deep-link-after-login.png'), fullPage: true });
  await ctx.close();
});

await step('axe-core finds no serious or critical accessibility violation on any page', async () => {
  const axeSource = fs.readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
  await eu.goto(url(eu, '/ui/items'));
  const itemHref = await eu.locator('main table a[href^="/ui/items/"]').first().getAttribute('href');
  await eu.goto(url(eu, '/ui/alerts'));
  const alertHref = await eu.locator('main table a[href^="/ui/alerts/"]').first().getAttribute('href');
  await eu.goto(url(eu, '/ui/statements'));
  const statementHref = await eu.locator('main table a[href^="/ui/statements/"]').first().getAttribute('href');
  await eu.goto(url(eu, '/ui/actions'));
  const actionHref = await eu.locator('main table a[href^="/ui/actions/"]').first().getAttribute('href');
  await eu.goto(url(eu, '/ui/exercises'));
  const exerciseHref = await eu.locator('main table a[href^="/ui/exercises/"]').first().getAttribute('href');
  await eu.goto(url(eu, '/ui/projects'));
  const projectHref = await eu.locator('main table a[href^="/ui/projects/"]').first().getAttribute('href');
  await eu.goto(url(eu, '/ui/discussions'));
  const threadHref = await eu.locator('main table a[href^="/ui/discussions/"]').first().getAttribute('href');
  await eu.goto(url(eu, '/ui/papers'));
  const paperHref = await eu.locator('main table a[href^="/ui/papers/"]').first().getAttribute('href');
  await eu.goto(url(eu, '/ui/meetings'));
  const meetingHref = await eu.locator('main table a[href^="/ui/meetings/"]').first().getAttribute('href');
  const pages = ['/ui/', '/ui/discussions', threadHref, '/ui/meetings', meetingHref, '/ui/papers', paperHref,
    `/ui/formats/${formatId}/release`, '/ui/formats', `/ui/formats/${formatId}`, '/ui/items', itemHref, `/ui/items/new?format_id=${formatId}`,
    '/ui/actions', actionHref, '/ui/statements', statementHref, `${statementPath}/signed`, `/ui/formats/${formatId}/report`, '/ui/alerts', alertHref, '/ui/exercises', exerciseHref, '/ui/projects', projectHref,
    `/ui/search?q=${marker}`, '/ui/network', '/ui/released', '/ui/admin'];
  const found = [];
  // The check can fail: on a page with an image without text, axe reports it as critical.
  {
    const ctx = await browser.newContext();
    const bad = await ctx.newPage();
    await bad.setContent('<!doctype html><html lang="en"><title>t</title><main><img src="x.png"></main></html>');
    await bad.evaluate(axeSource);
    const r = await bad.evaluate(() => window.axe.run(document));
    assert.ok(r.violations.some((v) => v.id === 'image-alt' && v.impact === 'critical'), 'axe reports a missing alt text');
    await ctx.close();
  }
  let rulesPassed = 0;
  pages.push('/ui/settings');
  // Every page at the desktop width and on a phone: the collapsed navigation and the tables
  // turned into cards are other markup, checked as well.
  for (const width of [1366, 375]) {
    await eu.setViewportSize({ width, height: 900 });
    for (const p of pages) {
      await eu.goto(url(eu, p));
      const r = await axeRun(eu, axeSource);
      rulesPassed += r.passes.length;
      for (const v of r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')) {
        found.push(`${p} at ${width} px: ${v.id} (${v.impact}) ${v.nodes.length}× e.g. ${v.nodes[0].target.join(' ')}`);
      }
    }
  }
  await eu.setViewportSize({ width: 1366, height: 900 });
  // The login page, signed out.
  const ctx = await browser.newContext();
  const anon = await ctx.newPage();
  await anon.goto(url(eu, '/ui/login'));
  await anon.evaluate(axeSource);
  const r = await anon.evaluate(() => window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } }));
  for (const v of r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')) {
    found.push(`/ui/login: ${v.id} (${v.impact}) ${v.nodes.length}× e.g. ${v.nodes[0].target.join(' ')}`);
  }
  await ctx.close();
  assert.ok(rulesPassed > pages.length * 10, `axe ran its rules (${rulesPassed} passes)`);
  assert.deepEqual(found, [], `axe-core:\n${found.join('\n')}`);
  console.log(`   axe-core: ${pages.length + 1} pages at 1366 and 375 px, ${rulesPassed} rule passes, 0 serious or critical violations`);
});

await step('a JPN officer reads the whole UI in Japanese: the browser asks for it, the setting keeps it, every page at 1366 and 375 px', async () => {
  // A browser set to Japanese gets the login page in Japanese before anyone signs in.
  const ctx = await browser.newContext({ locale: 'ja-JP', viewport: { width: 1366, height: 900 } });
  const p = await ctx.newPage();
  await p.goto(url(jpn, '/ui/login'));
  assert.equal(await p.getAttribute('html', 'lang'), 'ja');
  await p.fill('#username', node('JPN').username);
  await p.fill('#password', node('JPN').password);
  await p.click('button[type=submit]');
  await p.waitForURL(/\/ui\/$/);
  assert.equal(await p.locator('nav a[href="/ui/"]').innerText(), 'ダッシュボード');
  // The officer makes it their setting (from the header), so any browser shows it.
  await p.click('header .who a');
  await p.selectOption('#language', 'ja');
  await p.click('main button[type=submit]');
  await p.waitForURL(/\/ui\/settings\?done=settings-saved$/);
  assert.match(await p.locator('main .notice').innerText(), /^保存しました/);
  const pages = await p.locator('nav a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  pages.push('/ui/settings', `/ui/formats/${formatId}`, `/ui/items/new?format_id=${formatId}`);
  const axeSource = fs.readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
  const jaFound = [];
  for (const href of pages) {
    const name = href.replace(/^\/ui\/?/, '').replace(/[^a-z0-9]+/gi, '-').replace(/-+$/, '') || 'dashboard';
    await p.setViewportSize({ width: 1366, height: 900 });
    await p.goto(url(jpn, href));
    assert.equal(await p.getAttribute('html', 'lang'), 'ja', href);
    const text = await p.locator('body').innerText();
    assert.ok(!text.includes('⟦'), `${href}: a message is missing from the Japanese catalogue: ${text.match(/⟦[^⟧]*⟧/)}`);
    const h = await p.evaluate(() => document.querySelector('header').getBoundingClientRect().height);
    assert.ok(h <= 60, `${href}: the Japanese header wraps at 1366 px (${h} px tall)`);
    await p.screenshot({ path: path.join(out, `ja-${name}-1366.png`), fullPage: true });
    const r = await axeRun(p, axeSource);
    jaFound.push(...r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${href} in Japanese: ${v.id} (${v.impact}) e.g. ${v.nodes[0].target.join(' ')}`));
    await p.setViewportSize({ width: 375, height: 800 });
    await p.goto(url(jpn, href));
    const w = await p.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(w <= 375, `${href}: the Japanese page is ${w} px wide at 375 px`);
    await p.screenshot({ path: path.join(out, `ja-${name}-375.png`), fullPage: true });
  }
  assert.deepEqual(jaFound, [], `axe-core on the Japanese pages:\n${jaFound.join('\n')}`);
  // The setting outlives the browser's language: an English browser still gets Japanese.
  const ctxEn = await browser.newContext({ locale: 'en-GB' });
  const q = await ctxEn.newPage();
  await q.goto(url(jpn, '/ui/login'));
  assert.equal(await q.getAttribute('html', 'lang'), 'en');
  await q.fill('#username', node('JPN').username);
  await q.fill('#password', node('JPN').password);
  await q.click('button[type=submit]');
  await q.waitForURL(/\/ui\/$/);
  assert.equal(await q.getAttribute('html', 'lang'), 'ja');
  // Back to the browser's choice, so the officer's other sessions in this suite stay English.
  await q.goto(url(jpn, '/ui/settings'));
  await q.selectOption('#language', '');
  await q.click('main button[type=submit]');
  await q.waitForURL(/\/ui\/settings\?done=settings-saved$/);
  assert.equal(await q.getAttribute('html', 'lang'), 'en');
  await ctxEn.close();
  await ctx.close();
});

await step('the dashboard, and logging out ends the session', async () => {
  await eu.goto(url(eu, '/ui/'));
  await eu.screenshot({ path: path.join(out, 'dashboard.png'), fullPage: true });
  const cookies = await eu.context().cookies();
  // One session cookie per partner (browsers share cookies across ports), __Host- over HTTPS.
  const session = cookies.find((c) => c.name === '__Host-entente_session_eu');
  assert.ok(session.httpOnly && session.secure && session.sameSite === 'Strict' && session.path === '/');
  await eu.click('text=Log out');
  await eu.waitForURL(/\/ui\/login$/);
  // The old session token no longer works even if replayed.
  const ctx = await browser.newContext();
  await ctx.addCookies([{ ...session }]);
  const p = await ctx.newPage();
  await p.goto(url(eu, '/ui/'));
  assert.match(p.url(), /\/ui\/login$/);
  await ctx.close();
});

await step('the browser reported no script error and no Content Security Policy violation on any page', async () => {
  assert.deepEqual(complaints, [], complaints.join('\n'));
});

await browser.close();
console.log(`${passed} browser checks passed; screenshots in ${out}`);
