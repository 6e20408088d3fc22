// The admin page (admin.html): token in sessionStorage (or ?token= once),
// participants import (CSV in UTF-8/GBK, .xlsx through SheetJS), prizes,
// draws, undo / replace, event settings, bullet-comment moderation, export,
// stats. Every command carries a rid and is resent with the SAME rid after a
// reconnect (protocol §3.1).
(function () {
  'use strict';
  var L = window.LOT, $ = L.$, el = L.el, t = L.t;
  var TOKEN_KEY = 'lottery.adminToken';
  var model = new L.Model();
  var haveState = false;
  var danmakus = [];      // newest first, at most DM_MAX
  var DM_MAX = 50;

  // ?token=… is accepted once, kept in sessionStorage and removed from the URL.
  (function takeUrlToken() {
    var q = new URLSearchParams(location.search);
    var tok = q.get('token');
    if (tok) {
      L.storageSet('sessionStorage', TOKEN_KEY, tok);
      q.delete('token');
      var rest = q.toString();
      try { history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash); } catch (e) { /* file: */ }
    }
  })();
  function token() { return L.storageGet('sessionStorage', TOKEN_KEY); }

  var conn = new L.Connection({
    ridPrefix: 'adm',
    hello: function () { return {type: 'hello', role: 'admin', adminToken: token() || ''}; },
    onStatus: function (on) { L.statusPill($('conn'))(on); renderDrawButtons(); },
    onMessage: onMessage
  });
  window.lotteryConn = conn;
  conn.onPending(function (n) {
    L.show($('pending'), n > 0);
    $('pending').textContent = t('pending', {n: n});
  });

  function onMessage(m) {
    if (m.type === 'error') {
      if (m.code === 'forbidden' && (m.cmd === 'hello' || !m.rid)) {
        L.storageSet('sessionStorage', TOKEN_KEY, null);
        haveState = false;
        showLogin(L.errText('forbidden'));
      }
      return;
    }
    if (m.type === 'danmaku') { addDanmaku(m); return; }
    if (m.type === 'danmaku.deleted') { removeDanmaku(m.id); return; }
    var kind = model.apply(m);
    if (!kind) return;
    if (kind === 'state') {
      haveState = true;
      L.show($('token-form'), false);
      L.show($('app'), true);
      L.show($('logout'), true);
      fillEventForm();
      refreshStats();
    }
    if (kind === 'draw.cancelled') log(t('cancelled', {id: m.drawId, reason: m.reason || ''}));
    if (kind === 'draw.undone') log(t('undone', {id: m.drawId, reason: m.reason || ''}));
    if (kind === 'winner.absent') log(t('absentNote', {name: m.name || '', emp: m.empNo, reason: m.reason || ''}));
    if (kind === 'event') fillEventForm();
    if (kind === 'signins' || kind === 'participants') { renderCounts(); return; }  // up to 10 a second
    render();
  }

  function showLogin(error) {
    L.show($('app'), false);
    L.show($('logout'), false);
    L.show($('token-form'), true);
    $('token-error').textContent = error || '';
    L.show($('token-error'), !!error);
    $('token').focus();
  }
  $('token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var tok = $('token').value.trim();
    if (!tok) return;
    L.storageSet('sessionStorage', TOKEN_KEY, tok);
    $('token').value = '';
    L.show($('token-error'), false);
    if (conn.connected) conn.hello();
    else if (!conn.ws && !conn.timer) conn.connect();
  });
  $('logout').addEventListener('click', function () {
    L.storageSet('sessionStorage', TOKEN_KEY, null);
    location.reload();
  });

  function feedback(node, text, ok) {
    node.textContent = text || '';
    node.className = 'msg' + (text ? (ok ? ' ok' : ' error') : '');
  }
  // An admin command: resent with the same rid after a reconnect.
  function cmd(type, fields, msgNode, opts) {
    if (msgNode) feedback(msgNode, '');
    return conn.request(type, fields || {}, {resend: !opts || opts.resend !== false}).catch(function (e) {
      if (msgNode) feedback(msgNode, t('errPrefix') + L.errText(e.code), false);
      throw e;
    });
  }
  function log(text) {
    var ul = $('log');
    var d = new Date();
    var hh = ('0' + d.getHours()).slice(-2) + ':' + ('0' + d.getMinutes()).slice(-2) + ':' + ('0' + d.getSeconds()).slice(-2);
    ul.insertBefore(el('li', '', hh + '  ' + text), ul.firstChild);
    while (ul.children.length > 50) ul.removeChild(ul.lastChild);
  }

  // ---- rendering ----
  function render() {
    if (!haveState) return;
    var title = model.event && model.event.title ? model.event.title : '';
    $('event-title').textContent = title;
    document.title = t('adminTitle') + (title ? ' · ' + title : '');
    renderPrizes();
    renderDraw();
    renderCounts();
  }
  function renderCounts() {
    if (!haveState) return;
    $('stat-signedin').textContent = model.signedIn;
    $('stat-participants').textContent = model.participants;
    var rc = $('recent');
    L.clear(rc);
    model.recent.slice(0, 30).forEach(function (n) { rc.appendChild(el('li', '', n)); });
  }

  function renderPrizes() {
    var tb = $('prize-rows');
    L.clear(tb);
    model.prizes.forEach(function (p) {
      var tr = el('tr');
      tr.setAttribute('data-prize-id', p.id);
      tr.appendChild(el('td', '', p.name));
      tr.appendChild(el('td', '', L.tierText(p.tier)));
      tr.appendChild(el('td', '', p.quantity));
      tr.appendChild(el('td', '', (p.won || 0) + ' / ' + (p.remaining !== undefined ? p.remaining : p.quantity)));
      tr.appendChild(el('td', '', p.excludeWinners ? t('yes') : t('no')));
      var td = el('td');
      var e = el('button', 'edit', t('edit'));
      e.type = 'button';
      e.addEventListener('click', function () { editPrize(p); });
      var d = el('button', 'delete', t('del'));
      d.type = 'button';
      d.addEventListener('click', function () {
        if (!window.confirm(t('confirmDelete', {name: p.name}))) return;
        cmd('prize.delete', {id: p.id}, $('prize-msg')).then(function () {
          model.prizes = model.prizes.filter(function (x) { return x.id !== p.id; });
          feedback($('prize-msg'), t('saved'), true);
          render();
        }, function () {});
      });
      td.appendChild(e);
      td.appendChild(d);
      tr.appendChild(td);
      tb.appendChild(tr);
    });
    // The draw's prize list keeps its selection.
    var sel = $('draw-prize');
    var keep = sel.value;
    L.clear(sel);
    model.prizes.forEach(function (p) {
      var o = el('option', '', p.name + '（' + t('remainingN', {n: p.remaining !== undefined ? p.remaining : p.quantity}) + '）');
      o.value = String(p.id);
      sel.appendChild(o);
    });
    if (keep && model.prize(Number(keep))) sel.value = keep;
    else {
      var firstLeft = model.prizes.filter(function (p) { return p.remaining > 0; })[0];
      if (firstLeft) sel.value = String(firstLeft.id);
    }
  }

  function renderDraw() {
    var od = model.openDraw;
    if (od) {
      $('open-draw').textContent = t('openDraw', {prize: model.prizeName(od.prizeId), count: od.count, pool: od.poolSize}) +
        (od.replaces ? ' · ' + t('replaces', {emp: od.replaces}) : '');
      $('open-commit').textContent = 'poolHash ' + (od.poolHash || '') + '  seedHash ' + (od.seedHash || '');
      $('open-draw').className = 'open-draw';
    } else {
      $('open-draw').className = 'open-draw none';
      $('open-draw').textContent = t('noOpenDraw');
      $('open-commit').textContent = '';
    }
    renderDrawButtons();

    var last = model.lastResult();
    var ul = $('last-result');
    L.clear(ul);
    $('result-prize').textContent = last ? '· ' + model.prizeName(last.prizeId) : '';
    if (last) {
      ul.setAttribute('data-draw', last.drawId);
      last.winners.slice(0, 200).forEach(function (w) {
        var li = el('li', w.absent ? 'absent' : '', w.name);
        li.setAttribute('data-emp', w.empNo);
        li.appendChild(el('small', '', w.empNo + (w.dept ? ' · ' + w.dept : '')));
        ul.appendChild(li);
      });
      if (last.winners.length > 200) ul.appendChild(el('li', '', t('moreWinners', {n: last.winners.length})));
    } else ul.removeAttribute('data-draw');
    var d = last && model.draws[last.drawId];
    $('result-seed').textContent = d && d.seed ? 'seed ' + d.seed + '  poolHash ' + d.poolHash : '';

    // Present winners, newest first, for the replacement.
    var sel = $('replace-emp');
    var keep = sel.value;
    L.clear(sel);
    var present = model.winnersOf().slice().reverse().slice(0, 1000);
    present.forEach(function (w) {
      var o = el('option', '', model.prizeName(w.prizeId) + ' — ' + w.name + ' (' + w.empNo + ')');
      o.value = w.prizeId + '|' + w.empNo;
      sel.appendChild(o);
    });
    if (keep) sel.value = keep;
    if (!sel.value && sel.options.length) sel.selectedIndex = 0;
  }

  function renderDrawButtons() {
    var od = model.openDraw, ready = conn.ready;
    $('draw-start').disabled = !!od || !model.prizes.length;
    $('draw-stop').disabled = !od;
    $('draw-cancel').disabled = !od;
    $('replace-btn').disabled = !!od || !$('replace-emp').options.length;
    $('undo-btn').disabled = !!od;
    $('export-btn').disabled = false;
    $('stats-refresh').disabled = !ready;
  }

  // ---- draw ----
  $('draw-start').addEventListener('click', function () {
    var prizeId = Number($('draw-prize').value);
    var count = parseInt($('draw-count').value, 10);
    if (!prizeId || !(count >= 1)) { feedback($('draw-msg'), t('errPrefix') + L.errText('bad_request'), false); return; }
    $('draw-start').disabled = true;
    cmd('draw.start', {prizeId: prizeId, count: count}, $('draw-msg')).then(function (r) {
      if (r.draw && !model.openDraw) model.apply({type: 'draw.started', draw: r.draw});
      render();
    }, function () { renderDrawButtons(); });
  });
  $('draw-stop').addEventListener('click', function () {
    var od = model.openDraw;
    if (!od) return;
    $('draw-stop').disabled = true;
    cmd('draw.stop', {drawId: od.drawId}, $('draw-msg')).then(function (r) {
      if (r.draw) model.apply({type: 'draw.result', draw: r.draw});
      render();
    }, function () { renderDrawButtons(); });
  });
  $('draw-cancel').addEventListener('click', function () {
    var od = model.openDraw;
    if (!od) return;
    var reason = $('draw-reason').value.trim() || t('defaultCancelReason');
    cmd('draw.cancel', {drawId: od.drawId, reason: reason}, $('draw-msg')).then(function (r) {
      model.apply({type: 'draw.cancelled', drawId: r.drawId !== undefined ? r.drawId : od.drawId, reason: reason});
      $('draw-reason').value = '';
      render();
    }, function () {});
  });
  $('undo-btn').addEventListener('click', function () {
    var reason = $('undo-reason').value.trim();
    if (!reason) { feedback($('draw-msg'), t('reasonRequired'), false); $('undo-reason').focus(); return; }
    cmd('draw.undo', {reason: reason}, $('draw-msg')).then(function (r) {
      if (r.drawId !== undefined) model.apply({type: 'draw.undone', drawId: r.drawId, reason: reason});
      $('undo-reason').value = '';
      feedback($('draw-msg'), t('undone', {id: r.drawId, reason: reason}), true);
      render();
    }, function () {});
  });
  $('replace-btn').addEventListener('click', function () {
    var v = $('replace-emp').value;
    var reason = $('replace-reason').value.trim();
    if (!v) return;
    if (!reason) { feedback($('draw-msg'), t('reasonRequired'), false); $('replace-reason').focus(); return; }
    var bar = v.indexOf('|');
    var prizeId = Number(v.slice(0, bar)), empNo = v.slice(bar + 1);
    cmd('winner.replace', {prizeId: prizeId, empNo: empNo, reason: reason}, $('draw-msg')).then(function (r) {
      if (r.draw && !model.openDraw) model.apply({type: 'draw.started', draw: r.draw});
      $('replace-reason').value = '';
      feedback($('draw-msg'), t('replaceHint'), true);
      render();
    }, function () {});
  });

  // ---- prizes ----
  function editPrize(p) {
    $('prize-id').value = String(p.id);
    $('prize-name').value = p.name;
    $('prize-tier').value = p.tier;
    $('prize-qty').value = p.quantity;
    $('prize-excl').checked = !!p.excludeWinners;
    $('prize-save').textContent = t('save');
    $('prize-save').setAttribute('data-i18n', 'save');
    L.show($('prize-cancel'), true);
    $('prize-name').focus();
  }
  function resetPrizeForm() {
    $('prize-form').reset();
    $('prize-id').value = '';
    $('prize-save').setAttribute('data-i18n', 'newPrize');
    $('prize-save').textContent = t('newPrize');
    L.show($('prize-cancel'), false);
  }
  $('prize-cancel').addEventListener('click', resetPrizeForm);
  $('prize-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var f = {
      name: $('prize-name').value.trim(),
      tier: parseInt($('prize-tier').value, 10),
      quantity: parseInt($('prize-qty').value, 10),
      excludeWinners: $('prize-excl').checked
    };
    if (!f.name || L.utf8Bytes(f.name) > 64 || !(f.tier >= 0 && f.tier <= 99) || !(f.quantity >= 1 && f.quantity <= 10000)) {
      feedback($('prize-msg'), t('errPrefix') + L.errText('bad_request'), false);
      return;
    }
    if ($('prize-id').value) f.id = Number($('prize-id').value);
    cmd('prize.save', f, $('prize-msg')).then(function (r) {
      var p = r.prize;
      if (p) {
        var found = false;
        model.prizes = model.prizes.map(function (x) { if (x.id === p.id) { found = true; return p; } return x; });
        if (!found) model.prizes.push(p);
        model.prizes.sort(function (a, b) { return a.tier - b.tier || a.id - b.id; });
      }
      resetPrizeForm();
      feedback($('prize-msg'), t('saved'), true);
      render();
    }, function () {});
  });

  // ---- event settings ----
  function fillEventForm() {
    var e = model.event || {};
    if (document.activeElement !== $('ev-title')) $('ev-title').value = e.title || '';
    $('ev-open').checked = !!e.openSignup;
    $('ev-muted').checked = !!e.danmakuMuted;
  }
  $('event-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var title = $('ev-title').value.trim();
    if (L.utf8Bytes(title) > 64) { feedback($('event-msg'), t('errPrefix') + L.errText('too_long'), false); return; }
    cmd('event.set', {title: title, openSignup: $('ev-open').checked, danmakuMuted: $('ev-muted').checked}, $('event-msg'))
      .then(function (r) {
        if (r.event) model.apply({type: 'event', event: r.event});
        feedback($('event-msg'), t('saved'), true);
        fillEventForm();
        render();
      }, function () {});
  });

  // ---- bullet comments ----
  function addDanmaku(m) {
    danmakus.unshift(m);
    if (danmakus.length > DM_MAX) danmakus.length = DM_MAX;
    renderDanmaku();
  }
  function removeDanmaku(id) {
    danmakus = danmakus.filter(function (d) { return String(d.id) !== String(id); });
    renderDanmaku();
  }
  function renderDanmaku() {
    var ul = $('dm-list');
    L.clear(ul);
    danmakus.forEach(function (d) {
      var li = el('li');
      li.setAttribute('data-id', d.id);
      li.appendChild(el('span', 'who', d.name || ''));
      li.appendChild(el('span', 'txt', d.text));
      var b = el('button', 'delete', t('del'));
      b.type = 'button';
      b.addEventListener('click', function () {
        b.disabled = true;
        cmd('danmaku.delete', {id: d.id}, $('dm-msg')).then(function () { removeDanmaku(d.id); }, function () { b.disabled = false; });
      });
      li.appendChild(b);
      ul.appendChild(li);
    });
  }

  // ---- export ----
  $('export-btn').addEventListener('click', function () {
    cmd('winners.export', {}, $('export-msg')).then(function (r) {
      var csv = typeof r.csv === 'string' ? r.csv : '';
      if (csv.charCodeAt(0) !== 0xfeff) csv = '\ufeff' + csv;   // Excel needs the BOM for UTF-8
      var blob = new Blob([csv], {type: 'text/csv;charset=utf-8'});
      var url = URL.createObjectURL(blob);
      var a = el('a');
      a.href = url;
      a.download = r.filename || 'winners.csv';
      document.body.appendChild(a);
      a.click();
      document.body.removeChild(a);
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
      feedback($('export-msg'), a.download, true);
    }, function () {});
  });

  // ---- stats: on demand and every 10 s ----
  var statsBusy = false;
  function refreshStats() {
    if (!conn.ready || statsBusy) return;
    statsBusy = true;
    cmd('stats', {}, $('stats-msg'), {resend: false}).then(function (r) {
      statsBusy = false;
      $('stat-online').textContent = r.online;
      $('stat-phones').textContent = r.phones;
      $('stat-screens').textContent = r.screens;
      $('stat-admins').textContent = r.admins;
      $('stat-signedin').textContent = r.signedIn;
      $('stat-participants').textContent = r.participants;
      var g = r.gateways || {};
      $('stat-gateways').textContent = (g.answered !== undefined ? g.answered : '?') + ' / ' + (g.asked !== undefined ? g.asked : '?');
    }, function () { statsBusy = false; });
  }
  $('stats-refresh').addEventListener('click', refreshStats);
  setInterval(refreshStats, 10000);

  // ---- participants import ----
  var EMP_RE = /^[A-Za-z0-9_.\-]{1,32}$/;
  var CTRL_RE = /[\u0000-\u001f\u007f]/;
  var parsed = null;   // {rows, enc}

  L.show($('xlsx-note'), typeof window.XLSX === 'undefined');

  // Bytes to text: UTF-8 (with or without BOM) when it is valid UTF-8, else GBK
  // (what Excel on a Chinese Windows saves as "CSV").
  function decodeBytes(u8) {
    if (u8.length >= 2 && u8[0] === 0xff && u8[1] === 0xfe) return {text: new TextDecoder('utf-16le').decode(u8), enc: 'UTF-16LE'};
    if (u8.length >= 2 && u8[0] === 0xfe && u8[1] === 0xff) return {text: new TextDecoder('utf-16be').decode(u8), enc: 'UTF-16BE'};
    var bom = u8.length >= 3 && u8[0] === 0xef && u8[1] === 0xbb && u8[2] === 0xbf;
    try {
      return {text: new TextDecoder('utf-8', {fatal: true}).decode(u8), enc: bom ? 'UTF-8 (BOM)' : 'UTF-8'};
    } catch (e) {
      return {text: new TextDecoder('gbk').decode(u8), enc: 'GBK'};
    }
  }

  // RFC 4180 CSV (quotes, doubled quotes, CRLF/LF/CR); the delimiter is the
  // first line's most frequent of , \t ; (outside quotes).
  function parseCSV(text) {
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    var firstLine = text.split(/\r\n|\n|\r/, 1)[0] || '';
    var counts = {',': 0, '\t': 0, ';': 0}, inQ = false, i, c;
    for (i = 0; i < firstLine.length; i++) {
      c = firstLine[i];
      if (c === '"') inQ = !inQ;
      else if (!inQ && counts[c] !== undefined) counts[c]++;
    }
    var delim = ',';
    if (counts['\t'] > counts[delim]) delim = '\t';
    if (counts[';'] > counts[delim]) delim = ';';
    var rows = [], row = [], field = '', q = false;
    for (i = 0; i < text.length; i++) {
      c = text[i];
      if (q) {
        if (c === '"') {
          if (text[i + 1] === '"') { field += '"'; i++; } else q = false;
        } else field += c;
      } else if (c === '"' && field === '') q = true;
      else if (c === delim) { row.push(field); field = ''; }
      else if (c === '\n' || c === '\r') {
        if (c === '\r' && text[i + 1] === '\n') i++;
        row.push(field); rows.push(row); row = []; field = '';
      } else field += c;
    }
    if (field !== '' || row.length) { row.push(field); rows.push(row); }
    return rows;
  }

  var HEADERS = {
    empNo: ['工号', '员工号', '员工编号', '职工号', '编号', 'empno', 'emp_no', 'employeeno', 'employeeid', 'employee', 'id', 'no'],
    name: ['姓名', '名字', '员工姓名', 'name', 'fullname'],
    dept: ['部门', '所属部门', '部门名称', 'dept', 'department']
  };
  function norm(s) { return String(s === undefined || s === null ? '' : s).replace(/[\s\ufeff*]/g, '').toLowerCase(); }
  // rows: arrays of cells -> {rows:[{empNo,name,dept}], bad:[row numbers], dup}
  function toParticipants(cells) {
    var start = 0, col = {empNo: 0, name: 1, dept: 2};
    while (start < cells.length && cells[start].every(function (c) { return String(c).trim() === ''; })) start++;
    if (start < cells.length) {
      var head = cells[start].map(norm), found = {};
      Object.keys(HEADERS).forEach(function (k) {
        for (var j = 0; j < head.length; j++) if (HEADERS[k].indexOf(head[j]) >= 0) { found[k] = j; break; }
      });
      if (found.empNo !== undefined && found.name !== undefined) {
        col = {empNo: found.empNo, name: found.name, dept: found.dept !== undefined ? found.dept : -1};
        start++;
      }
    }
    var out = [], bad = [], byEmp = {}, dup = 0;
    for (var r = start; r < cells.length; r++) {
      var c = cells[r];
      if (c.every(function (x) { return String(x).trim() === ''; })) continue;
      var empNo = String(c[col.empNo] === undefined ? '' : c[col.empNo]).trim();
      var name = String(c[col.name] === undefined ? '' : c[col.name]).trim();
      var dept = col.dept >= 0 && c[col.dept] !== undefined ? String(c[col.dept]).trim() : '';
      if (!EMP_RE.test(empNo) || !name || L.utf8Bytes(name) > 64 || CTRL_RE.test(name) ||
          L.utf8Bytes(dept) > 64 || CTRL_RE.test(dept)) { bad.push(r + 1); continue; }
      if (byEmp[empNo] !== undefined) { dup++; out[byEmp[empNo]] = {empNo: empNo, name: name, dept: dept}; continue; }
      byEmp[empNo] = out.length;
      out.push({empNo: empNo, name: name, dept: dept});
    }
    return {rows: out, bad: bad, dup: dup};
  }

  function showPreview(res, enc) {
    var parts = [t('previewRows', {n: res.rows.length}), t('previewEnc', {enc: enc})];
    if (res.bad.length) parts.push(t('previewBad', {n: res.bad.length, lines: res.bad.slice(0, 10).join(', ') + (res.bad.length > 10 ? '…' : '')}));
    if (res.dup) parts.push(t('previewDup', {n: res.dup}));
    $('preview-summary').textContent = parts.join(' · ');
    $('preview-summary').setAttribute('data-count', res.rows.length);
    $('preview-summary').setAttribute('data-encoding', enc);
    var tb = $('preview-rows');
    L.clear(tb);
    res.rows.slice(0, 5).forEach(function (p) {
      var tr = el('tr');
      tr.appendChild(el('td', '', p.empNo));
      tr.appendChild(el('td', '', p.name));
      tr.appendChild(el('td', '', p.dept));
      tb.appendChild(tr);
    });
    L.show($('import-preview'), true);
    $('import-btn').disabled = res.rows.length === 0;
    if (!res.rows.length) feedback($('import-msg'), t('fileEmpty'), false);
  }

  $('import-file').addEventListener('change', function () {
    var f = this.files && this.files[0];
    parsed = null;
    $('import-btn').disabled = true;
    L.show($('import-preview'), false);
    feedback($('import-msg'), '');
    if (!f) return;
    var isXlsx = /\.(xlsx|xls)$/i.test(f.name);
    if (isXlsx && typeof window.XLSX === 'undefined') { feedback($('import-msg'), t('xlsxUnavailable'), false); return; }
    var reader = new FileReader();
    reader.onerror = function () { feedback($('import-msg'), t('fileUnreadable'), false); };
    reader.onload = function () {
      try {
        var u8 = new Uint8Array(reader.result), cells, enc;
        if (isXlsx) {
          var wb = window.XLSX.read(u8, {type: 'array'});
          var sheet = wb.Sheets[wb.SheetNames[0]];
          cells = window.XLSX.utils.sheet_to_json(sheet, {header: 1, raw: false, defval: ''});
          enc = 'Excel';
        } else {
          var d = decodeBytes(u8);
          cells = parseCSV(d.text);
          enc = d.enc;
        }
        var res = toParticipants(cells);
        parsed = {rows: res.rows, enc: enc};
        showPreview(res, enc);
      } catch (e) {
        feedback($('import-msg'), t('fileUnreadable'), false);
      }
    };
    reader.readAsArrayBuffer(f);
  });

  $('import-btn').addEventListener('click', function () {
    if (!parsed || !parsed.rows.length) return;
    var mode = $('import-mode').value === 'replace' ? 'replace' : 'merge';
    if (mode === 'replace' && !window.confirm(t('modeReplace') + '?')) return;
    $('import-btn').disabled = true;
    cmd('participants.import', {rows: parsed.rows, mode: mode}, $('import-msg')).then(function (r) {
      feedback($('import-msg'), t('importDone', {added: r.added, updated: r.updated, total: r.total}), true);
      $('import-msg').setAttribute('data-total', r.total);
      if (typeof r.total === 'number') model.participants = r.total;
      $('import-file').value = '';
      parsed = null;
      render();
    }, function () { $('import-btn').disabled = false; });
  });

  L.langButton($('lang'));
  L.onLang(function () { render(); renderDanmaku(); });
  L.applyI18n();
  // Without a token nothing is sent until one is typed in.
  if (token()) conn.connect();
  else showLogin('');
})();
