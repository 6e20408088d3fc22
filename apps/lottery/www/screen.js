// The big screen (screen.html, 1920×1080): the sign-in wall, the draw with
// its commitment and rolling names, the winners, and the bullet comments.
// Never renders everyone: at most WALL_MAX names on the wall, ROLL_SLOTS
// rolling slots, RESULT_MAX winner cards, PANEL_MAX names per prize in the
// side panel, DM_MAX flying comments.
(function () {
  'use strict';
  var L = window.LOT, $ = L.$, el = L.el, t = L.t;
  var WALL_MAX = 48, ROLL_SLOTS = 12, RESULT_MAX = 120, PANEL_MAX = 30, DM_MAX = 40, DM_QUEUE = 100;
  var model = new L.Model();
  var scene = 'wall';
  var wallFresh = {};     // names that arrived by push since the last render: animate them

  var conn = new L.Connection({
    ridPrefix: 'scr',
    hello: function () { return {type: 'hello', role: 'screen'}; },
    onStatus: L.statusPill($('conn')),
    onMessage: onMessage
  });
  window.lotteryConn = conn;

  function onMessage(m) {
    if (m.type === 'danmaku') { danmaku(m); return; }
    if (m.type === 'danmaku.deleted') { dmDelete(m.id); return; }
    if (m.type === 'error') return;
    if (m.type === 'signins' && Array.isArray(m.names)) m.names.forEach(function (n) { wallFresh[n] = true; });
    var kind = model.apply(m);
    if (!kind) return;
    switch (kind) {
    case 'state':
      if (model.openDraw) scene = 'draw';
      else if (scene !== 'wall' && model.lastResult()) scene = 'result';
      else scene = 'wall';
      break;
    case 'draw.started': scene = 'draw'; break;
    case 'draw.result': scene = 'result'; break;
    case 'draw.cancelled': if (!model.openDraw) scene = model.lastDraw ? 'result' : 'wall'; break;
    case 'draw.undone': if (scene === 'result' && !model.lastDraw) scene = 'wall'; break;
    case 'signins': case 'participants':   // up to 10 a second: only the counts and the wall
      $('signed-in').textContent = model.signedIn;
      $('participants-of').textContent = t('participantsOf', {n: model.participants});
      renderWall();
      return;
    }
    render();
  }

  function render() {
    var title = model.event && model.event.title ? model.event.title : t('appName');
    $('event-title').textContent = title;
    $('event-title').removeAttribute('data-i18n');
    document.title = title;
    $('signed-in').textContent = model.signedIn;
    $('participants-of').textContent = t('participantsOf', {n: model.participants});
    L.show($('wall'), scene === 'wall');
    L.show($('draw-scene'), scene === 'draw');
    L.show($('result-scene'), scene === 'result');
    renderWall();
    renderDraw();
    renderResult();
    renderPanel();
  }

  function renderWall() {
    $('wall-count').textContent = model.signedIn;
    var ul = $('wall-names');
    L.clear(ul);
    model.recent.slice(0, WALL_MAX).forEach(function (name) {
      ul.appendChild(el('li', wallFresh[name] ? 'new' : '', name));
    });
    wallFresh = {};
  }

  // ---- the draw: prize, commitment, rolling names ----
  var rollTimer = null;
  function commitInto(poolNode, seedNode, d) {
    poolNode.textContent = L.shortHash(d.poolHash);
    poolNode.title = d.poolHash || '';
    seedNode.textContent = L.shortHash(d.seedHash);
    seedNode.title = d.seedHash || '';
  }
  function renderDraw() {
    var d = model.openDraw;
    if (scene !== 'draw' || !d) { stopRolling(); return; }
    var p = model.prize(d.prizeId);
    $('draw-tier').textContent = p ? L.tierText(p.tier) : '';
    $('draw-prize').textContent = model.prizeName(d.prizeId);
    $('draw-count').textContent = t('drawCount', {n: d.count});
    $('draw-pool').textContent = t('poolSize', {n: d.poolSize});
    $('draw-replaces').textContent = d.replaces ? '· ' + t('replaces', {emp: d.replaces}) : '';
    commitInto($('pool-hash'), $('seed-hash'), d);
    $('commit-full').textContent = 'poolHash ' + (d.poolHash || '') + '  seedHash ' + (d.seedHash || '');
    var box = $('rolling');
    if (box.getAttribute('data-draw') !== String(d.drawId)) {
      L.clear(box);
      box.setAttribute('data-draw', d.drawId);
      var n = Math.max(1, Math.min(d.count, ROLL_SLOTS));
      box.className = 'rolling' + (n > 6 ? ' many' : '');
      for (var i = 0; i < n; i++) box.appendChild(el('div', 'slot', '…'));
    }
    startRolling(d);
  }
  function startRolling(d) {
    if (rollTimer) return;
    var sample = Array.isArray(d.sample) && d.sample.length ? d.sample : ['…'];
    var slots = $('rolling').children;
    rollTimer = setInterval(function () {
      for (var i = 0; i < slots.length; i++) slots[i].textContent = sample[(Math.random() * sample.length) | 0];
    }, 70);
  }
  function stopRolling() {
    if (rollTimer) { clearInterval(rollTimer); rollTimer = null; }
    $('rolling').removeAttribute('data-draw');
  }

  // ---- the winners of the latest draw ----
  function renderResult() {
    var ul = $('last-result');
    var last = model.lastDraw && model.hasDraw(model.lastDraw.drawId) ? model.lastDraw : null;
    var r = model.lastResult();
    if (!last && !r) { L.clear(ul); ul.removeAttribute('data-draw'); return; }
    var drawId = last ? last.drawId : r.drawId;
    var prizeId = last ? last.prizeId : r.prizeId;
    // Present winners of that draw, from the model (absent ones marked).
    var ws = model.winners.filter(function (w) { return w.drawId === drawId; });
    $('result-prize').textContent = last && last.prizeName ? last.prizeName : model.prizeName(prizeId);
    if (ul.getAttribute('data-draw') === String(drawId) && ul.getAttribute('data-n') === ws.length + ':' +
        ws.filter(function (w) { return w.absent; }).length) return; // unchanged: keep the animation done
    L.clear(ul);
    ul.setAttribute('data-draw', drawId);
    ul.setAttribute('data-n', ws.length + ':' + ws.filter(function (w) { return w.absent; }).length);
    ul.className = 'result-grid' + (ws.length > 20 ? ' small' : ws.length > 6 ? ' medium' : '');
    ws.slice(0, RESULT_MAX).forEach(function (w, i) {
      var li = el('li', w.absent ? 'absent' : '');
      li.setAttribute('data-emp', w.empNo);
      li.style.animationDelay = Math.min(i * 0.12, 3) + 's';
      li.appendChild(el('span', 'n', w.name));
      li.appendChild(el('span', 'd', (w.dept ? w.dept + ' · ' : '') + w.empNo + (w.absent ? ' · ' + t('absent') : '')));
      ul.appendChild(li);
    });
    L.show($('result-more'), ws.length > RESULT_MAX);
    $('result-more').textContent = t('moreWinners', {n: ws.length});
    var d = last || {};
    commitInto($('r-pool-hash'), $('r-seed-hash'), d);
    $('r-seed').textContent = d.seed || '';
  }

  // ---- the side panel: winners of every prize ----
  function renderPanel() {
    var box = $('winners-by-prize');
    L.clear(box);
    var any = false;
    model.prizes.forEach(function (p) {
      var ws = model.winnersOf(p.id);
      if (!ws.length) return;
      any = true;
      var block = el('div', 'prize-block');
      block.setAttribute('data-prize', p.id);
      var h = el('h4');
      h.appendChild(el('span', '', p.name));
      h.appendChild(el('span', '', ws.length + ' / ' + p.quantity));
      block.appendChild(h);
      var ul = el('ul');
      var shown = ws.slice(-PANEL_MAX);
      shown.forEach(function (w) {
        var li = el('li', '', w.name);
        li.setAttribute('data-emp', w.empNo);
        li.title = w.empNo + (w.dept ? ' · ' + w.dept : '');
        ul.appendChild(li);
      });
      if (ws.length > shown.length) ul.appendChild(el('li', 'more', t('moreWinners', {n: ws.length})));
      block.appendChild(ul);
      box.appendChild(block);
    });
    L.show($('no-winners'), !any);
  }

  // ---- bullet comments: right to left, in lanes, capped ----
  var LANES = 8, DURATION = 12000;
  var laneFree = [];      // time at which each lane has room for the next comment
  var dmQueue = [];
  var dmCount = 0;
  for (var li = 0; li < LANES; li++) laneFree.push(0);
  function danmaku(m) {
    if (!m || m.text === undefined) return;
    dmQueue.push(m);
    if (dmQueue.length > DM_QUEUE) dmQueue.shift();
    pump();
  }
  function pump() {
    var now = Date.now();
    while (dmQueue.length && dmCount < DM_MAX) {
      var lane = -1;
      for (var i = 0; i < LANES; i++) if (laneFree[i] <= now) { lane = i; break; }
      if (lane < 0) break;
      launch(dmQueue.shift(), lane, now);
    }
    if (dmQueue.length) setTimeout(pump, 300);
  }
  function launch(m, lane, now) {
    var layer = $('danmaku-layer');
    var node = el('div', 'dm');
    node.setAttribute('data-id', m.id);
    if (m.name) node.appendChild(el('span', 'who', m.name));
    node.appendChild(el('span', 'txt', m.text));
    node.style.top = (lane * (100 / LANES)) + '%';
    layer.appendChild(node);
    dmCount++;
    var w = node.offsetWidth, vw = window.innerWidth || 1920;
    var speed = (vw + w) / DURATION;          // px per ms
    laneFree[lane] = now + (w + 60) / speed;  // the tail is 60 px inside the screen
    var done = function () { if (node.parentNode) { node.parentNode.removeChild(node); dmCount--; } };
    node.addEventListener('animationend', done);
    setTimeout(done, DURATION + 1000);        // if animations are off
  }
  function dmDelete(id) {
    dmQueue = dmQueue.filter(function (m) { return m.id !== id; });
    var nodes = $('danmaku-layer').querySelectorAll('.dm');
    for (var i = 0; i < nodes.length; i++) {
      if (nodes[i].getAttribute('data-id') === String(id)) { nodes[i].parentNode.removeChild(nodes[i]); dmCount--; }
    }
  }

  $('page-url').textContent = location.host;
  L.langButton($('lang'));
  L.onLang(function () { render(); });
  L.applyI18n();
  render();
  conn.connect();
})();
