// Shared by the three lottery pages (index.html, screen.html, admin.html):
// the WebSocket client of docs/lottery-protocol.md, the zh-CN / English
// strings, and small DOM helpers. Plain ES2017, no modules, no framework, so
// that WeChat's built-in browser runs it. Every piece of data goes into the
// page with textContent, never as HTML.
(function (global) {
  'use strict';

  // ---- i18n ----
  var STRINGS = {
    'zh-CN': {
      langSwitch: 'English',
      appName: '年会抽奖',
      connOn: '已连接',
      connOff: '连接中…',
      loading: '正在连接…',
      // phone
      signinTitle: '签到',
      signinHint: '请输入工号和姓名完成签到',
      empNo: '工号',
      name: '姓名',
      dept: '部门',
      signinBtn: '签到',
      signedIn: '已签到',
      waiting: '请留意大屏幕，抽奖即将开始',
      drawingNow: '正在抽取',
      drawingCount: '{count} 名',
      lastResult: '本轮中奖名单',
      youWon: '恭喜你中奖了！',
      youWonPrize: '你抽中了：{prize}',
      wonAlready: '我的奖品',
      close: '知道了',
      danmakuTitle: '发弹幕',
      danmakuPlaceholder: '说点什么…（最多 40 字）',
      send: '发送',
      sent: '已发送',
      danmakuOff: '弹幕已关闭',
      notWon: '很遗憾，这一轮没有抽中，下一轮加油！',
      // screen
      signedInCount: '已签到',
      participantsOf: '/ {n} 人',
      scanHint: '手机打开本页面网址签到',
      winnersTitle: '中奖名单',
      poolSize: '奖池 {n} 人',
      drawCount: '抽取 {n} 名',
      poolHash: '奖池哈希',
      seedHash: '种子哈希',
      seed: '种子',
      congrats: '恭喜以下中奖者',
      moreWinners: '…等共 {n} 人',
      noWinnersYet: '尚未开奖',
      replaces: '补抽（替换 {emp}）',
      // admin
      adminTitle: '抽奖管理',
      adminToken: '管理口令',
      login: '进入',
      logout: '退出',
      statsTitle: '在线统计',
      statOnline: '在线连接',
      statPhones: '手机',
      statScreens: '大屏',
      statAdmins: '管理端',
      statSignedIn: '已签到',
      statParticipants: '名单人数',
      statGateways: '网关应答',
      refresh: '刷新',
      eventTitle: '活动设置',
      title: '标题',
      openSignup: '允许名单外人员签到',
      danmakuMuted: '关闭弹幕',
      save: '保存',
      saved: '已保存',
      importTitle: '导入名单',
      importHint: 'CSV（UTF-8 或 GBK，首行可为表头：工号,姓名,部门）或 Excel .xlsx',
      importMode: '方式',
      modeMerge: '合并（新增并更新）',
      modeReplace: '替换全部（仅限尚无人签到时）',
      importBtn: '导入',
      previewRows: '共 {n} 行有效数据',
      previewBad: '{n} 行无效已跳过（第 {lines} 行）',
      previewDup: '{n} 个重复工号（以最后一行为准）',
      previewEnc: '编码：{enc}',
      importDone: '导入完成：新增 {added}，更新 {updated}，共 {total} 人',
      xlsxUnavailable: 'Excel 导入不可用（缺少 vendor/xlsx.full.min.js），请另存为 CSV',
      fileEmpty: '文件中没有可导入的数据',
      fileUnreadable: '无法读取此文件',
      prizesTitle: '奖项',
      prizeName: '奖项名称',
      tier: '等级',
      quantity: '名额',
      excludeWinners: '已中奖者不参与',
      wonRemaining: '已中 / 剩余',
      edit: '编辑',
      del: '删除',
      newPrize: '新建奖项',
      cancelEdit: '取消编辑',
      confirmDelete: '确定删除奖项「{name}」？',
      drawTitle: '抽奖',
      prize: '奖项',
      count: '人数',
      start: '开始',
      stop: '停止',
      cancelDraw: '取消本轮',
      reason: '原因',
      defaultCancelReason: '管理员取消',
      openDraw: '进行中：{prize}，抽取 {count} 名，奖池 {pool} 人',
      noOpenDraw: '当前没有进行中的抽奖',
      undoTitle: '撤销上一轮',
      undoBtn: '撤销',
      reasonRequired: '请填写原因',
      replaceTitle: '替换未到场中奖者',
      replaceBtn: '标记缺席并补抽',
      replaceHint: '补抽一名后请点「停止」揭晓',
      danmakuListTitle: '弹幕管理',
      exportTitle: '导出中奖名单',
      exportBtn: '导出 CSV',
      pending: '{n} 条指令等待发送…',
      remainingN: '剩余 {n}',
      yes: '是',
      no: '否',
      absent: '缺席',
      tierSpecial: '特等奖',
      tierN: '{n} 等',
      undone: '已撤销第 {id} 轮：{reason}',
      cancelled: '已取消第 {id} 轮：{reason}',
      absentNote: '{name}（{emp}）缺席：{reason}',
      errPrefix: '失败：',
      // errors (protocol §6) and client-side ones
      'err.bad_request': '请求无效，请检查输入',
      'err.too_large': '内容太大',
      'err.unknown_type': '服务器不支持该操作',
      'err.forbidden': '没有权限（管理口令错误？）',
      'err.bad_token': '登录已失效，请重新签到',
      'err.not_found': '找不到该工号，请联系工作人员',
      'err.name_mismatch': '姓名与工号不符',
      'err.not_signed_in': '请先签到',
      'err.muted': '弹幕已关闭',
      'err.rate_limited': '发送太快了，请稍后再试',
      'err.too_long': '太长了，最多 40 个字',
      'err.draw_open': '已有一轮抽奖正在进行',
      'err.no_open_draw': '没有进行中的抽奖',
      'err.not_enough': '人数超过剩余名额或可抽人数',
      'err.conflict': '当前状态不允许此操作',
      'err.rid_reused': '请求编号重复',
      'err.store_error': '数据库暂时不可用，请重试',
      'err.offline': '网络未连接，请稍后重试',
      'err.empty': '请输入内容',
      'err.bad_empno': '工号只能包含字母、数字和 _ . -（最多 32 位）',
      'err.unknown': '出错了（{code}）',
      'alert.store_split': '严重：业务进程连着两个不同的数据库，正在运行两场抽奖！请让所有业务进程使用同一个 store（postgresql://…）后重启。'
    },
    en: {
      langSwitch: '中文',
      appName: 'Lucky draw',
      connOn: 'connected',
      connOff: 'connecting…',
      loading: 'Connecting…',
      signinTitle: 'Sign in',
      signinHint: 'Enter your employee number and name',
      empNo: 'Employee no.',
      name: 'Name',
      dept: 'Department',
      signinBtn: 'Sign in',
      signedIn: 'Signed in',
      waiting: 'Watch the big screen: the draw starts soon',
      drawingNow: 'Drawing now',
      drawingCount: '{count} winner(s)',
      lastResult: 'Winners of this round',
      youWon: 'Congratulations, you won!',
      youWonPrize: 'Your prize: {prize}',
      wonAlready: 'My prizes',
      close: 'OK',
      danmakuTitle: 'Send a comment',
      danmakuPlaceholder: 'Say something… (40 characters max)',
      send: 'Send',
      sent: 'Sent',
      danmakuOff: 'Comments are off',
      notWon: 'Not this time. Good luck in the next round!',
      signedInCount: 'Signed in',
      participantsOf: '/ {n}',
      scanHint: 'Open this page\'s address on your phone to sign in',
      winnersTitle: 'Winners',
      poolSize: 'Pool: {n}',
      drawCount: 'Drawing {n}',
      poolHash: 'Pool hash',
      seedHash: 'Seed hash',
      seed: 'Seed',
      congrats: 'Congratulations to',
      moreWinners: '… {n} in all',
      noWinnersYet: 'No winners yet',
      replaces: 'Replacement draw (for {emp})',
      adminTitle: 'Lucky draw admin',
      adminToken: 'Admin token',
      login: 'Enter',
      logout: 'Log out',
      statsTitle: 'Online',
      statOnline: 'Connections',
      statPhones: 'Phones',
      statScreens: 'Screens',
      statAdmins: 'Admins',
      statSignedIn: 'Signed in',
      statParticipants: 'Participants',
      statGateways: 'Gateways answered',
      refresh: 'Refresh',
      eventTitle: 'Event settings',
      title: 'Title',
      openSignup: 'Let people not on the list sign in',
      danmakuMuted: 'Turn comments off',
      save: 'Save',
      saved: 'Saved',
      importTitle: 'Import participants',
      importHint: 'CSV (UTF-8 or GBK, optional header: empNo,name,dept) or Excel .xlsx',
      importMode: 'Mode',
      modeMerge: 'Merge (add and update)',
      modeReplace: 'Replace all (only before anyone signed in)',
      importBtn: 'Import',
      previewRows: '{n} valid rows',
      previewBad: '{n} invalid rows skipped (lines {lines})',
      previewDup: '{n} duplicate employee numbers (the last row wins)',
      previewEnc: 'Encoding: {enc}',
      importDone: 'Imported: {added} added, {updated} updated, {total} in all',
      xlsxUnavailable: 'Excel import is unavailable (vendor/xlsx.full.min.js is missing); save as CSV',
      fileEmpty: 'Nothing to import in this file',
      fileUnreadable: 'Cannot read this file',
      prizesTitle: 'Prizes',
      prizeName: 'Prize',
      tier: 'Tier',
      quantity: 'Quantity',
      excludeWinners: 'Exclude earlier winners',
      wonRemaining: 'Won / left',
      edit: 'Edit',
      del: 'Delete',
      newPrize: 'New prize',
      cancelEdit: 'Cancel edit',
      confirmDelete: 'Delete the prize "{name}"?',
      drawTitle: 'Draw',
      prize: 'Prize',
      count: 'Count',
      start: 'Start',
      stop: 'Stop',
      cancelDraw: 'Cancel round',
      reason: 'Reason',
      defaultCancelReason: 'cancelled by the admin',
      openDraw: 'Open: {prize}, drawing {count} of {pool}',
      noOpenDraw: 'No draw is open',
      undoTitle: 'Undo the last round',
      undoBtn: 'Undo',
      reasonRequired: 'Give a reason',
      replaceTitle: 'Replace an absent winner',
      replaceBtn: 'Mark absent and redraw',
      replaceHint: 'Then press "Stop" to reveal the replacement',
      danmakuListTitle: 'Comments',
      exportTitle: 'Export winners',
      exportBtn: 'Export CSV',
      pending: '{n} command(s) waiting to be sent…',
      remainingN: '{n} left',
      yes: 'yes',
      no: 'no',
      absent: 'absent',
      tierSpecial: 'Special',
      tierN: 'Tier {n}',
      undone: 'Round {id} undone: {reason}',
      cancelled: 'Round {id} cancelled: {reason}',
      absentNote: '{name} ({emp}) absent: {reason}',
      errPrefix: 'Failed: ',
      'err.bad_request': 'Invalid request; check the input',
      'err.too_large': 'Too large',
      'err.unknown_type': 'The server does not support this',
      'err.forbidden': 'Not allowed (wrong admin token?)',
      'err.bad_token': 'Your sign-in expired; please sign in again',
      'err.not_found': 'Unknown employee number; ask the staff',
      'err.name_mismatch': 'The name does not match the employee number',
      'err.not_signed_in': 'Sign in first',
      'err.muted': 'Comments are off',
      'err.rate_limited': 'Too fast; wait a moment',
      'err.too_long': 'Too long: 40 characters at most',
      'err.draw_open': 'Another draw is open',
      'err.no_open_draw': 'No draw is open',
      'err.not_enough': 'More than the seats left or the eligible people',
      'err.conflict': 'Not possible in the current state',
      'err.rid_reused': 'Request id reused',
      'err.store_error': 'The database is unavailable; try again',
      'err.offline': 'Not connected; try again in a moment',
      'err.empty': 'Type something first',
      'err.bad_empno': 'Employee numbers use letters, digits and _ . - (32 at most)',
      'alert.store_split': 'SERIOUS: business workers use two different stores, so two lotteries are running. Give every business worker the same store (postgresql://...) and restart them.',
      'err.unknown': 'Something went wrong ({code})'
    }
  };

  var LANG_KEY = 'lottery.lang';
  function storageGet(store, k) { try { return global[store].getItem(k); } catch (e) { return null; } }
  function storageSet(store, k, v) {
    try { if (v === null) global[store].removeItem(k); else global[store].setItem(k, v); } catch (e) { /* private mode */ }
  }
  var lang = storageGet('localStorage', LANG_KEY) === 'en' ? 'en' : 'zh-CN';
  var langListeners = [];

  function t(key, params) {
    var table = STRINGS[lang];
    var s = Object.prototype.hasOwnProperty.call(table, key) ? table[key] : STRINGS['zh-CN'][key];
    if (s === undefined) s = key;
    if (params) {
      s = s.replace(/\{(\w+)\}/g, function (m, k) {
        return Object.prototype.hasOwnProperty.call(params, k) ? String(params[k]) : m;
      });
    }
    return s;
  }
  function errText(code) {
    if (code && Object.prototype.hasOwnProperty.call(STRINGS['zh-CN'], 'err.' + code)) return t('err.' + code);
    return t('err.unknown', {code: String(code)});
  }
  // Static text: data-i18n (textContent), data-i18n-placeholder, data-i18n-title.
  function applyI18n(root) {
    root = root || document;
    document.documentElement.lang = lang;
    var i, n, list = root.querySelectorAll('[data-i18n]');
    for (i = 0; i < list.length; i++) { n = list[i]; n.textContent = t(n.getAttribute('data-i18n')); }
    list = root.querySelectorAll('[data-i18n-placeholder]');
    for (i = 0; i < list.length; i++) { n = list[i]; n.placeholder = t(n.getAttribute('data-i18n-placeholder')); }
    list = root.querySelectorAll('[data-i18n-title]');
    for (i = 0; i < list.length; i++) { n = list[i]; n.title = t(n.getAttribute('data-i18n-title')); }
  }
  function setLang(l) {
    lang = l === 'en' ? 'en' : 'zh-CN';
    storageSet('localStorage', LANG_KEY, lang);
    applyI18n();
    langListeners.forEach(function (f) { f(lang); });
  }
  function onLang(f) { langListeners.push(f); }
  // A button (#lang) that flips between the two languages.
  function langButton(btn) {
    if (!btn) return;
    btn.addEventListener('click', function () { setLang(lang === 'en' ? 'zh-CN' : 'en'); });
  }

  // ---- DOM helpers ----
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function show(node, on) { if (node) node.hidden = !on; }
  // "abcdef12…7890" for a long hash; the full value goes into title / small text.
  function shortHash(h) { h = String(h || ''); return h.length > 20 ? h.slice(0, 10) + '…' + h.slice(-8) : h; }
  function codePoints(s) { return Array.from(String(s)).length; }
  function utf8Bytes(s) {
    var n = 0, i, c;
    s = String(s);
    for (i = 0; i < s.length; i++) {
      c = s.charCodeAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (c >= 0xd800 && c <= 0xdbff) { n += 4; i++; }
      else n += 3;
    }
    return n;
  }
  function tierText(tier) { return tier === 0 ? t('tierSpecial') : t('tierN', {n: tier}); }

  // ---- the WebSocket client ----
  // opts: hello(): the hello message (sent on every open);
  //       onMessage(m): every message but ping, reply and error of a request;
  //       onStatus(connected);
  //       ridPrefix: e.g. "adm".
  // request(type, fields, opts) -> Promise of the reply; it rejects with
  // {code}. Requests marked resend:true stay pending across reconnects and
  // are sent again with the SAME rid after the next hello's state (protocol
  // §3.1: the server answers a replay with the stored reply).
  function Connection(opts) {
    this.opts = opts;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.ready = false;        // the state of our hello arrived on this socket
    this.connected = false;
    this.pending = [];         // {rid, msg, resend, resolve, reject, sent}
    this.opens = 0;            // for tests and diagnostics
    this.ridPrefix = (opts.ridPrefix || 'c') + '-' + Math.random().toString(36).slice(2, 10) + '-';
    this.ridSeq = 0;
    this.pendingListeners = [];
  }
  Connection.prototype.url = function () {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/';
  };
  Connection.prototype.connect = function () {
    var self = this, ws;
    this.timer = null;
    try { ws = new WebSocket(this.url()); } catch (e) { this.scheduleReconnect(); return; }
    this.ws = ws;
    ws.onopen = function () {
      if (self.ws !== ws) return;
      self.opens++;
      self.connected = true;
      self.ready = false;
      self.raw(self.opts.hello());
    };
    ws.onmessage = function (ev) {
      if (self.ws !== ws) return;
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (!m || typeof m !== 'object' || typeof m.type !== 'string') return;
      self.dispatch(m);
    };
    ws.onclose = function () {
      if (self.ws !== ws) return;
      self.ws = null;
      var was = self.connected;
      self.connected = false;
      self.ready = false;
      // Requests that must not be replayed fail now; the others wait.
      self.pending = self.pending.filter(function (p) {
        if (p.resend) { p.sent = false; return true; }
        if (p.sent) p.reject({code: 'offline'});
        else return true;
        return false;
      });
      self.firePending();
      if (was && self.opts.onStatus) self.opts.onStatus(false);
      self.scheduleReconnect();
    };
    ws.onerror = function () { /* onclose follows */ };
  };
  // 0.5 s doubling to 15 s, each delay ±50 % at random (no thundering herd
  // of 5,000 phones after a Wi-Fi hiccup).
  Connection.prototype.scheduleReconnect = function () {
    var self = this;
    if (this.timer) return;
    var base = Math.min(15000, 500 * Math.pow(2, this.attempt));
    this.attempt = Math.min(this.attempt + 1, 10);
    var delay = Math.round(base * (0.5 + Math.random()));
    this.timer = setTimeout(function () { self.connect(); }, delay);
  };
  Connection.prototype.raw = function (obj) {
    if (this.ws && this.ws.readyState === 1) { this.ws.send(JSON.stringify(obj)); return true; }
    return false;
  };
  // A server alert (e.g. store_split): a red bar across the top of the page
  // until the page is reloaded; shown by every page that receives one.
  function showAlert(m) {
    var bar = document.getElementById('server-alert');
    if (!bar) {
      bar = document.createElement('div');
      bar.id = 'server-alert';
      bar.setAttribute('role', 'alert');
      bar.style.cssText = 'position:fixed;left:0;right:0;top:0;z-index:9999;padding:12px 16px;' +
        'background:#b00020;color:#fff;font-size:18px;font-weight:bold;text-align:center';
      document.body.appendChild(bar);
    }
    bar.setAttribute('data-code', String(m.code || ''));
    var key = 'alert.' + m.code;
    var text = t(key);
    bar.textContent = text === key ? String(m.message || m.code) : text;
  }

  Connection.prototype.dispatch = function (m) {
    if (m.type === 'ping') { this.raw({type: 'pong'}); return; }
    if (m.type === 'alert') { showAlert(m); return; }
    if ((m.type === 'reply' || m.type === 'error') && m.rid !== undefined && m.rid !== null) {
      for (var i = 0; i < this.pending.length; i++) {
        var p = this.pending[i];
        if (p.rid === m.rid) {
          this.pending.splice(i, 1);
          this.firePending();
          if (m.type === 'reply') p.resolve(m); else p.reject(m);
          return;
        }
      }
    }
    if (m.type === 'state') {
      var first = !this.ready;
      this.ready = true;
      this.attempt = 0;
      if (this.opts.onMessage) this.opts.onMessage(m);
      if (first) {
        if (this.opts.onStatus) this.opts.onStatus(true);
        this.flush();
      }
      return;
    }
    if (this.opts.onMessage) this.opts.onMessage(m);
  };
  Connection.prototype.flush = function () {
    for (var i = 0; i < this.pending.length; i++) {
      var p = this.pending[i];
      if (!p.sent && this.raw(p.msg)) p.sent = true;
    }
  };
  Connection.prototype.newRid = function () { return this.ridPrefix + (++this.ridSeq); };
  Connection.prototype.request = function (type, fields, ropts) {
    var self = this;
    ropts = ropts || {};
    var msg = {type: type};
    var k;
    if (fields) for (k in fields) if (Object.prototype.hasOwnProperty.call(fields, k)) msg[k] = fields[k];
    msg.rid = this.newRid();
    return new Promise(function (resolve, reject) {
      var p = {rid: msg.rid, msg: msg, resend: !!ropts.resend, resolve: resolve, reject: reject, sent: false};
      if (!self.ready && !p.resend) { reject({code: 'offline'}); return; }
      self.pending.push(p);
      if (self.ready && self.raw(msg)) p.sent = true;
      self.firePending();
    });
  };
  Connection.prototype.pendingCount = function () { return this.pending.length; };
  Connection.prototype.onPending = function (f) { this.pendingListeners.push(f); };
  Connection.prototype.firePending = function () {
    var n = this.pending.length;
    this.pendingListeners.forEach(function (f) { f(n); });
  };
  // Re-sends hello on the open socket (e.g. after the admin typed a token).
  Connection.prototype.hello = function () { this.ready = false; return this.raw(this.opts.hello()); };

  // ---- the page's copy of the state (§4), kept current by the pushes (§5) ----
  function Model() {
    this.event = {title: '', openSignup: false, danmakuMuted: false};
    this.participants = 0;
    this.signedIn = 0;
    this.prizes = [];
    this.winners = [];
    this.openDraw = null;
    this.recent = [];
    this.me = null;
    this.adminOnly = null;
    this.draws = {};      // drawId -> finished draw seen in draw.result / draw.stop
    this.lastDraw = null; // the latest finished draw seen live (with seed)
  }
  Model.prototype.prize = function (id) {
    for (var i = 0; i < this.prizes.length; i++) if (this.prizes[i].id === id) return this.prizes[i];
    return null;
  };
  Model.prototype.prizeName = function (id) { var p = this.prize(id); return p ? p.name : '#' + id; };
  Model.prototype.hasDraw = function (drawId) {
    for (var i = 0; i < this.winners.length; i++) if (this.winners[i].drawId === drawId) return true;
    return false;
  };
  // Present winners of one prize, or of every prize.
  Model.prototype.winnersOf = function (prizeId) {
    return this.winners.filter(function (w) { return !w.absent && (prizeId === undefined || w.prizeId === prizeId); });
  };
  // The latest draw that has winners: {drawId, prizeId, winners:[...]} or null.
  Model.prototype.lastResult = function () {
    var id = null, i;
    for (i = this.winners.length - 1; i >= 0; i--) { id = this.winners[i].drawId; break; }
    if (id === null) return null;
    var ws = this.winners.filter(function (w) { return w.drawId === id; });
    return {drawId: id, prizeId: ws[0].prizeId, winners: ws, draw: this.draws[id] || null};
  };
  Model.prototype.myWins = function () {
    if (!this.me) return [];
    var emp = this.me.empNo;
    return this.winners.filter(function (w) { return w.empNo === emp && !w.absent; })
      .map(function (w) { return w.prizeId; });
  };
  Model.prototype.bumpPrize = function (prizeId, delta) {
    var p = this.prize(prizeId);
    if (!p) return;
    p.won = (p.won || 0) + delta;
    p.remaining = p.quantity - p.won;
  };
  // Returns the type it handled, or null.
  Model.prototype.apply = function (m) {
    var self = this, d, i;
    switch (m.type) {
    case 'state':
      this.event = m.event || this.event;
      this.participants = m.participants || 0;
      this.signedIn = m.signedIn || 0;
      this.prizes = Array.isArray(m.prizes) ? m.prizes : [];
      this.winners = Array.isArray(m.winners) ? m.winners : [];
      this.openDraw = m.openDraw || null;
      // recent and signins.names come oldest first (the store's order); the pages keep newest first.
      this.recent = Array.isArray(m.recent) ? m.recent.slice().reverse() : [];
      this.me = m.me || null;
      this.adminOnly = m.adminOnly || null;
      return m.type;
    case 'signins':
      if (typeof m.signedIn === 'number') this.signedIn = m.signedIn;
      if (typeof m.participants === 'number') this.participants = m.participants;
      if (Array.isArray(m.names)) this.recent = m.names.slice().reverse().concat(this.recent).slice(0, 30);
      return m.type;
    case 'participants':
      if (typeof m.signedIn === 'number') this.signedIn = m.signedIn;
      if (typeof m.participants === 'number') this.participants = m.participants;
      return m.type;
    case 'prizes':
      if (Array.isArray(m.prizes)) this.prizes = m.prizes;
      return m.type;
    case 'event':
      if (m.event) this.event = m.event;
      return m.type;
    case 'draw.started':
      if (m.draw) this.openDraw = m.draw;
      return m.type;
    case 'draw.result':
      d = m.draw;
      if (!d) return null;
      if (this.openDraw && this.openDraw.drawId === d.drawId) this.openDraw = null;
      this.draws[d.drawId] = d;
      this.lastDraw = d;
      if (!this.hasDraw(d.drawId)) {
        (d.winners || []).forEach(function (w) {
          self.winners.push({prizeId: d.prizeId, drawId: d.drawId, empNo: w.empNo, name: w.name, dept: w.dept,
            absent: false, at: d.at});
        });
        this.bumpPrize(d.prizeId, (d.winners || []).length);
      }
      return m.type;
    case 'draw.cancelled':
      if (this.openDraw && this.openDraw.drawId === m.drawId) this.openDraw = null;
      return m.type;
    case 'draw.undone':
      var kept = [];
      this.winners.forEach(function (w) {
        if (w.drawId === m.drawId) { if (!w.absent) self.bumpPrize(w.prizeId, -1); } else kept.push(w);
      });
      this.winners = kept;
      if (this.lastDraw && this.lastDraw.drawId === m.drawId) this.lastDraw = null;
      return m.type;
    case 'winner.absent':
      for (i = 0; i < this.winners.length; i++) {
        var w = this.winners[i];
        if (w.prizeId === m.prizeId && w.empNo === m.empNo && !w.absent) { w.absent = true; this.bumpPrize(w.prizeId, -1); break; }
      }
      return m.type;
    }
    return null;
  };

  // A status pill: <span id="conn" class="conn off">.
  function statusPill(node) {
    return function (on) {
      if (!node) return;
      node.className = 'conn ' + (on ? 'on' : 'off');
      node.setAttribute('data-i18n', on ? 'connOn' : 'connOff');
      node.textContent = t(on ? 'connOn' : 'connOff');
    };
  }

  global.LOT = {
    t: t, errText: errText, applyI18n: applyI18n, setLang: setLang, onLang: onLang,
    lang: function () { return lang; }, langButton: langButton,
    $: $, el: el, clear: clear, show: show, shortHash: shortHash, codePoints: codePoints,
    utf8Bytes: utf8Bytes, tierText: tierText, statusPill: statusPill,
    storageGet: storageGet, storageSet: storageSet,
    Connection: Connection, Model: Model
  };
})(window);
