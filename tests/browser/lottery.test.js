#!/usr/bin/env node
// The lottery pages in a real browser: starts the real build/register,
// build/gateway (webRoot = apps/lottery/www) and build/business (two worker
// processes, apps/lottery.so, an [app] section with a fresh sqlite store) on
// free 127.0.0.1 ports, then drives an admin page, the big screen and three
// phones (390×844, mobile) in Debian's headless Chromium through a whole
// evening: imports (GBK CSV, UTF-8 CSV with BOM, .xlsx), a prize, sign-ins,
// a verifiable draw, the win screens, a reload, bullet comments, export,
// stats, an absent winner's replacement and an undo.
//
//   node tests/browser/lottery.test.js [BUILD_DIR]      (default: build)
//
// Needs apps/lottery/www/vendor/xlsx.full.min.js and apps/lottery/node_modules
// (`make lottery-vendor`), Debian's iconv (libc) for the GBK file, and a CJK
// font (fonts-wqy-zenhei) for the screenshots: BUILD_DIR/browser/lottery-*.png.
// Every step waits for its real condition with a deadline. Prints
// "browser-lottery: N passed, M failed" last; exits non-zero on any failure.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const { chromium } = require('playwright-core');

const top = path.resolve(__dirname, '..', '..');
const bin = path.resolve(process.argv[2] || path.join(top, 'build'));
const webRoot = path.join(top, 'apps', 'lottery', 'www');
const outDir = path.join(bin, 'browser');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const KEY = 'browser-lottery-key';
const NAME = 'LotteryBrowser';
const ADMIN_TOKEN = 'admin-token-for-the-browser-test';
const TITLE = '2027 年会';
const STEP_MS = 15000;    // one step
const TOTAL_MS = 240000;  // the whole run

let browser = null;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-lottery-browser-'));

const H = require('./harness')({ bin, tmp, stepMs: STEP_MS });
const { procs, freePort, sleep, withTimeout, start, waitFor, logHas, httpGet, check, assert } = H;

async function stopAll() {
  if (browser) {
    const b = browser;
    browser = null;
    await withTimeout(b.close(), 10000, 'closing Chromium').catch((e) => console.log(`  (${e.message})`));
  }
  await H.stopProcs();
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// ---- page helpers ----
const WAIT = STEP_MS - 1000;
const text = (page, sel) => page.$eval(sel, (e) => e.textContent.trim());
// Waits until the text of sel satisfies want (a string: equal; a RegExp: matches).
async function waitText(page, sel, want, what) {
  const src = want instanceof RegExp ? { re: want.source, flags: want.flags } : { eq: want };
  await page.waitForFunction(([s, w]) => {
    const e = document.querySelector(s);
    if (!e) return false;
    const t = e.textContent.trim();
    return w.re !== undefined ? new RegExp(w.re, w.flags).test(t) : t === w.eq;
  }, [sel, src], { timeout: WAIT }).catch(async () => {
    let have = '(absent)';
    try { have = JSON.stringify(await text(page, sel)); } catch (e) { /* absent */ }
    throw new Error(`${what}: ${sel} is ${have}, want ${want}`);
  });
}
const visible = (page, sel, what) => page.waitForSelector(sel, { state: 'visible', timeout: WAIT })
  .catch(() => { throw new Error(`${what}: ${sel} not visible`); });
const hiddenSel = (page, sel, what) => page.waitForSelector(sel, { state: 'hidden', timeout: WAIT })
  .catch(() => { throw new Error(`${what}: ${sel} still visible`); });
const isVisible = (page, sel) => page.$eval(sel, (e) => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length))
  .catch(() => false);
// The empNos a list shows through data-emp, in order.
const emps = (page, sel) => page.$$eval(`${sel} [data-emp]`, (l) => l.map((e) => e.getAttribute('data-emp')));
async function waitEmps(page, sel, want, what) {
  await page.waitForFunction(([s, w]) => {
    const have = [...document.querySelectorAll(`${s} [data-emp]`)].map((e) => e.getAttribute('data-emp'));
    return JSON.stringify(have) === JSON.stringify(w);
  }, [sel, want], { timeout: WAIT }).catch(async () => {
    throw new Error(`${what}: ${sel} shows ${JSON.stringify(await emps(page, sel).catch(() => []))}, want ${JSON.stringify(want)}`);
  });
}

// ---- the verifiable draw (docs/lottery-protocol.md §8), recomputed here ----
function sha256(buf) { return crypto.createHash('sha256').update(buf).digest(); }
function poolHash(empNos) {
  const sorted = empNos.slice().sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return sha256(Buffer.from(sorted.map((e) => `${e}\n`).join(''))).toString('hex');
}
function drawWinners(seedHex, empNos, k) {
  const pool = empNos.slice().sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const seed = Buffer.from(seedHex, 'hex');
  let block = 0n, buf = Buffer.alloc(0), off = 0;
  const next = () => {
    if (off + 8 > buf.length) {
      const ctr = Buffer.alloc(8);
      ctr.writeBigUInt64BE(block++);
      buf = sha256(Buffer.concat([seed, ctr]));
      off = 0;
    }
    const x = buf.readBigUInt64BE(off);
    off += 8;
    return x;
  };
  const uniform = (m) => {
    const M = BigInt(m);
    const min = ((1n << 64n) - M) % M;
    for (;;) { const x = next(); if (x >= min) return Number(x % M); }
  };
  for (let i = 0; i < k; i++) {
    const j = i + uniform(pool.length - i);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, k);
}

// ---- the participant files ----
const GBK_PEOPLE = [['E001', '张伟', '研发部'], ['E002', '王芳', '市场部'], ['E003', '李娜', '财务部']];
function gbkCsv() {
  // Node has no GBK encoder: Debian's libc iconv makes the bytes Excel on a Chinese Windows would.
  const utf8 = '工号,姓名,部门\r\n' + GBK_PEOPLE.map((r) => r.join(',')).join('\r\n') + '\r\nbad id!,某人,x\r\n';
  const gbk = execFileSync('iconv', ['-f', 'UTF-8', '-t', 'GBK'], { input: Buffer.from(utf8, 'utf8') });
  let validUtf8 = true;
  try { new TextDecoder('utf-8', { fatal: true }).decode(gbk); } catch (e) { validUtf8 = false; }
  assert(!validUtf8 && gbk.length < Buffer.byteLength(utf8), 'iconv did not produce GBK bytes');
  return gbk;
}
function bomCsv() {
  return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]),
    Buffer.from('empNo,name,dept\n E004 ,刘洋,"行政部,北京"\nE005,陈静,"人力""资源""部"\n', 'utf8')]);
}
function xlsxFile() {
  const XLSX = require(path.join(top, 'apps', 'lottery', 'node_modules', 'xlsx'));
  const ws = XLSX.utils.aoa_to_sheet([['姓名', '工号', '部门'], ['赵敏', 'E006', '销售部']]);
  const wb = XLSX.utils.book_new();
  XLSX.utils.book_append_sheet(wb, ws, '名单');
  return XLSX.write(wb, { type: 'buffer', bookType: 'xlsx' });
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const regPort = await freePort(), wsPort = await freePort(), lanPort = await freePort();
  const url = `http://127.0.0.1:${wsPort}/`;
  const dbPath = path.join(tmp, 'lottery.db');
  const pageErrors = [];
  let admin, screen, phones = [], adminCtx, screenCtx;
  const people = { E001: '张伟', E002: '王芳', E003: '李娜', E004: '刘洋', E005: '陈静', E006: '赵敏' };

  for (const f of ['xlsx.full.min.js']) {
    if (!fs.existsSync(path.join(webRoot, 'vendor', f))) throw new Error(`apps/lottery/www/vendor/${f} is missing: run make lottery-vendor`);
  }

  const up = await check('the three roles start (gateway webRoot apps/lottery/www; business -c ini with [business] and [app], 2 processes)', async () => {
    const ini = path.join(tmp, 'business.ini');
    fs.writeFileSync(ini, [
      '[business]',
      `registerAddress = 127.0.0.1:${regPort}`,
      `secretKey = ${KEY}`,
      `name = ${NAME}`,
      'count = 2',
      `eventHandler = ${path.join(bin, 'apps', 'lottery.so')}`,
      `pidFile = ${path.join(tmp, 'business.pid')}`,
      '',
      '[app]',
      `store = sqlite:${dbPath}`,
      `adminToken = ${ADMIN_TOKEN}`,
      'openSignup = false',
      `title = ${TITLE}`,
      '',
    ].join('\n'));
    const reg = start('register', [`--listen=text://127.0.0.1:${regPort}`, `--secretKey=${KEY}`,
      `--pidFile=${tmp}/register.pid`, 'start']);
    const gw = start('gateway', [`--listen=websocket://127.0.0.1:${wsPort}`, `--startPort=${lanPort}`,
      `--registerAddress=127.0.0.1:${regPort}`, `--secretKey=${KEY}`, '--lanIp=127.0.0.1', '--count=1',
      `--webRoot=${webRoot}`, '--pingInterval=1', '--pingNotResponseLimit=1', '--pingData={"type":"ping"}',
      `--pidFile=${tmp}/gateway.pid`, 'start']);
    await waitFor('gateway answers /health', async () => {
      if (reg.exited || gw.exited) throw new Error(`${reg.exited ? 'register' : 'gateway'} exited`);
      const r = await httpGet(`${url}health`);
      return r && r.status === 200;
    }, 5000);
    const bw = start('business', ['-c', ini, 'start']);
    await waitFor('both business worker processes link to the gateway', () => {
      if (bw.exited) throw new Error(`business exited ${JSON.stringify(bw.exited)}`);
      return logHas(gw, `business worker 127.0.0.1:${NAME}:0 connected`) &&
        logHas(gw, `business worker 127.0.0.1:${NAME}:1 connected`);
    }, 8000);
  });
  if (!up) return;

  await check('the gateway serves the three pages, their CSS/JS and vendor/xlsx.full.min.js', async () => {
    for (const [file, type] of [['', 'text/html'], ['index.html', 'text/html'], ['screen.html', 'text/html'],
      ['admin.html', 'text/html'], ['common.js', 'javascript'], ['common.css', 'text/css'], ['phone.js', 'javascript'],
      ['screen.js', 'javascript'], ['admin.js', 'javascript'], ['vendor/xlsx.full.min.js', 'javascript']]) {
      const r = await httpGet(url + file);
      assert(r && r.status === 200, `GET /${file}: ${r ? r.status : 'no answer'}`);
      assert(String(r.headers['content-type']).includes(type), `GET /${file}: Content-Type ${r.headers['content-type']}`);
      if (type === 'text/html') {
        const html = r.body.toString('utf8');
        assert(html.includes('<html lang="zh-CN">') && html.includes('<meta charset="utf-8">') &&
          html.includes('name="viewport"'), `/${file}: lang, charset or viewport missing`);
      }
    }
  });

  const started = await check('Chromium starts (headless; admin 1440×900, screen 1920×1080, three phones 390×844 mobile)', async () => {
    browser = await chromium.launch({
      executablePath,
      headless: true,
      timeout: STEP_MS,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const watch = (page, who) => {
      page.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`));
      page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`${who} console: ${m.text()} (${m.location().url})`); });
      page.setDefaultTimeout(WAIT);
      return page;
    };
    adminCtx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN', acceptDownloads: true });
    screenCtx = await browser.newContext({ viewport: { width: 1920, height: 1080 }, locale: 'zh-CN' });
    admin = watch(await adminCtx.newPage(), 'admin');
    screen = watch(await screenCtx.newPage(), 'screen');
    // Each phone its own context: its own localStorage, as three real phones.
    for (let i = 0; i < 3; i++) {
      const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
        deviceScaleFactor: 2, locale: 'zh-CN',
        userAgent: 'Mozilla/5.0 (Linux; Android 13; Phone) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36 MicroMessenger/8.0.47' });
      phones.push(watch(await ctx.newPage(), `phone${i + 1}`));
    }
  });
  if (!started) return;

  await check('admin: a wrong ?token= is refused (forbidden, translated) and taken out of the URL', async () => {
    await admin.goto(`${url}admin.html?token=wrong-token-123`);
    await visible(admin, '#token-error', 'no error');
    await waitText(admin, '#token-error', '没有权限（管理口令错误？）', 'forbidden not translated');
    assert(!admin.url().includes('token='), `URL still has the token: ${admin.url()}`);
    assert(!(await isVisible(admin, '#app')), 'the admin UI is shown');
  });

  await check('admin: the right token typed in opens the admin UI (kept in sessionStorage across a reload)', async () => {
    await admin.fill('#token', ADMIN_TOKEN);
    await admin.click('#token-btn');
    await visible(admin, '#app', 'admin UI');
    await waitText(admin, '#event-title', TITLE, 'title from [app]');
    assert(await admin.evaluate(() => sessionStorage.getItem('lottery.adminToken')) === ADMIN_TOKEN, 'token not in sessionStorage');
    await admin.reload();
    await visible(admin, '#app', 'admin UI after reload');
    await waitText(admin, '#conn', '已连接', 'admin connected');
  });

  await check('the big screen opens on the sign-in wall with the event title', async () => {
    await screen.goto(`${url}screen.html`);
    await waitText(screen, '#conn', '已连接', 'screen connected');
    await waitText(screen, '#event-title', TITLE, 'title');
    await visible(screen, '#wall', 'wall');
    await waitText(screen, '#wall-count', '0', 'nobody signed in yet');
  });

  await check('admin imports a GBK CSV (工号,姓名,部门 header; one bad row skipped): 3 added', async () => {
    await admin.setInputFiles('#import-file', { name: '名单-gbk.csv', mimeType: 'text/csv', buffer: gbkCsv() });
    await visible(admin, '#import-preview', 'preview');
    const enc = await admin.getAttribute('#preview-summary', 'data-encoding');
    const count = await admin.getAttribute('#preview-summary', 'data-count');
    assert(enc === 'GBK' && count === '3', `preview: encoding ${enc}, count ${count}`);
    const names = await admin.$$eval('#preview-rows tr td:nth-child(2)', (l) => l.map((e) => e.textContent));
    assert(same(names, ['张伟', '王芳', '李娜']), `decoded names ${JSON.stringify(names)}`);
    assert(/1 行无效/.test(await text(admin, '#preview-summary')), 'the bad row is not reported');
    await admin.click('#import-btn');
    await waitText(admin, '#import-msg', '导入完成：新增 3，更新 0，共 3 人', 'import result');
    await waitText(screen, '#participants-of', '/ 3 人', 'screen participants');
  });

  await check('admin imports a UTF-8 CSV with BOM (empNo,name,dept; quoted fields): 2 added, merged', async () => {
    await admin.setInputFiles('#import-file', { name: 'staff-utf8.csv', mimeType: 'text/csv', buffer: bomCsv() });
    await admin.waitForFunction(() => document.querySelector('#preview-summary').getAttribute('data-encoding') === 'UTF-8 (BOM)');
    const rows = await admin.$$eval('#preview-rows tr', (l) => l.map((tr) => [...tr.children].map((td) => td.textContent)));
    assert(same(rows, [['E004', '刘洋', '行政部,北京'], ['E005', '陈静', '人力"资源"部']]), `rows ${JSON.stringify(rows)}`);
    await admin.click('#import-btn');
    await waitText(admin, '#import-msg', '导入完成：新增 2，更新 0，共 5 人', 'import result');
  });

  await check('admin imports an .xlsx (SheetJS; columns in another order): 1 added, 6 in all', async () => {
    await admin.setInputFiles('#import-file', { name: '名单.xlsx',
      mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', buffer: xlsxFile() });
    await admin.waitForFunction(() => document.querySelector('#preview-summary').getAttribute('data-encoding') === 'Excel');
    const rows = await admin.$$eval('#preview-rows tr', (l) => l.map((tr) => [...tr.children].map((td) => td.textContent)));
    assert(same(rows, [['E006', '赵敏', '销售部']]), `rows ${JSON.stringify(rows)}`);
    assert(!(await isVisible(admin, '#xlsx-note')), 'says xlsx is unavailable');
    await admin.click('#import-btn');
    await waitText(admin, '#import-msg', '导入完成：新增 1，更新 0，共 6 人', 'import result');
    await waitText(screen, '#participants-of', '/ 6 人', 'screen participants');
    await waitText(admin, '#stat-participants', '6', 'admin participants');
  });

  await check('admin imports 5,000 more people (UTF-8 CSV, no header) in one go: 5,006 in all', async () => {
    const lines = [];
    for (let i = 1; i <= 5000; i++) lines.push(`P${String(i).padStart(5, '0')},员工${i},部门${i % 40}`);
    const t0 = Date.now();
    await admin.setInputFiles('#import-file', { name: 'big.csv', mimeType: 'text/csv', buffer: Buffer.from(lines.join('\n'), 'utf8') });
    await admin.waitForFunction(() => document.querySelector('#preview-summary').getAttribute('data-count') === '5000');
    await admin.click('#import-btn');
    await waitText(admin, '#import-msg', '导入完成：新增 5000，更新 0，共 5006 人', 'import result');
    await waitText(screen, '#participants-of', '/ 5006 人', 'screen participants');
    console.log(`        (5,000 rows parsed, imported and shown in ${Date.now() - t0} ms)`);
  });

  await check('admin creates the prize 一等奖 (tier 1, 2 seats, excludeWinners); it appears in the draw list', async () => {
    await admin.fill('#prize-name', '一等奖');
    await admin.fill('#prize-tier', '1');
    await admin.fill('#prize-qty', '2');
    await admin.check('#prize-excl');
    await admin.click('#prize-save');
    await waitText(admin, '#prize-rows tr:first-child td:first-child', '一等奖', 'prize row');
    await waitText(admin, '#prize-rows tr:first-child td:nth-child(4)', '0 / 2', 'won / left');
    await waitText(admin, '#draw-prize option:checked', '一等奖（剩余 2）', 'draw list');
  });

  await check('admin sets the title (event.set): the screen shows it', async () => {
    await admin.fill('#ev-title', '2027 年会 · 幸运抽奖');
    await admin.click('#ev-save');
    await waitText(admin, '#event-msg', '已保存', 'saved');
    await waitText(screen, '#event-title', '2027 年会 · 幸运抽奖', 'screen title');
  });

  await check('phones open the sign-in form (zh-CN); an unknown empNo and a wrong name get translated errors', async () => {
    for (const p of phones) await p.goto(url);
    for (const p of phones) await visible(p, '#signin', 'sign-in form');
    const p = phones[2];
    await waitText(p, '#event-title', '2027 年会 · 幸运抽奖', 'title on the phone');
    await p.fill('#empNo', 'E999');
    await p.fill('#name', '无名氏');
    await p.click('#signin-btn');
    await waitText(p, '#signin-error', '找不到该工号，请联系工作人员', 'not_found');
    await p.fill('#empNo', 'E003');
    await p.fill('#name', '李四');
    await p.click('#signin-btn');
    await waitText(p, '#signin-error', '姓名与工号不符', 'name_mismatch');
  });

  await check('three phones sign in with Chinese names; each shows its name; the token is in localStorage', async () => {
    const who = [['E001', '张伟'], ['E002', '王芳'], ['E003', ' 李娜 ']];
    for (let i = 0; i < 3; i++) {
      await phones[i].fill('#empNo', who[i][0]);
      await phones[i].fill('#name', who[i][1]);
      await phones[i].click('#signin-btn');
    }
    for (let i = 0; i < 3; i++) {
      await visible(phones[i], '#home', `phone${i + 1} home`);
      await waitText(phones[i], '#me-name', who[i][1].trim(), `phone${i + 1} name`);
      await waitText(phones[i], '#me-emp', who[i][0], `phone${i + 1} empNo`);
      const tok = await phones[i].evaluate(() => localStorage.getItem('lottery.token'));
      assert(tok && tok.length >= 8, `phone${i + 1} token ${tok}`);
    }
  });

  await check('the big screen counts 3 signed in and shows their names on the wall', async () => {
    await waitText(screen, '#signed-in', '3', 'header count');
    await waitText(screen, '#wall-count', '3', 'wall count');
    await screen.waitForFunction(() => {
      const names = [...document.querySelectorAll('#wall-names li')].map((l) => l.textContent).sort();
      return JSON.stringify(names) === JSON.stringify(['张伟', '李娜', '王芳'].sort());
    }).catch(async () => { throw new Error(`wall: ${await text(screen, '#wall-names')}`); });
    await waitText(admin, '#stat-signedin', '3', 'admin count');
    await screen.screenshot({ path: path.join(outDir, 'lottery-screen-wall.png') });
  });

  let drawId, open;
  await check('admin starts a draw of 2: the screen rolls names with the commitment, phones show the prize', async () => {
    await admin.fill('#draw-count', '2');
    await admin.click('#draw-start');
    await waitText(admin, '#open-draw', /^进行中：一等奖，抽取 2 名，奖池 3 人/, 'open draw');
    await visible(screen, '#draw-scene', 'draw scene');
    await waitText(screen, '#draw-prize', '一等奖', 'prize');
    await waitText(screen, '#draw-pool', '奖池 3 人', 'pool size');
    open = await screen.evaluate(() => {
      const pool = document.getElementById('pool-hash'), seed = document.getElementById('seed-hash');
      return { poolHash: pool.title, poolShort: pool.textContent, seedHash: seed.title, seedShort: seed.textContent,
        full: document.getElementById('commit-full').textContent };
    });
    assert(/^[0-9a-f]{64}$/.test(open.poolHash) && /^[0-9a-f]{64}$/.test(open.seedHash), `hashes ${JSON.stringify(open)}`);
    assert(open.poolShort.includes('…') && open.full.includes(open.poolHash) && open.full.includes(open.seedHash),
      'short hashes with the full ones in small text');
    assert(open.poolHash === poolHash(['E001', 'E002', 'E003']), 'poolHash is not SHA-256 of the sorted signed-in empNos');
    await screen.waitForFunction(() => {
      const slots = [...document.querySelectorAll('#rolling .slot')];
      return slots.length === 2 && slots.every((s) => ['张伟', '王芳', '李娜'].includes(s.textContent));
    }).catch(async () => { throw new Error(`rolling: ${await text(screen, '#rolling')}`); });
    for (let i = 0; i < 3; i++) {
      await visible(phones[i], '#drawing', `phone${i + 1} drawing card`);
      await waitText(phones[i], '#drawing-prize', '一等奖', `phone${i + 1} prize`);
    }
  });

  let winners;
  await check('admin stops: the screen reveals 2 winners, and they follow from the revealed seed (§8)', async () => {
    await admin.click('#draw-stop');
    await visible(screen, '#result-scene', 'result scene');
    await screen.waitForFunction(() => document.querySelectorAll('#last-result [data-emp]').length === 2);
    winners = await emps(screen, '#last-result');
    const seed = await text(screen, '#r-seed');
    assert(/^[0-9a-f]{64}$/.test(seed), `seed ${seed}`);
    assert(sha256(Buffer.from(seed, 'hex')).toString('hex') === open.seedHash, 'the seed does not match seedHash');
    const want = drawWinners(seed, ['E001', 'E002', 'E003'], 2);
    assert(same(winners, want), `screen winners ${JSON.stringify(winners)}, recomputed ${JSON.stringify(want)}`);
    drawId = await screen.getAttribute('#last-result', 'data-draw');
    const names = await screen.$$eval('#last-result [data-emp] .n', (l) => l.map((e) => e.textContent));
    assert(same(names, winners.map((e) => people[e])), `names ${JSON.stringify(names)}`);
  });

  await check('every page shows the same winners: admin, screen (result and side panel), all three phones', async () => {
    await waitEmps(admin, '#last-result', winners, 'admin');
    await waitEmps(screen, '.winners-panel', winners, 'screen side panel');
    for (let i = 0; i < 3; i++) await waitEmps(phones[i], '#last-result', winners, `phone${i + 1}`);
    for (const [who, p] of [['admin', admin], ['phone1', phones[0]], ['phone2', phones[1]], ['phone3', phones[2]]]) {
      const d = await p.getAttribute('#last-result', 'data-draw');
      assert(d === drawId, `${who} shows draw ${d}, the screen ${drawId}`);
    }
    await waitText(admin, '#prize-rows tr:first-child td:nth-child(4)', '2 / 0', 'admin won / left');
  });

  const idx = (emp) => Number(emp.slice(-1)) - 1;
  let loser;
  await check('the winners\' phones show the win screen; the loser\'s does not', async () => {
    loser = ['E001', 'E002', 'E003'].find((e) => !winners.includes(e));
    for (const w of winners) {
      await visible(phones[idx(w)], '#win', `${w} win screen`);
      await waitText(phones[idx(w)], '#win-prize', '你抽中了：一等奖', `${w} prize`);
    }
    await waitText(phones[idx(loser)], '#result-note', '很遗憾，这一轮没有抽中，下一轮加油！', 'loser note');
    assert(!(await isVisible(phones[idx(loser)], '#win')), `${loser} sees the win screen`);
    await phones[idx(winners[0])].screenshot({ path: path.join(outDir, 'lottery-phone.png'), fullPage: true });
  });

  await check('a winner\'s phone reloads: still signed in (token), same name, the win is kept (me.won)', async () => {
    const p = phones[idx(winners[1])];
    await p.reload();
    await visible(p, '#home', 'home after reload');
    assert(!(await isVisible(p, '#signin')), 'the sign-in form is shown');
    await waitText(p, '#me-name', people[winners[1]], 'name after reload');
    await waitText(p, '#my-prize-list', '一等奖', 'my prizes');
    await visible(p, '#win', 'win screen again (not dismissed)');
    await p.click('#win-close');
    await hiddenSel(p, '#win', 'win screen closes');
    await waitEmps(p, '#last-result', winners, 'winners after reload');
    await p.screenshot({ path: path.join(outDir, 'lottery-phone-home.png'), fullPage: true });
  });

  let dmId;
  await check('a bullet comment with markup goes from a phone to the screen and admin as text, not HTML', async () => {
    const p = phones[idx(loser)];
    await p.fill('#danmaku-text', '<b>x</b> 加油！');
    await p.click('#danmaku-send');
    await waitText(p, '#danmaku-msg', '已发送', 'phone feedback');
    await screen.waitForFunction(() => [...document.querySelectorAll('#danmaku-layer .dm .txt')]
      .some((e) => e.textContent === '<b>x</b> 加油！'));
    const bad = await screen.evaluate(() => document.querySelectorAll('#danmaku-layer b').length);
    assert(bad === 0, 'markup rendered as HTML on the screen');
    dmId = await screen.$eval('#danmaku-layer .dm', (e) => e.getAttribute('data-id'));
    const who = await screen.$eval(`#danmaku-layer .dm[data-id="${dmId}"] .who`, (e) => e.textContent);
    assert(who === people[loser], `sender shown as ${who}`);
    await admin.waitForFunction((id) => !!document.querySelector(`#dm-list li[data-id="${id}"]`), dmId);
    assert(await admin.evaluate(() => document.querySelectorAll('#dm-list b').length) === 0, 'markup rendered on admin');
    const w = phones[idx(winners[0])];
    await w.click('#win-close');   // the win screen covers the page until closed
    await hiddenSel(w, '#win', 'win screen closes');
    await w.fill('#danmaku-text', '谢谢老板！恭喜发财');
    await w.click('#danmaku-send');
    await waitText(w, '#danmaku-msg', '已发送', 'second comment');
    // The comments fly in from the right: wait until the first is well inside the screen.
    await screen.waitForFunction((id) => {
      const e = document.querySelector(`#danmaku-layer .dm[data-id="${id}"]`);
      return e && e.getBoundingClientRect().right < window.innerWidth * 0.85;
    }, dmId);
    await screen.screenshot({ path: path.join(outDir, 'lottery-screen.png'), fullPage: true });
  });

  await check('admin deletes the comment: it disappears from the screen and the admin list', async () => {
    await admin.click(`#dm-list li[data-id="${dmId}"] button`);
    await screen.waitForFunction((id) => !document.querySelector(`#danmaku-layer .dm[data-id="${id}"]`), dmId);
    await admin.waitForFunction((id) => !document.querySelector(`#dm-list li[data-id="${id}"]`), dmId);
  });

  await check('bullet comments are rate limited: a burst gets "发送太快了" on the phone', async () => {
    const p = phones[idx(loser)];
    let limited = false;
    for (let i = 0; i < 6 && !limited; i++) {
      await p.fill('#danmaku-text', `第 ${i} 条`);
      const before = await p.evaluate(() => window.lotteryConn.ridSeq);
      await p.click('#danmaku-send');
      await p.waitForFunction((n) => window.lotteryConn.ridSeq > n && window.lotteryConn.pendingCount() === 0, before);
      limited = (await text(p, '#danmaku-msg')) === '发送太快了，请稍后再试';
    }
    assert(limited, 'never rate limited');
  });

  await check('export: the admin downloads a CSV (BOM, UTF-8) listing both winners', async () => {
    const [dl] = await Promise.all([admin.waitForEvent('download', { timeout: WAIT }), admin.click('#export-btn')]);
    assert(/\.csv$/.test(dl.suggestedFilename()), `filename ${dl.suggestedFilename()}`);
    const file = path.join(tmp, 'export.csv');
    await dl.saveAs(file);
    const buf = fs.readFileSync(file);
    assert(buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf, 'no BOM');
    const csv = buf.toString('utf8');
    for (const w of winners) assert(csv.includes(w) && csv.includes(people[w]), `${w} ${people[w]} missing:\n${csv}`);
    assert(!csv.includes(loser), `the loser ${loser} is in the export`);
    assert(csv.includes('一等奖'), 'prize name missing');
  });

  await check('stats: 3 phones, 1 screen, 1 admin online across the gateways', async () => {
    await admin.waitForFunction(() => {
      if (!window.__statsClicked || Date.now() - window.__statsClicked > 1000) {
        window.__statsClicked = Date.now();
        document.getElementById('stats-refresh').click();
      }
      const v = (id) => document.getElementById(id).textContent;
      return v('stat-phones') === '3' && v('stat-screens') === '1' && v('stat-admins') === '1' &&
        v('stat-signedin') === '3' && v('stat-gateways') === '1 / 1';
    }, null, { polling: 200 }).catch(async () => {
      throw new Error(`stats: ${await admin.$eval('.stats', (e) => e.textContent.replace(/\s+/g, ' '))}`);
    });
    await admin.evaluate(() => window.scrollTo(0, 0));   // the sticky bar at the top of the full-page shot
    await admin.screenshot({ path: path.join(outDir, 'lottery-admin.png'), fullPage: true });
  });

  await check('replace an absent winner: the replacement draw gives the seat to the only eligible phone', async () => {
    const absent = winners[0];
    await admin.selectOption('#replace-emp', `${await admin.$eval('#draw-prize', (s) => s.value)}|${absent}`);
    await admin.fill('#replace-reason', '未到场');
    await admin.click('#replace-btn');
    await waitText(screen, '#draw-replaces', `· 补抽（替换 ${absent}）`, 'screen replacement draw');
    await waitText(screen, '#draw-pool', '奖池 1 人', 'pool: the loser only (absent and excluded winners out)');
    await admin.click('#draw-stop');
    await waitEmps(screen, '#last-result', [loser], 'screen replacement winner');
    await visible(phones[idx(loser)], '#win', 'the former loser wins');
    await waitEmps(screen, '.winners-panel', [winners[1], loser], 'side panel without the absent winner');
    await waitEmps(admin, '#last-result', [loser], 'admin');
  });

  await check('undo the last draw with a reason: the replacement winner no longer counts anywhere', async () => {
    await admin.fill('#undo-reason', '测试撤销');
    await admin.click('#undo-btn');
    await waitText(admin, '#draw-msg', /^已撤销第 \d+ 轮：测试撤销$/, 'admin feedback');
    await waitEmps(screen, '.winners-panel', [winners[1]], 'screen side panel');
    await hiddenSel(phones[idx(loser)], '#win', 'the undone win screen closes');
    await phones[idx(loser)].waitForFunction(() => document.getElementById('my-prizes').hidden);
    await waitText(admin, '#prize-rows tr:first-child td:nth-child(4)', '1 / 1', 'admin won / left');
  });

  await check('the language switch: English on a phone, persisted, and back to 中文', async () => {
    const p = phones[idx(loser)];
    await p.click('#lang');
    await waitText(p, '#danmaku-send', 'Send', 'English');
    assert((await p.evaluate(() => document.documentElement.lang)) === 'en', 'html lang');
    await p.reload();
    await waitText(p, '#danmaku-send', 'Send', 'still English after reload');
    await p.click('#lang');
    await waitText(p, '#danmaku-send', '发送', 'back to Chinese');
  });

  await check('heartbeat: no page lost its connection during the run (pings answered), no script errors', async () => {
    for (const [who, p] of [['admin', admin], ['screen', screen], ['phone1', phones[0]], ['phone2', phones[1]], ['phone3', phones[2]]]) {
      const opens = await p.evaluate(() => window.lotteryConn.opens);
      assert(opens === 1, `${who} connected ${opens} times`);
    }
    assert(pageErrors.length === 0, pageErrors.join('\n'));
    const bw = procs.find((p) => p.name === 'business');
    assert(bw && !bw.exited, 'the business worker exited');
  });

  await check('admin reconnects: a command whose reply was lost is resent with the SAME rid after the new hello and answered', async () => {
    // The page sends event.set, then its socket drops before the reply: after
    // the reconnect and hello, the pending command goes again with its rid.
    await admin.evaluate(() => {
      const c = window.lotteryConn, raw = c.raw.bind(c);
      window.__sent = [];
      c.raw = (obj) => {
        if (obj.type === 'event.set') window.__sent.push(obj.rid);
        const r = raw(obj);
        if (obj.type === 'event.set' && window.__sent.length === 1) c.ws.close();
        return r;
      };
    });
    await admin.fill('#ev-title', '2027 年会（重连）');
    await admin.click('#ev-save');
    await waitText(admin, '#event-msg', '已保存', 'saved after the reconnect');
    const sent = await admin.evaluate(() => window.__sent);
    assert(sent.length === 2 && sent[0] === sent[1], `event.set rids sent: ${JSON.stringify(sent)}`);
    assert(await admin.evaluate(() => window.lotteryConn.opens) === 2, 'the admin page did not reconnect');
    await waitText(screen, '#event-title', '2027 年会（重连）', 'screen title');
    await waitText(admin, '#conn', '已连接', 'admin connected again');
    assert(!(await isVisible(admin, '#pending')), 'commands still pending');
  });

  await check('every role stops cleanly on SIGTERM (exit 0, no sanitizer report)', async () => {
    await stopAll();
    const bad = procs.filter((p) => !p.exited || p.exited.code !== 0 ||
      /AddressSanitizer|LeakSanitizer|runtime error:/.test(fs.readFileSync(p.log, 'utf8')));
    assert(bad.length === 0, bad.map((p) => `${p.name}: ${JSON.stringify(p.exited)}`).join(', '));
  });

  const ctl = path.join(bin, 'lotteryctl');
  if (fs.existsSync(ctl)) {
    await check('lotteryctl verify: the audit chain and every draw of the run check out', async () => {
      const out = execFileSync(ctl, ['verify', `--store=sqlite:${dbPath}`], { encoding: 'utf8', timeout: WAIT });
      assert(out.trim().length > 0, 'no output');
    });
  }
}

let finished = false;
async function finish(extra) {
  if (finished) return;
  finished = true;
  if (extra) { H.counts.failed++; console.log(`  FAIL  ${extra}`); }
  await stopAll().catch((e) => console.log(`  (stopping: ${e.message})`));
  if (H.counts.failed) {
    for (const p of procs) {
      console.log(`---- ${p.name} output (last lines):`);
      try { console.log(fs.readFileSync(p.log, 'utf8').split('\n').slice(-20).join('\n')); } catch (e) { /* none */ }
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  console.log(`browser-lottery: ${H.counts.passed} passed, ${H.counts.failed} failed`);
  process.exit(H.counts.failed ? 1 : 0);
}

const watchdog = setTimeout(() => finish(`the whole run took more than ${TOTAL_MS / 1000} s`), TOTAL_MS);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => finish(`interrupted (${sig})`));
console.log(`browser-lottery test: ${bin} with Chromium ${executablePath}`);
main().then(() => finish(), (e) => finish(`unexpected: ${e.stack || e}`)).finally(() => clearTimeout(watchdog));
