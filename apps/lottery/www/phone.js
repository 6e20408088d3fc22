// The phone page (index.html): sign in with 工号 + 姓名, then follow the
// draws; a "you won" screen when our empNo is among a draw's winners.
(function () {
  'use strict';
  var L = window.LOT, $ = L.$, el = L.el, t = L.t;
  var TOKEN_KEY = 'lottery.token';
  var SEEN_KEY = 'lottery.winSeen';   // prize ids whose win screen was closed
  var model = new L.Model();
  var haveState = false;
  var shownWinDraws = {};             // drawId -> true: win screen already shown live

  var conn = new L.Connection({
    ridPrefix: 'ph',
    hello: function () {
      var m = {type: 'hello', role: 'phone'};
      var tok = L.storageGet('localStorage', TOKEN_KEY);
      if (tok) m.token = tok;
      return m;
    },
    onStatus: function (on) {
      L.statusPill($('conn'))(on);
      updateDanmakuForm();
    },
    onMessage: onMessage
  });
  window.lotteryConn = conn;          // for tests and debugging

  function onMessage(m) {
    if (m.type === 'error') {
      if (m.code === 'bad_token') L.storageSet('localStorage', TOKEN_KEY, null);
      return;
    }
    var kind = model.apply(m);
    if (!kind) return;
    if (kind === 'state') {
      haveState = true;
      if (model.me && model.me.token) L.storageSet('localStorage', TOKEN_KEY, model.me.token);
      render();
      var seen = seenWins();
      var fresh = model.myWins().filter(function (id) { return seen.indexOf(id) < 0; });
      if (fresh.length) showWin(fresh);
      return;
    }
    if (kind === 'draw.result' && model.me) {
      var d = m.draw, mine = (d.winners || []).some(function (w) { return w.empNo === model.me.empNo; });
      if (mine && !shownWinDraws[d.drawId]) { shownWinDraws[d.drawId] = true; showWin([d.prizeId]); }
    }
    if (kind === 'draw.undone' || kind === 'winner.absent') {
      // A win that no longer counts closes its screen.
      if (!$('win').hidden && model.myWins().length === 0) $('win').hidden = true;
    }
    render();
  }

  function seenWins() {
    try { var a = JSON.parse(L.storageGet('localStorage', SEEN_KEY) || '[]'); return Array.isArray(a) ? a : []; } catch (e) { return []; }
  }

  function render() {
    var title = model.event && model.event.title ? model.event.title : t('appName');
    $('event-title').textContent = title;
    $('event-title').removeAttribute('data-i18n');
    document.title = title;
    L.show($('loading'), !haveState);
    L.show($('signin'), haveState && !model.me);
    L.show($('home'), haveState && !!model.me);
    if (!model.me) return;

    $('me-name').textContent = model.me.name;
    $('me-emp').textContent = model.me.empNo;
    $('me-dept').textContent = model.me.dept || '';

    var wins = model.myWins();
    L.show($('my-prizes'), wins.length > 0);
    var ul = $('my-prize-list');
    L.clear(ul);
    wins.forEach(function (id) { ul.appendChild(el('li', '', model.prizeName(id))).setAttribute('data-prize', id); });

    var od = model.openDraw;
    L.show($('drawing'), !!od);
    if (od) {
      $('drawing-prize').textContent = model.prizeName(od.prizeId);
      $('drawing-count').textContent = t('drawingCount', {count: od.count});
    }

    var last = model.lastResult();
    L.show($('result-card'), !!last && !od);
    L.show($('idle'), !last && !od);
    var list = $('last-result');
    L.clear(list);
    if (last) {
      list.setAttribute('data-draw', last.drawId);
      $('result-prize').textContent = model.prizeName(last.prizeId);
      var meIn = false;
      last.winners.slice(0, 100).forEach(function (w) {
        var li = el('li', w.empNo === model.me.empNo ? 'me' : '', w.name);
        li.setAttribute('data-emp', w.empNo);
        if (w.absent) { li.appendChild(el('small', '', t('absent'))); li.className += ' absent'; }
        if (w.empNo === model.me.empNo && !w.absent) meIn = true;
        list.appendChild(li);
      });
      if (last.winners.length > 100) list.appendChild(el('li', 'more', t('moreWinners', {n: last.winners.length})));
      $('result-note').textContent = meIn ? t('youWon') : t('notWon');
      L.show($('result-note'), true);
    }
    updateDanmakuForm();
  }

  // ---- the "you won" screen ----
  function showWin(prizeIds) {
    var names = prizeIds.map(function (id) { return model.prizeName(id); });
    $('win-prize').textContent = t('youWonPrize', {prize: names.join('、')});
    $('win-name').textContent = model.me ? model.me.name + ' · ' + model.me.empNo : '';
    $('win').setAttribute('data-prizes', prizeIds.join(','));
    $('win').hidden = false;
    confetti();
    // Only after a tap on the page (otherwise the browser refuses and complains).
    if (navigator.vibrate && navigator.userActivation && navigator.userActivation.hasBeenActive) {
      try { navigator.vibrate([200, 100, 200]); } catch (e) { /* not allowed */ }
    }
  }
  function confetti() {
    var box = $('confetti');
    L.clear(box);
    var colors = ['#ffd86b', '#fff7e0', '#ff8a65', '#f0a500', '#ffe082'];
    for (var i = 0; i < 40; i++) {
      var c = el('i');
      c.style.left = (Math.random() * 100) + '%';
      c.style.background = colors[i % colors.length];
      c.style.animationDuration = (2.5 + Math.random() * 2.5) + 's';
      c.style.animationDelay = (-Math.random() * 4) + 's';
      box.appendChild(c);
    }
  }
  $('win-close').addEventListener('click', function () {
    var seen = seenWins();
    model.myWins().forEach(function (id) { if (seen.indexOf(id) < 0) seen.push(id); });
    L.storageSet('localStorage', SEEN_KEY, JSON.stringify(seen));
    $('win').hidden = true;
    L.clear($('confetti'));
  });

  // ---- sign-in ----
  var EMP_RE = /^[A-Za-z0-9_.\-]{1,32}$/;
  $('signin').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var err = $('signin-error');
    var empNo = $('empNo').value.trim();
    var name = $('name').value.trim();
    err.hidden = true;
    if (!empNo || !name) { err.textContent = t('err.empty'); err.hidden = false; return; }
    if (!EMP_RE.test(empNo)) { err.textContent = t('err.bad_empno'); err.hidden = false; return; }
    var btn = $('signin-btn');
    btn.disabled = true;
    conn.request('signin', {empNo: empNo, name: name}, {resend: true}).then(function (r) {
      btn.disabled = false;
      if (r.token) L.storageSet('localStorage', TOKEN_KEY, r.token);
      if (r.me) model.me = r.me;
      else model.me = {empNo: empNo, name: name, dept: '', won: []};
      render();
      var wins = model.myWins();
      if (wins.length) showWin(wins);
    }, function (e) {
      btn.disabled = false;
      err.textContent = L.errText(e.code);
      err.hidden = false;
    });
  });

  // ---- bullet comments ----
  var msgTimer = null;
  function danmakuMsg(text, cls) {
    var m = $('danmaku-msg');
    m.textContent = text;
    m.className = cls || '';
    clearTimeout(msgTimer);
    if (text) msgTimer = setTimeout(function () { m.textContent = ''; m.className = ''; }, 4000);
  }
  function updateDanmakuForm() {
    var muted = !!(model.event && model.event.danmakuMuted);
    var text = $('danmaku-text').value.trim();
    var n = L.codePoints(text);
    var counter = $('danmaku-count');
    counter.textContent = n + '/40';
    counter.className = 'counter' + (n > 40 ? ' over' : '');
    $('danmaku-text').disabled = muted;
    $('danmaku-send').disabled = muted || n === 0 || n > 40 || !conn.ready;
    if (muted) { $('danmaku-msg').textContent = t('danmakuOff'); $('danmaku-msg').className = 'muted-text'; }
    else if ($('danmaku-msg').textContent === t('danmakuOff')) danmakuMsg('');
  }
  $('danmaku-text').addEventListener('input', updateDanmakuForm);
  $('danmaku-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = $('danmaku-text').value.trim();
    if (!text) { danmakuMsg(t('err.empty'), 'error'); return; }
    if (L.codePoints(text) > 40) { danmakuMsg(t('err.too_long'), 'error'); return; }
    $('danmaku-send').disabled = true;
    conn.request('danmaku', {text: text}).then(function () {
      $('danmaku-text').value = '';
      updateDanmakuForm();
      danmakuMsg(t('sent'), 'ok');
    }, function (e) {
      updateDanmakuForm();
      danmakuMsg(L.errText(e.code), 'error');
    });
  });

  L.langButton($('lang'));
  L.onLang(function () { render(); });
  L.applyI18n();
  render();
  conn.connect();
})();
