/*
 * The browser half of t/dashboard.t: headless Chromium from Debian
 * (/usr/bin/chromium), driven by playwright-core (t/node), opens the
 * status page and does what an operator would.  One argument, JSON:
 *
 *   { "page": URL of the status location with manage=on,
 *     "readonly": URL of one without,
 *     "evil": URL of a page of another origin (t/dashboard.t's second
 *             server) that tries to replay,
 *     "dead": id of the dead letter to replay in the page,
 *     "reload": nginx's master pid: reloaded before Replay (a new token),
 *     "screenshot": where to save a PNG of the page }
 *
 * Prints one JSON object: what it saw at each step (t/dashboard.t
 * asserts on it).  Exits non-zero only if the browser could not run.
 */

'use strict';

const path = require('path');
const { chromium } = require(path.join(__dirname, '..', 'node',
                                       'node_modules', 'playwright-core'));

const arg = JSON.parse(process.argv[2]);
const out = { steps: [] };

function step(name, value) {
    out[name] = value;
    out.steps.push(name);
}

async function text(page, sel) {
    return page.$eval(sel, (e) => e.textContent);
}

async function main() {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu'],
        timeout: 60000,
    });

    try {
        const ctx = await browser.newContext({
            viewport: { width: 1600, height: 900 },
        });
        const page = await ctx.newPage();
        const console_ = [];
        const dialogs = [];

        page.on('console', (m) => console_.push(m.type() + ': ' + m.text()
                                             + ' ' + m.location().url));
        page.on('pageerror', (e) => console_.push('pageerror: ' + e));
        page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });

        /* the page: as a browser opens it (Accept: text/html, ...) */

        const res = await page.goto(arg.page, { waitUntil: 'load' });
        step('status', res.status());
        step('type', res.headers()['content-type']);

        await page.waitForSelector('#webhooks-table tbody tr',
                                   { timeout: 15000 });
        await page.waitForSelector('#events-table tbody tr',
                                   { timeout: 15000 });

        step('webhooks', await text(page, '#webhooks-table'));
        step('portals', await text(page, '#portals-table'));
        step('queues', await text(page, '#queues-table'));
        step('latency_bars', await page.$$eval('#latency-chart rect.bar',
                                               (r) => r.length));
        step('events', await page.$$eval('#events-table tbody tr',
                                         (r) => r.map((e) => e.textContent)));
        step('version', await text(page, '#version'));

        /* the dead letter, its Replay button, its story */

        const row = `#dead-table tr[data-id="${arg.dead}"]`;
        await page.waitForSelector(row + ' button.replay',
                                   { timeout: 15000 });
        step('dead_row', await text(page, row));

        await page.click(row + ' td.id');
        await page.waitForSelector('#detail-table tbody tr',
                                   { timeout: 10000 });
        step('detail', await text(page, '#detail-table'));
        step('detail_dead', await text(page, '#detail-dead'));

        /* markup in a target, a code or an error stays text */

        step('xss', await page.evaluate(() => ({
            flag: window.__xss || null,
            imgs: document.querySelectorAll('img').length,
            scripts: document.querySelectorAll('script').length,
        })));

        await page.screenshot({ path: arg.screenshot, fullPage: true });
        step('screenshot', arg.screenshot);

        /*
         * a reload makes a new token: the page's first POST is refused
         * (token_invalid), it gets the new one and tries again
         */

        const token = () => page.evaluate(async () => (await (await fetch(
            location.pathname + '?view=token')).json()).token);
        const before = await token();

        if (arg.reload) {
            process.kill(arg.reload, 'SIGHUP');
            const until = Date.now() + 20000;
            while (await token() === before && Date.now() < until) {
                await new Promise((r) => setTimeout(r, 100));
            }
            step('new_token', (await token()) !== before);
        }

        /* Replay: gone from the dead letters, delivered in the journal */

        await page.click(row + ' button.replay');
        await page.waitForSelector(row, { state: 'detached',
                                          timeout: 15000 });
        step('replayed', true);

        await page.waitForFunction((id) => Array.prototype.some.call(
            document.querySelectorAll(
                '#events-table tr[data-result="delivered"] td.id'),
            (td) => td.textContent === id), arg.dead, { timeout: 15000 });
        step('delivered_in_page', true);

        /* the filters: one result, then one target */

        await page.selectOption('#f-result', 'rejected');
        await page.waitForFunction(() => {
            const rows = document.querySelectorAll('#events-table tbody tr');
            return rows.length > 0 && Array.prototype.every.call(rows,
                (r) => r.dataset.result === 'rejected');
        }, null, { timeout: 10000 });
        step('filter_result', await page.$$eval('#events-table tbody tr',
                                                (r) => r.length));

        await page.selectOption('#f-result', '');
        await page.fill('#f-target', 'DEAL_2');
        await page.press('#f-target', 'Enter');
        await page.waitForFunction(() => {
            const rows = document.querySelectorAll(
                '#events-table tbody td.target');
            return rows.length > 0 && Array.prototype.every.call(rows,
                (td) => td.textContent === 'DEAL_2');
        }, null, { timeout: 10000 });
        step('filter_target', await page.$$eval('#events-table tbody tr',
                                                (r) => r.length));

        step('problem', await page.$eval('#problem',
                                         (e) => e.hidden ? '' : e.textContent));
        step('console', console_);
        step('dialogs', dialogs);

        /* without manage=on: no buttons */

        const ro = await ctx.newPage();
        await ro.goto(arg.readonly, { waitUntil: 'load' });
        await ro.waitForFunction(() => Number(document.body.dataset.refreshed
                                              || 0) >= 1, null,
                                 { timeout: 15000 });
        step('readonly', await ro.evaluate(() => ({
            buttons: document.querySelectorAll('#dead-table button').length,
            note: !document.getElementById('manage-off').hidden,
            rows: document.querySelectorAll('#dead-table tbody tr').length,
        })));

        /* a page of another origin tries to get the token and replay */

        const evil = await ctx.newPage();
        await evil.goto(arg.evil, { waitUntil: 'load' });
        await evil.waitForFunction(() => window.__done === true, null,
                                   { timeout: 15000 });
        step('evil', await evil.evaluate(() => window.__result));

    } finally {
        await browser.close();
    }
}

main().then(() => {
    process.stdout.write(JSON.stringify(out) + '\n');
}, (e) => {
    out.error = String(e && e.stack || e);
    process.stdout.write(JSON.stringify(out) + '\n');
    process.exitCode = 0;
});
