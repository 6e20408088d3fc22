// harness: what the browser tests share — free ports, the real binaries
// started in process groups of their own, waits for a real condition with a
// deadline, plain HTTP, stopping the roles in reverse order, and the
// ok/FAIL steps with their counts.
//
//   const H = require('./harness')({ bin, tmp, stepMs });
'use strict';

const fs = require('fs');
const net = require('net');
const path = require('path');
const http = require('http');
const { spawn } = require('child_process');

module.exports = function harness({ bin, tmp, stepMs }) {
  const procs = [];                     // {name, child, log, exited}
  const counts = { passed: 0, failed: 0 };

  // A free port below the kernel's ephemeral range (as tu_free_port and
  // tests/support/ports.sh): a port from listen(0) lies inside it, and until
  // the role under test binds it any outgoing connection may take it as its
  // source port ("Address already in use"). Random, checked by binding it,
  // never the same twice in this run.
  const given = new Set();
  let ephemeralLo = 32768;
  try {
    ephemeralLo = parseInt(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'), 10) || 32768;
  } catch (e) { /* keep the default */ }
  function bindable(port) {
    return new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  }
  async function freePort() {
    for (let tries = 0; tries < 1000; tries++) {
      const port = 10000 + Math.floor(Math.random() * (ephemeralLo - 10000));
      if (given.has(port) || !(await bindable(port))) continue;
      given.add(port);
      return port;
    }
    throw new Error(`freePort: no free port below ${ephemeralLo}`);
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function withTimeout(promise, ms, what) {
    let t;
    return Promise.race([
      promise,
      new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms); }),
    ]).finally(() => clearTimeout(t));
  }

  function start(name, args) {
    const file = path.join(bin, name);
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: run make first`);
    const log = path.join(tmp, `${name}.out`);
    const fd = fs.openSync(log, 'w');
    // Its own process group, so that a SIGKILL also reaches its worker processes.
    const child = spawn(file, args, { stdio: ['ignore', fd, fd], cwd: tmp, detached: true });
    fs.closeSync(fd);
    const p = { name, child, log, exited: null };
    child.on('exit', (code, signal) => { p.exited = { code, signal }; });
    procs.push(p);
    return p;
  }

  async function waitFor(what, fn, ms) {
    const end = Date.now() + ms;
    for (;;) {
      if (await fn()) return;
      if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
      await sleep(50);
    }
  }

  const logHas = (p, text) => { try { return fs.readFileSync(p.log, 'utf8').includes(text); } catch (e) { return false; } };

  // GET url: {status, headers, body (a Buffer)}, or null when nothing answers.
  function httpGet(url) {
    return new Promise((resolve) => {
      const req = http.get(url, { timeout: 2000 }, (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', () => resolve(null));
      req.on('timeout', () => { req.destroy(); resolve(null); });
    });
  }

  // SIGTERM to each role, the business worker first, then the gateway, then
  // the register; SIGKILL to the group of one that does not stop in 5 s.
  async function stopProcs() {
    for (const p of procs.slice().reverse()) {
      if (p.exited) continue;
      p.child.kill('SIGTERM');
      const end = Date.now() + 5000;
      while (!p.exited && Date.now() < end) await sleep(50);
      if (!p.exited) {
        console.log(`  ${p.name} did not stop in 5 s: SIGKILL`);
        try { process.kill(-p.child.pid, 'SIGKILL'); } catch (e) { p.child.kill('SIGKILL'); }
        while (!p.exited) await sleep(20);
      }
    }
  }

  async function check(name, fn) {
    try {
      await withTimeout(Promise.resolve().then(fn), stepMs, name);
      counts.passed++;
      console.log(`  ok    ${name}`);
      return true;
    } catch (e) {
      counts.failed++;
      console.log(`  FAIL  ${name}\n        ${String(e.message || e).split('\n').join('\n        ')}`);
      return false;
    }
  }

  function assert(cond, what) { if (!cond) throw new Error(what); }

  return { procs, counts, freePort, sleep, withTimeout, start, waitFor, logHas, httpGet, stopProcs, check, assert };
};
