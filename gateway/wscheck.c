/* wscheck: the gateway's own connection check (/ws-check).
 *
 * A person behind the load balancer opens http(s)://HOST/ws-check in a
 * browser: the page (below, served by the gateway itself whatever webRoot
 * holds) opens a WebSocket back to /ws-check through whatever balancer is in
 * front, and the gateway — not a business worker, so the check works before
 * any application runs — answers each message with who answered and what
 * it saw: lanIp:port, process, pid, the client address after PROXY /
 * X-Forwarded-For, where that address came from, and the TCP peer. The page
 * measures the round trip. */
#include "wscheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

const char wscheck_page[] =
    "<!doctype html>\n"
    "<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
    "<title>WebSocket check · 连接检查</title>\n"
    "<style>\n"
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;padding:16px;background:#f6f4f0;color:#222}\n"
    "h1{font-size:20px;margin:0 0 12px}\n"
    "table{border-collapse:collapse;width:100%;max-width:640px;background:#fff}\n"
    "td{border-bottom:1px solid #eee;padding:8px 10px;vertical-align:top}\n"
    "td:first-child{color:#666;width:40%}\n"
    "#state{font-weight:bold}\n"
    ".ok{color:#17803d}.bad{color:#b00020}\n"
    "button{font-size:16px;padding:8px 16px;margin-top:12px}\n"
    "</style></head>\n"
    "<body>\n"
    "<h1>WebSocket 连接检查 · WebSocket check</h1>\n"
    "<table>\n"
    "<tr><td>状态 State</td><td id=\"state\">…</td></tr>\n"
    "<tr><td>地址 URL</td><td id=\"url\"></td></tr>\n"
    "<tr><td>应答的网关 Gateway (lanIp:port)</td><td id=\"gateway\"></td></tr>\n"
    "<tr><td>网关进程 Process / pid</td><td id=\"process\"></td></tr>\n"
    "<tr><td>网关看到的客户端地址 Client address seen</td><td id=\"client\"></td></tr>\n"
    "<tr><td>来源 Via (PROXY / X-Forwarded-For / direct)</td><td id=\"via\"></td></tr>\n"
    "<tr><td>TCP 对端 TCP peer</td><td id=\"peer\"></td></tr>\n"
    "<tr><td>往返延迟 Round trip (median of 5)</td><td id=\"rtt\"></td></tr>\n"
    "</table>\n"
    "<button id=\"again\" type=\"button\">再测一次 · Again</button>\n"
    "<script>\n"
    "(function () {\n"
    "  'use strict';\n"
    "  function $(id) { return document.getElementById(id); }\n"
    "  function set(id, text, cls) { var e = $(id); e.textContent = text; e.className = cls || ''; }\n"
    "  function run() {\n"
    "    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws-check';\n"
    "    set('url', url); set('state', '连接中 connecting…');\n"
    "    var ws, sent = [], rtts = [], n = 0;\n"
    "    try { ws = new WebSocket(url); } catch (e) { set('state', '失败 failed: ' + e, 'bad'); return; }\n"
    "    var timer = setTimeout(function () { set('state', '超时 timed out', 'bad'); try { ws.close(); } catch (e) {} }, 10000);\n"
    "    function ping() { sent[n] = Date.now(); ws.send(JSON.stringify({seq: n})); }\n"
    "    ws.onopen = function () { set('state', '已连接 connected, measuring…'); ping(); };\n"
    "    ws.onmessage = function (ev) {\n"
    "      var m; try { m = JSON.parse(ev.data); } catch (e) { return; }\n"
    "      if (m.type !== 'ws-check') return;\n"
    "      rtts.push(Date.now() - sent[n]);\n"
    "      set('gateway', m.gateway); set('process', m.process + ' / ' + m.pid);\n"
    "      set('client', m.client); set('via', m.via); set('peer', m.peer);\n"
    "      if (++n < 5) { ping(); return; }\n"
    "      clearTimeout(timer);\n"
    "      rtts.sort(function (a, b) { return a - b; });\n"
    "      set('rtt', rtts[2] + ' ms');\n"
    "      set('state', '正常 OK', 'ok');\n"
    "      ws.close();\n"
    "    };\n"
    "    ws.onerror = function () { set('state', '失败 failed (see the browser console)', 'bad'); };\n"
    "    ws.onclose = function (ev) { if (n < 5) { clearTimeout(timer); set('state', '已断开 closed: ' + ev.code, 'bad'); } };\n"
    "  }\n"
    "  $('again').onclick = run;\n"
    "  run();\n"
    "})();\n"
    "</script>\n"
    "</body></html>\n";

size_t wscheck_page_len(void) { return sizeof wscheck_page - 1; }

const char *wscheck_via_name(enum wscheck_via v)
{
    switch (v) {
    case WSCHECK_PROXY:
        return "PROXY protocol";
    case WSCHECK_XFF:
        return "X-Forwarded-For";
    case WSCHECK_DIRECT:
        break;
    }
    return "direct";
}

int wscheck_answer(const struct wscheck_info *i, const void *msg, size_t len, struct buf *out)
{
    /* The page sends {"seq":N}; anything else is answered without a seq. */
    long long seq = -1;
    if (len <= WSCHECK_MAX_MSG) {
        json_t *m = json_loadb(msg, len, 0, NULL);
        json_t *s = json_object_get(m, "seq");
        if (json_is_integer(s) && json_integer_value(s) >= 0)
            seq = json_integer_value(s);
        json_decref(m);
    }
    char gw[80], client[80], peer[80];
    snprintf(gw, sizeof gw, "%s:%u", i->lan_ip, i->lan_port);
    snprintf(client, sizeof client, i->client_port ? "%s:%u" : "%s", i->client_ip, i->client_port);
    snprintf(peer, sizeof peer, "%s:%u", i->peer_ip, i->peer_port);
    json_t *a = json_pack("{s:s,s:s,s:i,s:i,s:s,s:s,s:s}", "type", "ws-check", "gateway", gw, "process", i->process,
                          "pid", i->pid, "client", client, "via", wscheck_via_name(i->via), "peer", peer);
    if (!a)
        return -1;
    if (seq >= 0)
        json_object_set_new(a, "seq", json_integer(seq));
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    int r = text ? buf_append_str(out, text) : -1;
    free(text);
    return r;
}
