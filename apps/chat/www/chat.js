// The chat page: one WebSocket to the gateway that served this page.
// Every name and message is inserted with textContent, never as HTML.
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var ws = null;
  var me = null;            // {name, room} once the user submitted the form
  var myId = null;          // our client_id, from the welcome
  var members = new Map();  // client_id -> name
  var retry = null;

  var params = new URLSearchParams(location.search);
  if (params.get('room')) $('room').value = params.get('room');
  if (params.get('name')) $('name').value = params.get('name');

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setStatus(on, text) {
    var s = $('status');
    s.textContent = text;
    s.className = 'status ' + (on ? 'on' : 'off');
  }

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  function shortTime(t) { return typeof t === 'string' ? t.slice(11, 16) : ''; }

  function addLine(cls, time, parts) {
    var list = $('messages');
    var li = el('li', cls);
    if (time) li.appendChild(el('span', 'time', shortTime(time)));
    parts.forEach(function (p) {
      li.appendChild(typeof p === 'string' ? document.createTextNode(p) : p);
    });
    var atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 30;
    list.appendChild(li);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }
  function system(time, text) { addLine('system', time, [text]); }
  function who(name) { return el('span', 'who', name); }

  function renderMembers() {
    var ul = $('members');
    var to = $('to');
    var selected = to.value;
    ul.textContent = '';
    to.textContent = '';
    to.appendChild(el('option', '', 'everyone')).value = 'all';
    members.forEach(function (name, id) {
      var li = el('li', id === myId ? 'me' : '', name);
      li.dataset.id = id;
      li.title = name;
      if (id !== myId) {
        li.addEventListener('click', function () { to.value = id; $('text').focus(); });
        var opt = el('option', '', name);
        opt.value = id;
        to.appendChild(opt);
      }
      ul.appendChild(li);
    });
    to.value = members.has(selected) && selected !== myId ? selected : 'all';
  }

  function onMessage(m) {
    switch (m.type) {
    case 'ping':
      send({type: 'pong'});
      break;
    case 'welcome':
      myId = m.client_id;
      me.room = m.room;
      members = new Map();
      members.set(m.client_id, m.name);
      (m.members || []).forEach(function (x) { members.set(x.client_id, x.name); });
      $('room-name').textContent = m.room;
      $('login').hidden = true;
      $('chat').hidden = false;
      document.title = m.room + ' · gatewayworker-c chat';
      renderMembers();
      system(m.time, 'You joined room ' + m.room + ' as ' + m.name + '.');
      $('text').focus();
      break;
    case 'login':
      members.set(m.client_id, m.name);
      renderMembers();
      system(m.time, m.name + ' joined.');
      break;
    case 'logout':
      members.delete(m.client_id);
      renderMembers();
      system(m.time, m.name + ' left.');
      break;
    case 'say':
      if (m.to_client_id === 'all') {
        addLine('public', m.time, [who(m.from_name), ': ' + m.content]);
      } else if (m.from_client_id === myId) {
        addLine('private', m.time, ['you → ', who(m.to_name), ' (private): ' + m.content]);
      } else {
        addLine('private', m.time, [who(m.from_name), ' → you (private): ' + m.content]);
      }
      break;
    case 'error':
      if (myId) addLine('error', '', ['Error: ' + m.message]);
      else { $('login-error').textContent = m.message; $('login-error').hidden = false; }
      break;
    }
  }

  function connect() {
    retry = null;
    setStatus(false, 'connecting…');
    ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/');
    ws.onopen = function () {
      setStatus(true, 'connected');
      if (me) send({type: 'login', name: me.name, room: me.room});
    };
    ws.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m && typeof m === 'object') onMessage(m);
    };
    ws.onclose = function () {
      setStatus(false, 'disconnected, retrying…');
      if (myId) system('', 'Connection lost; reconnecting…');
      myId = null;
      if (!retry) retry = setTimeout(connect, 2000);
    };
  }

  $('login').addEventListener('submit', function (ev) {
    ev.preventDefault();
    $('login-error').hidden = true;
    me = {name: $('name').value.trim(), room: $('room').value.trim() || 'lobby'};
    if (!send({type: 'login', name: me.name, room: me.room})) {
      $('login-error').textContent = 'Not connected yet; you will enter as soon as the connection is up.';
      $('login-error').hidden = false;
    }
  });

  $('say').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = $('text').value;
    if (!text.trim()) return;
    if (send({type: 'say', to_client_id: $('to').value, content: text})) $('text').value = '';
  });

  connect();
})();
