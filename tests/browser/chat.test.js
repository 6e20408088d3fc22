#!/usr/bin/env node
// The chat demo in a real browser: starts the real build/register,
// build/gateway (webRoot = apps/chat/www) and build/business (apps/chat.so)
// on free 127.0.0.1 ports, drives two headless Chromium pages through the
// page the gateway serves, and checks what each user sees.
//
//   node tests/browser/chat.test.js [BUILD_DIR]      (default: build)
//
// Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM); playwright-core
// never downloads a browser. The screenshot goes to BUILD_DIR/browser/chat.png.
// Prints "browser: N passed, M failed" last; exits non-zero on any failure.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const { chromium } = require('playwright-core');

const top = path.resolve(__dirname, '..', '..');
const bin = path.resolve(process.argv[2] || path.join(top, 'build'));
const webRoot = path.join(top, 'apps', 'chat', 'www');
const outDir = path.join(bin, 'browser');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const KEY = 'browser-test-key';
const NAME = 'BrowserTest';
const STEP_MS = 10000;    // one step
const TOTAL_MS = 120000;  // the whole run

let context = null;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-browser-'));

const H = require('./harness')({ bin, tmp, stepMs: STEP_MS });
const { procs, freePort, sleep, withTimeout, start, waitFor, logHas, httpGet, check, assert } = H;

async function stopAll() {
  if (context) {
    const c = context;
    context = null;
    await withTimeout(c.close(), 10000, 'closing Chromium').catch((e) => console.log(`  (${e.message})`));
  }
  await H.stopProcs();
}


// ---- page helpers ----
const memberNames = (page) => page.$$eval('#members li', (lis) => lis.map((li) => li.textContent));
const messageTexts = (page) => page.$$eval('#messages li', (lis) => lis.map((li) => li.textContent));
async function waitMessage(page, pred, what) {
  await page.waitForFunction(
    (src) => {
      const f = new Function('t', `return (${src})(t);`);
      return [...document.querySelectorAll('#messages li')].some((li) => f(li.textContent));
    },
    pred.toString(), { timeout: STEP_MS - 500 },
  ).catch(async () => { throw new Error(`${what}; messages: ${JSON.stringify(await messageTexts(page))}`); });
}
async function waitMembers(page, names, what) {
  await page.waitForFunction(
    (want) => {
      const have = [...document.querySelectorAll('#members li')].map((li) => li.textContent).sort();
      return JSON.stringify(have) === JSON.stringify(want.slice().sort());
    },
    names, { timeout: STEP_MS - 500 },
  ).catch(async () => { throw new Error(`${what}; members: ${JSON.stringify(await memberNames(page))}`); });
}
async function login(page, name, room) {
  await page.waitForSelector('#status.on', { timeout: STEP_MS / 2 });
  await page.fill('#name', name);
  await page.fill('#room', room);
  await page.click('#enter');
  await page.waitForSelector('#chat:not([hidden])', { timeout: STEP_MS / 2 });
}
async function say(page, to, text) {
  await page.selectOption('#to', to);
  await page.fill('#text', text);
  await page.click('#send');
}
const myId = (page) => page.$eval('#members li.me', (li) => li.dataset.id);

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const regPort = await freePort(), wsPort = await freePort(), lanPort = await freePort();
  const url = `http://127.0.0.1:${wsPort}/`;
  let alice, bob, aliceId, bobId;

  const up = await check('the three roles start (register, gateway with webRoot, business with chat.so, 2 processes)', async () => {
    const reg = start('register', [`--listen=text://127.0.0.1:${regPort}`, `--secretKey=${KEY}`,
      `--pidFile=${tmp}/register.pid`, 'start']);
    const gw = start('gateway', [`--listen=websocket://127.0.0.1:${wsPort}`, `--startPort=${lanPort}`,
      `--registerAddress=127.0.0.1:${regPort}`, `--secretKey=${KEY}`, '--lanIp=127.0.0.1', '--count=1',
      `--webRoot=${webRoot}`, '--pingInterval=1', '--pingNotResponseLimit=1', '--pingData={"type":"ping"}', `--pidFile=${tmp}/gateway.pid`, 'start']);
    await waitFor('gateway answers /health', async () => {
      if (reg.exited || gw.exited) throw new Error(`${reg.exited ? 'register' : 'gateway'} exited`);
      const r = await httpGet(`${url}health`);
      return r && r.status === 200;
    }, 5000);
    const bw = start('business', [`--registerAddress=127.0.0.1:${regPort}`, `--secretKey=${KEY}`,
      `--eventHandler=${path.join(bin, 'apps', 'chat.so')}`, `--name=${NAME}`, '--count=2',
      `--pidFile=${tmp}/business.pid`, 'start']);
    // Two worker processes, as in `make run`: users land on different ones.
    await waitFor('both business worker processes link to the gateway', () => {
      if (bw.exited) throw new Error('business exited');
      return logHas(gw, `business worker 127.0.0.1:${NAME}:0 connected`) &&
        logHas(gw, `business worker 127.0.0.1:${NAME}:1 connected`);
    }, 8000);
  });
  if (!up) return;

  await check('the gateway serves the page, its CSS and JS from webRoot', async () => {
    for (const [file, type] of [['', 'text/html'], ['chat.css', 'text/css'], ['chat.js', 'javascript']]) {
      const r = await httpGet(url + file);
      assert(r && r.status === 200, `GET /${file}: ${r ? r.status : 'no answer'}`);
      assert(String(r.headers['content-type']).includes(type), `GET /${file}: Content-Type ${r.headers['content-type']}`);
    }
  });

  const started = await check('Chromium starts (headless, fresh profile)', async () => {
    context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
      executablePath,
      headless: true,
      timeout: STEP_MS,
      viewport: { width: 1000, height: 640 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    context.setDefaultTimeout(STEP_MS / 2);
  });
  if (!started) return;

  const pageErrors = [];
  let first = true;
  const newPage = async (who) => {
    // The persistent context opens with one blank page: Alice gets it.
    const p = first && context.pages().length ? context.pages()[0] : await context.newPage();
    first = false;
    p.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`));
    p.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`${who} console: ${m.text()} (${m.location().url})`); });
    return p;
  };

  await check('Alice opens the page and connects over WebSocket', async () => {
    alice = await newPage('Alice');
    await alice.goto(url, { timeout: STEP_MS / 2 });
    assert((await alice.title()).includes('chat'), `title: ${await alice.title()}`);
    await alice.waitForSelector('#status.on');
  });

  await check('Alice logs into room "garden" and sees herself as the only member', async () => {
    await login(alice, 'Alice', 'garden');
    await waitMembers(alice, ['Alice'], 'Alice alone');
    assert((await alice.textContent('#room-name')) === 'garden', 'room name shown');
    aliceId = await myId(alice);
    assert(/^[0-9a-f]{20}$/.test(aliceId), `client_id ${aliceId}`);
  });

  await check('Bob logs into the same room and sees Alice in the member list', async () => {
    bob = await newPage('Bob');
    await bob.goto(url, { timeout: STEP_MS / 2 });
    await login(bob, 'Bob', 'garden');
    await waitMembers(bob, ['Alice', 'Bob'], 'Bob sees both');
    bobId = await myId(bob);
    assert(bobId && bobId !== aliceId, 'two client_ids');
  });

  await check('Alice sees Bob join', async () => {
    await waitMessage(alice, (t) => t.endsWith('Bob joined.'), 'no "Bob joined."');
    await waitMembers(alice, ['Alice', 'Bob'], 'Alice sees both');
  });

  await check('Bob says hello to the room; Alice and Bob both see it', async () => {
    await say(bob, 'all', 'hello from Bob');
    await waitMessage(alice, (t) => t.endsWith('Bob: hello from Bob'), 'Alice did not get it');
    await waitMessage(bob, (t) => t.endsWith('Bob: hello from Bob'), 'Bob did not get his own');
  });

  await check('markup in a message is shown as text, not HTML', async () => {
    await say(bob, 'all', '<img src=x onerror="window.__pwned=1"><b>bold?</b>');
    await waitMessage(alice, (t) => t.includes('<b>bold?</b>'), 'literal markup not shown');
    const injected = await alice.evaluate(() => !!document.querySelector('#messages img, #messages b') || !!window.__pwned);
    assert(!injected, 'an element was injected into the page');
  });

  await check('Alice whispers to Bob: Bob gets it as private, Alice gets her copy', async () => {
    await say(alice, bobId, 'psst, Bob');
    await waitMessage(bob, (t) => t.endsWith('Alice → you (private): psst, Bob'), 'Bob did not get the whisper');
    await waitMessage(alice, (t) => t.endsWith('you → Bob (private): psst, Bob'), 'Alice has no copy');
    const cls = await bob.$$eval('#messages li.private', (l) => l.length);
    assert(cls === 1, `private lines on Bob's page: ${cls}`);
  });

  await check('a user in another room sees neither the room nor its whispers', async () => {
    const carol = await newPage('Carol');
    await carol.goto(url, { timeout: STEP_MS / 2 });
    await login(carol, 'Carol <i>', 'kitchen');
    await waitMembers(carol, ['Carol <i>'], 'Carol alone in kitchen');
    assert(!(await carol.$('#members i')), 'the name was rendered as HTML');
    // Carol (a hand-made client) tries to whisper into garden: refused.
    await carol.evaluate((to) => new Promise((resolve) => {
      const ws = new WebSocket(`ws://${location.host}/`);
      ws.onopen = () => {
        ws.send(JSON.stringify({ type: 'login', name: 'Mallory', room: 'kitchen' }));
        ws.send(JSON.stringify({ type: 'say', to_client_id: to, content: 'from another room' }));
      };
      ws.onmessage = (e) => { if (JSON.parse(e.data).type === 'error') { ws.close(); resolve(); } };
    }), aliceId);
    await sleep(300);
    const texts = (await messageTexts(alice)).join('\n');
    assert(!texts.includes('Carol') && !texts.includes('from another room'), 'kitchen leaked into garden');
    await carol.close();
  });

  await check('bad input gets an error answer and the worker keeps serving', async () => {
    const answers = await alice.evaluate(() => new Promise((resolve) => {
      const ws = new WebSocket(`ws://${location.host}/`);
      const got = [];
      const bad = ['not json', '[1,2]', '{"type":1}', '{"type":"login","name":"","room":"lobby"}',
        '{"type":"login","name":"x","room":"a b"}', `{"type":"login","name":"${'n'.repeat(100)}","room":"lobby"}`,
        '{"type":"say","to_client_id":"all","content":"before login"}', '{"type":"login","name":{"a":1},"room":"lobby"}',
        '{"type":"nope"}', '{"type":"login","name":"Zed","room":"lobby"}',
        '{"type":"say","to_client_id":"zz","content":"x"}', '{"type":"say","to_client_id":"all","content":""}',
        '{"type":"say","to_client_id":"all","content":7}'];
      ws.onopen = () => bad.forEach((m) => ws.send(m));
      ws.onmessage = (e) => {
        got.push(JSON.parse(e.data).type);
        if (got.length === bad.length) { ws.close(); resolve(got); }
      };
    }));
    const want = ['error', 'error', 'error', 'error', 'error', 'error', 'error', 'error', 'error', 'welcome',
      'error', 'error', 'error'];
    assert(JSON.stringify(answers) === JSON.stringify(want), `answers: ${JSON.stringify(answers)}`);
  });

  await check('heartbeat: idle pages answer the gateway\'s pings and stay connected', async () => {
    await sleep(3000); // pingInterval=1, pingNotResponseLimit=1: a silent client would be dropped
    for (const [who, page] of [['Alice', alice], ['Bob', bob]]) {
      assert(await page.$('#status.on'), `${who} was disconnected`);
      assert(!(await messageTexts(page)).some((t) => t.includes('Connection lost')), `${who} lost the connection`);
    }
  });

  await check(`screenshot of Alice's page to ${path.relative(top, path.join(outDir, 'chat.png'))}`, async () => {
    await alice.screenshot({ path: path.join(outDir, 'chat.png') });
    await bob.screenshot({ path: path.join(outDir, 'chat-bob.png') });
  });

  await check('Bob closes his page: Alice sees him leave', async () => {
    await bob.close();
    await waitMessage(alice, (t) => t.endsWith('Bob left.'), 'no "Bob left."');
    await waitMembers(alice, ['Alice'], 'Bob still listed');
  });

  await check('no script errors on the pages; the business worker is still running', async () => {
    assert(pageErrors.length === 0, pageErrors.join('\n'));
    const bw = procs.find((p) => p.name === 'business');
    assert(bw && !bw.exited, 'the business worker exited');
  });

  await check('every role stops cleanly on SIGTERM (exit 0, no sanitizer report)', async () => {
    await stopAll();
    const bad = procs.filter((p) => !p.exited || p.exited.code !== 0 ||
      /AddressSanitizer|LeakSanitizer|runtime error:/.test(fs.readFileSync(p.log, 'utf8')));
    assert(bad.length === 0, bad.map((p) => `${p.name}: ${JSON.stringify(p.exited)}`).join(', '));
  });
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
      try { console.log(fs.readFileSync(p.log, 'utf8').split('\n').slice(-15).join('\n')); } catch (e) { /* none */ }
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  console.log(`browser: ${H.counts.passed} passed, ${H.counts.failed} failed`);
  process.exit(H.counts.failed ? 1 : 0);
}

const watchdog = setTimeout(() => finish(`the whole run took more than ${TOTAL_MS / 1000} s`), TOTAL_MS);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => finish(`interrupted (${sig})`));
console.log(`browser test: ${bin} with Chromium ${executablePath}`);
main().then(() => finish(), (e) => finish(`unexpected: ${e.stack || e}`)).finally(() => clearTimeout(watchdog));
