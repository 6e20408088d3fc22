/* wsconnect: the ON_WEBSOCKET_CONNECT body (spec §8, workerman 5) against the
 * golden vector of the real PHP gateway and vectors produced by PHP 8.2 with
 * workerman 5.2.2's Request and GatewayWorker's Gateway::onWebsocketConnect
 * (parse_str, parse_url, header joining and cookie corners), plus refusals,
 * limits and random input. */
#include "gateway/phpurl.h"
#include "gateway/wsconnect.h"

#include "phpser.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vec {
    const char *name;
    const char *head;
    size_t head_len;
    const char *ra;
    uint16_t rp, sp;
    const char *want;
    size_t want_len;
};

/* Produced by PHP 8.2.36: new Workerman\Protocols\Http\Request($head) (workerman
 * 5.2.2) turned into the array Gateway::onWebsocketConnect builds, serialize()d. */
static const struct vec vecs[] = {
    {"live handshake (live-ws-handshake-request.txt)",
     "GET /ws\?token=9f2c1e&room=annual-party&name=%E5%BC%A0%E4%B8%89 HTTP/1.1\r\nHost:"
        " 127.0.0.1:31240\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Ke"
        "y: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0."
        "0.1\r\nCookie: PHPSESSID=k3v9q2m1; lottery_uid=u1001; nick=%E5%BC%A0%E4%B8%89\r\n"
        "User-Agent: probe/1.0\r\n\r\n",
     332, "127.0.0.1", 40001, 31240,
     "a:3:{s:3:\"get\";a:3:{s:5:\"token\";s:6:\"9f2c1e\";s:4:\"room\";s:12:\"annual-par"
        "ty\";s:4:\"name\";s:6:\"\xe5\xbc\xa0\xe4\xb8\x89\";}s:6:\"server\";a:17:{s:12:\"Q"
        "UERY_STRING\";s:54:\"token=9f2c1e&room=annual-party&name=%E5%BC%A0%E4%B8%89\";s:1"
        "4:\"REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:58:\"/ws\?token=9f2c1e&ro"
        "om=annual-party&name=%E5%BC%A0%E4%B8%89\";s:15:\"SERVER_PROTOCOL\";s:8:\"HTTP/1.1"
        "\";s:11:\"SERVER_NAME\";s:15:\"127.0.0.1:31240\";s:12:\"CONTENT_TYPE\";N;s:11:\"R"
        "EMOTE_ADDR\";s:9:\"127.0.0.1\";s:11:\"REMOTE_PORT\";i:40001;s:11:\"SERVER_PORT\";"
        "i:31240;s:9:\"HTTP_HOST\";s:15:\"127.0.0.1:31240\";s:12:\"HTTP_UPGRADE\";s:9:\"we"
        "bsocket\";s:15:\"HTTP_CONNECTION\";s:7:\"Upgrade\";s:22:\"HTTP_SEC_WEBSOCKET_KEY\""
        ";s:24:\"dGhlIHNhbXBsZSBub25jZQ==\";s:26:\"HTTP_SEC_WEBSOCKET_VERSION\";s:2:\"13\""
        ";s:11:\"HTTP_ORIGIN\";s:16:\"http://127.0.0.1\";s:11:\"HTTP_COOKIE\";s:62:\"PHPSE"
        "SSID=k3v9q2m1; lottery_uid=u1001; nick=%E5%BC%A0%E4%B8%89\";s:15:\"HTTP_USER_AGEN"
        "T\";s:9:\"probe/1.0\";}s:6:\"cookie\";a:3:{s:9:\"PHPSESSID\";s:8:\"k3v9q2m1\";s:1"
        "1:\"lottery_uid\";s:5:\"u1001\";s:4:\"nick\";s:18:\"%E5%BC%A0%E4%B8%89\";}}",
     1018},
    {"no query",
     "GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\r\n",
     59, "10.0.0.1", 1, 8282,
     "a:3:{s:3:\"get\";a:0:{}s:6:\"server\";a:11:{s:12:\"QUERY_STRING\";s:0:\"\";s:14:\""
        "REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:3:\"/ws\";s:15:\"SERVER_PROTO"
        "COL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";s:11:\"example.com\";s:12:\"CONTENT_T"
        "YPE\";N;s:11:\"REMOTE_ADDR\";s:8:\"10.0.0.1\";s:11:\"REMOTE_PORT\";i:1;s:11:\"SER"
        "VER_PORT\";i:8282;s:9:\"HTTP_HOST\";s:11:\"example.com\";s:12:\"HTTP_UPGRADE\";s:"
        "9:\"websocket\";}s:6:\"cookie\";a:0:{}}",
     401},
    {"empty query after \?",
     "GET /ws\? HTTP/1.1\r\nHost: example.com\r\n\r\n",
     40, "10.0.0.1", 1, 8282,
     "a:3:{s:3:\"get\";a:0:{}s:6:\"server\";a:10:{s:12:\"QUERY_STRING\";s:0:\"\";s:14:\""
        "REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:4:\"/ws\?\";s:15:\"SERVER_PRO"
        "TOCOL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";s:11:\"example.com\";s:12:\"CONTENT"
        "_TYPE\";N;s:11:\"REMOTE_ADDR\";s:8:\"10.0.0.1\";s:11:\"REMOTE_PORT\";i:1;s:11:\"S"
        "ERVER_PORT\";i:8282;s:9:\"HTTP_HOST\";s:11:\"example.com\";}s:6:\"cookie\";a:0:{}"
        "}",
     366},
    {"query arrays and mangled names",
     "GET /ws\?m[k]=v&arr[]=1&arr[]=2&sp.a%20b=1&x=%26y%3D1&z=a%2Bb+c HTTP/1.1\r\nHost:"
        " h\r\n\r\n",
     84, "10.0.0.1", 2, 80,
     "a:3:{s:3:\"get\";a:5:{s:1:\"m\";a:1:{s:1:\"k\";s:1:\"v\";}s:3:\"arr\";a:2:{i:0;s:"
        "1:\"1\";i:1;s:1:\"2\";}s:6:\"sp_a_b\";s:1:\"1\";s:1:\"x\";s:4:\"&y=1\";s:1:\"z\";"
        "s:5:\"a+b c\";}s:6:\"server\";a:10:{s:12:\"QUERY_STRING\";s:54:\"m[k]=v&arr[]=1&a"
        "rr[]=2&sp.a%20b=1&x=%26y%3D1&z=a%2Bb+c\";s:14:\"REQUEST_METHOD\";s:3:\"GET\";s:11"
        ":\"REQUEST_URI\";s:58:\"/ws\?m[k]=v&arr[]=1&arr[]=2&sp.a%20b=1&x=%26y%3D1&z=a%2Bb"
        "+c\";s:15:\"SERVER_PROTOCOL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";s:1:\"h\";s:1"
        "2:\"CONTENT_TYPE\";N;s:11:\"REMOTE_ADDR\";s:8:\"10.0.0.1\";s:11:\"REMOTE_PORT\";i"
        ":2;s:11:\"SERVER_PORT\";i:80;s:9:\"HTTP_HOST\";s:1:\"h\";}s:6:\"cookie\";a:0:{}}",
     582},
    {"parse_str corners",
     "GET /\?a[b.c=1&+lead=2&a%00b=3&n[x%00y]=4&[a]=5&&e&f=&g[][]=1&g[][]=2&h[%20]=6&h["
        "+i]=7&j[b]c=8&k=1&k[]=9&l[]=1&l=10&p=%&q=%4g&r=%%41 HTTP/1.1\r\n\r\n",
     144, "::1", 65535, 65535,
     "a:3:{s:3:\"get\";a:14:{s:5:\"a_b_c\";s:1:\"1\";s:4:\"lead\";s:1:\"2\";s:1:\"a\";s"
        ":1:\"3\";s:3:\"n_x\";s:1:\"4\";s:1:\"e\";s:0:\"\";s:1:\"f\";s:0:\"\";s:1:\"g\";a:"
        "2:{i:0;a:1:{i:0;s:1:\"1\";}i:1;a:1:{i:0;s:1:\"2\";}}s:1:\"h\";a:2:{i:0;s:1:\"6\";"
        "s:2:\" i\";s:1:\"7\";}s:1:\"j\";a:1:{s:1:\"b\";s:1:\"8\";}s:1:\"k\";a:1:{i:0;s:1:"
        "\"9\";}s:1:\"l\";s:2:\"10\";s:1:\"p\";s:1:\"%\";s:1:\"q\";s:3:\"%4g\";s:1:\"r\";s"
        ":2:\"%A\";}s:6:\"server\";a:9:{s:12:\"QUERY_STRING\";s:125:\"a[b.c=1&+lead=2&a%00"
        "b=3&n[x%00y]=4&[a]=5&&e&f=&g[][]=1&g[][]=2&h[%20]=6&h[+i]=7&j[b]c=8&k=1&k[]=9&l[]"
        "=1&l=10&p=%&q=%4g&r=%%41\";s:14:\"REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI"
        "\";s:127:\"/\?a[b.c=1&+lead=2&a%00b=3&n[x%00y]=4&[a]=5&&e&f=&g[][]=1&g[][]=2&h[%2"
        "0]=6&h[+i]=7&j[b]c=8&k=1&k[]=9&l[]=1&l=10&p=%&q=%4g&r=%%41\";s:15:\"SERVER_PROTOC"
        "OL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";N;s:12:\"CONTENT_TYPE\";N;s:11:\"REMOT"
        "E_ADDR\";s:3:\"::1\";s:11:\"REMOTE_PORT\";i:65535;s:11:\"SERVER_PORT\";i:65535;}s"
        ":6:\"cookie\";a:0:{}}",
     894},
    {"int-like keys",
     "GET /\?5=a&05=b&-0=c&-3=d&9223372036854775807=e&9223372036854775808=f&-9223372036"
        "854775808=g&t[7]=x&t[]=y&t[-9]=z&u[-5]=a&u[]=b HTTP/1.1\r\nHost: h\r\n\r\n",
     148, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:9:{i:5;s:1:\"a\";s:2:\"05\";s:1:\"b\";s:2:\"-0\";s:1:\"c\";i:-"
        "3;s:1:\"d\";i:9223372036854775807;s:1:\"e\";s:19:\"9223372036854775808\";s:1:\"f\""
        ";i:-9223372036854775808;s:1:\"g\";s:1:\"t\";a:3:{i:7;s:1:\"x\";i:8;s:1:\"y\";i:-9"
        ";s:1:\"z\";}s:1:\"u\";a:2:{i:-5;s:1:\"a\";i:-4;s:1:\"b\";}}s:6:\"server\";a:10:{s"
        ":12:\"QUERY_STRING\";s:120:\"5=a&05=b&-0=c&-3=d&9223372036854775807=e&92233720368"
        "54775808=f&-9223372036854775808=g&t[7]=x&t[]=y&t[-9]=z&u[-5]=a&u[]=b\";s:14:\"REQ"
        "UEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:122:\"/\?5=a&05=b&-0=c&-3=d&9223"
        "372036854775807=e&9223372036854775808=f&-9223372036854775808=g&t[7]=x&t[]=y&t[-9]"
        "=z&u[-5]=a&u[]=b\";s:15:\"SERVER_PROTOCOL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\""
        ";s:1:\"h\";s:12:\"CONTENT_TYPE\";N;s:11:\"REMOTE_ADDR\";s:7:\"1.2.3.4\";s:11:\"RE"
        "MOTE_PORT\";i:5;s:11:\"SERVER_PORT\";i:6;s:9:\"HTTP_HOST\";s:1:\"h\";}s:6:\"cooki"
        "e\";a:0:{}}",
     828},
    {"append after INT64_MAX is dropped",
     "GET /\?x[9223372036854775807]=a&x[]=b&x[][]=c HTTP/1.1\r\n\r\n",
     57, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:1:{s:1:\"x\";a:1:{i:9223372036854775807;s:1:\"a\";}}s:6:\"serv"
        "er\";a:9:{s:12:\"QUERY_STRING\";s:38:\"x[9223372036854775807]=a&x[]=b&x[][]=c\";s"
        ":14:\"REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:40:\"/\?x[9223372036854"
        "775807]=a&x[]=b&x[][]=c\";s:15:\"SERVER_PROTOCOL\";s:8:\"HTTP/1.1\";s:11:\"SERVER"
        "_NAME\";N;s:12:\"CONTENT_TYPE\";N;s:11:\"REMOTE_ADDR\";s:7:\"1.2.3.4\";s:11:\"REM"
        "OTE_PORT\";i:5;s:11:\"SERVER_PORT\";i:6;}s:6:\"cookie\";a:0:{}}",
     429},
    {"repeated headers",
     "GET /ws HTTP/1.1\r\nHost: a.example\r\nX-A: 1\r\nhost: b.example:81\r\nX_A: 2\r\n"
        "x-a: 3\r\nCookie: a=1\r\nAccept: */*\r\nCOOKIE: b=2; a=3\r\nContent-Type: text/pl"
        "ain\r\ncontent-type: x\r\n\r\n",
     168, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:0:{}s:6:\"server\";a:14:{s:12:\"QUERY_STRING\";s:0:\"\";s:14:\""
        "REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:3:\"/ws\";s:15:\"SERVER_PROTO"
        "COL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";s:22:\"a.example,b.example:81\";s:12:"
        "\"CONTENT_TYPE\";s:12:\"text/plain,x\";s:11:\"REMOTE_ADDR\";s:7:\"1.2.3.4\";s:11:"
        "\"REMOTE_PORT\";i:5;s:11:\"SERVER_PORT\";i:6;s:9:\"HTTP_HOST\";s:22:\"a.example,b"
        ".example:81\";s:8:\"HTTP_X_A\";s:1:\"2\";s:11:\"HTTP_COOKIE\";s:12:\"a=1,b=2; a=3"
        "\";s:11:\"HTTP_ACCEPT\";s:3:\"*/*\";s:17:\"HTTP_CONTENT_TYPE\";s:12:\"text/plain,"
        "x\";}s:6:\"cookie\";a:1:{s:1:\"a\";s:1:\"3\";}}",
     553},
    {"whitespace around values",
     "GET /ws HTTP/1.1\r\nHost:\t h:1 \t\r\nX-Empty:\r\nX-Spaces:    \r\nX-In:  a  b\t "
        "c  \r\nX-Vt: \x0bv\x0b \r\n\r\n",
     89, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:0:{}s:6:\"server\";a:14:{s:12:\"QUERY_STRING\";s:0:\"\";s:14:\""
        "REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:3:\"/ws\";s:15:\"SERVER_PROTO"
        "COL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";s:3:\"h:1\";s:12:\"CONTENT_TYPE\";N;s"
        ":11:\"REMOTE_ADDR\";s:7:\"1.2.3.4\";s:11:\"REMOTE_PORT\";i:5;s:11:\"SERVER_PORT\""
        ";i:6;s:9:\"HTTP_HOST\";s:3:\"h:1\";s:12:\"HTTP_X_EMPTY\";s:0:\"\";s:13:\"HTTP_X_S"
        "PACES\";s:0:\"\";s:9:\"HTTP_X_IN\";s:7:\"a  b\t c\";s:9:\"HTTP_X_VT\";s:3:\"\x0bv"
        "\x0b\";}s:6:\"cookie\";a:0:{}}",
     454},
    {"no Host",
     "GET /ws\?a=1 HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
     44, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:1:{s:1:\"a\";s:1:\"1\";}s:6:\"server\";a:10:{s:12:\"QUERY_STRI"
        "NG\";s:3:\"a=1\";s:14:\"REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:7:\"/"
        "ws\?a=1\";s:15:\"SERVER_PROTOCOL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";N;s:12:\""
        "CONTENT_TYPE\";N;s:11:\"REMOTE_ADDR\";s:7:\"1.2.3.4\";s:11:\"REMOTE_PORT\";i:5;s:"
        "11:\"SERVER_PORT\";i:6;s:12:\"HTTP_UPGRADE\";s:9:\"websocket\";}s:6:\"cookie\";a:"
        "0:{}}",
     368},
    {"empty Host",
     "GET /ws HTTP/1.1\r\nHost:\r\n\r\n",
     27, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:0:{}s:6:\"server\";a:10:{s:12:\"QUERY_STRING\";s:0:\"\";s:14:\""
        "REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:3:\"/ws\";s:15:\"SERVER_PROTO"
        "COL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";s:0:\"\";s:12:\"CONTENT_TYPE\";N;s:11"
        ":\"REMOTE_ADDR\";s:7:\"1.2.3.4\";s:11:\"REMOTE_PORT\";i:5;s:11:\"SERVER_PORT\";i:"
        "6;s:9:\"HTTP_HOST\";s:0:\"\";}s:6:\"cookie\";a:0:{}}",
     337},
    {"cookies",
     "GET /ws HTTP/1.1\r\nCookie: a=1; b ; =empty; c==2;  d = 4 ;e=%41+;5=five;05=x;a=l"
        "ast;\t t\x0b=v;;x=\r\n\r\n",
     97, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:0:{}s:6:\"server\";a:10:{s:12:\"QUERY_STRING\";s:0:\"\";s:14:\""
        "REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:3:\"/ws\";s:15:\"SERVER_PROTO"
        "COL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";N;s:12:\"CONTENT_TYPE\";N;s:11:\"REMO"
        "TE_ADDR\";s:7:\"1.2.3.4\";s:11:\"REMOTE_PORT\";i:5;s:11:\"SERVER_PORT\";i:6;s:11:"
        "\"HTTP_COOKIE\";s:67:\"a=1; b ; =empty; c==2;  d = 4 ;e=%41+;5=five;05=x;a=last;\t"
        " t\x0b=v;;x=\";}s:6:\"cookie\";a:9:{s:1:\"a\";s:4:\"last\";s:0:\"\";s:5:\"empty\""
        ";s:1:\"c\";s:2:\"=2\";s:1:\"d\";s:3:\" 4 \";s:1:\"e\";s:4:\"%41+\";i:5;s:4:\"five"
        "\";s:2:\"05\";s:1:\"x\";s:1:\"t\";s:1:\"v\";s:1:\"x\";s:0:\"\";}}",
     558},
    {"cookie without any =",
     "GET /ws HTTP/1.1\r\nCookie: justtext; other\r\n\r\n",
     45, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:0:{}s:6:\"server\";a:10:{s:12:\"QUERY_STRING\";s:0:\"\";s:14:\""
        "REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:3:\"/ws\";s:15:\"SERVER_PROTO"
        "COL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";N;s:12:\"CONTENT_TYPE\";N;s:11:\"REMO"
        "TE_ADDR\";s:7:\"1.2.3.4\";s:11:\"REMOTE_PORT\";i:5;s:11:\"SERVER_PORT\";i:6;s:11:"
        "\"HTTP_COOKIE\";s:15:\"justtext; other\";}s:6:\"cookie\";a:0:{}}",
     351},
    {"parse_url fails: QUERY_STRING empty",
     "GET /ws:1/x\?a=1 HTTP/1.1\r\nHost: h\r\n\r\n",
     37, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:0:{}s:6:\"server\";a:10:{s:12:\"QUERY_STRING\";s:0:\"\";s:14:\""
        "REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:11:\"/ws:1/x\?a=1\";s:15:\"SE"
        "RVER_PROTOCOL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";s:1:\"h\";s:12:\"CONTENT_TY"
        "PE\";N;s:11:\"REMOTE_ADDR\";s:7:\"1.2.3.4\";s:11:\"REMOTE_PORT\";i:5;s:11:\"SERVE"
        "R_PORT\";i:6;s:9:\"HTTP_HOST\";s:1:\"h\";}s:6:\"cookie\";a:0:{}}",
     348},
    {"parse_url: fragment and second \?",
     "GET /p\?a=1#f\?b=2 HTTP/1.1\r\n\r\n",
     29, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:1:{s:1:\"a\";s:1:\"1\";}s:6:\"server\";a:9:{s:12:\"QUERY_STRIN"
        "G\";s:3:\"a=1\";s:14:\"REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:12:\"/"
        "p\?a=1#f\?b=2\";s:15:\"SERVER_PROTOCOL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";N;"
        "s:12:\"CONTENT_TYPE\";N;s:11:\"REMOTE_ADDR\";s:7:\"1.2.3.4\";s:11:\"REMOTE_PORT\""
        ";i:5;s:11:\"SERVER_PORT\";i:6;}s:6:\"cookie\";a:0:{}}",
     337},
    {"parse_url: authority-like target",
     "GET //h:8080/p\?a=1 HTTP/1.1\r\n\r\n",
     31, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:1:{s:1:\"a\";s:1:\"1\";}s:6:\"server\";a:9:{s:12:\"QUERY_STRIN"
        "G\";s:3:\"a=1\";s:14:\"REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:14:\"/"
        "/h:8080/p\?a=1\";s:15:\"SERVER_PROTOCOL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";N"
        ";s:12:\"CONTENT_TYPE\";N;s:11:\"REMOTE_ADDR\";s:7:\"1.2.3.4\";s:11:\"REMOTE_PORT\""
        ";i:5;s:11:\"SERVER_PORT\";i:6;}s:6:\"cookie\";a:0:{}}",
     339},
    {"absolute-form target",
     "GET http://h.example:81/ws\?a=1 HTTP/1.1\r\nHost: h.example:81\r\n\r\n",
     63, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:1:{s:1:\"a\";s:1:\"1\";}s:6:\"server\";a:10:{s:12:\"QUERY_STRI"
        "NG\";s:3:\"a=1\";s:14:\"REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:26:\""
        "http://h.example:81/ws\?a=1\";s:15:\"SERVER_PROTOCOL\";s:8:\"HTTP/1.1\";s:11:\"SE"
        "RVER_NAME\";s:12:\"h.example:81\";s:12:\"CONTENT_TYPE\";N;s:11:\"REMOTE_ADDR\";s:"
        "7:\"1.2.3.4\";s:11:\"REMOTE_PORT\";i:5;s:11:\"SERVER_PORT\";i:6;s:9:\"HTTP_HOST\""
        ";s:12:\"h.example:81\";}s:6:\"cookie\";a:0:{}}",
     406},
    {"HTTP/1.0 and HTTP/ in target",
     "GET /HTTP/x\?v=HTTP/2 HTTP/1.0\r\n\r\n",
     33, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:1:{s:1:\"v\";s:6:\"HTTP/2\";}s:6:\"server\";a:9:{s:12:\"QUERY_"
        "STRING\";s:8:\"v=HTTP/2\";s:14:\"REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\""
        ";s:16:\"/HTTP/x\?v=HTTP/2\";s:15:\"SERVER_PROTOCOL\";s:24:\"HTTP/x\?v=HTTP/2 HTTP"
        "/1.0\";s:11:\"SERVER_NAME\";N;s:12:\"CONTENT_TYPE\";N;s:11:\"REMOTE_ADDR\";s:7:\""
        "1.2.3.4\";s:11:\"REMOTE_PORT\";i:5;s:11:\"SERVER_PORT\";i:6;}s:6:\"cookie\";a:0:{"
        "}}",
     368},
    {"raw UTF-8 and bytes in target and values",
     "GET /\xe5\xbc\xa0\?n=\xe5\xbc\xa0&m=%FF HTTP/1.1\r\nX-U: \xe5\xbc\xa0\x01\x7f\r\n"
        "\r\n",
     45, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:2:{s:1:\"n\";s:3:\"\xe5\xbc\xa0\";s:1:\"m\";s:1:\"\xff\";}s:6:"
        "\"server\";a:10:{s:12:\"QUERY_STRING\";s:11:\"n=\xe5\xbc\xa0&m=%FF\";s:14:\"REQUE"
        "ST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:16:\"/\xe5\xbc\xa0\?n=\xe5\xbc\xa0&"
        "m=%FF\";s:15:\"SERVER_PROTOCOL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";N;s:12:\"C"
        "ONTENT_TYPE\";N;s:11:\"REMOTE_ADDR\";s:7:\"1.2.3.4\";s:11:\"REMOTE_PORT\";i:5;s:1"
        "1:\"SERVER_PORT\";i:6;s:8:\"HTTP_X_U\";s:5:\"\xe5\xbc\xa0\x01\x7f\";}s:6:\"cookie"
        "\";a:0:{}}",
     396},
    {"only the head is used",
     "GET /ws HTTP/1.1\r\nHost: h\r\n\r\nGET /other HTTP/1.1\r\nX: y\r\n\r\n",
     58, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:0:{}s:6:\"server\";a:10:{s:12:\"QUERY_STRING\";s:0:\"\";s:14:\""
        "REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:3:\"/ws\";s:15:\"SERVER_PROTO"
        "COL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";s:1:\"h\";s:12:\"CONTENT_TYPE\";N;s:1"
        "1:\"REMOTE_ADDR\";s:7:\"1.2.3.4\";s:11:\"REMOTE_PORT\";i:5;s:11:\"SERVER_PORT\";i"
        ":6;s:9:\"HTTP_HOST\";s:1:\"h\";}s:6:\"cookie\";a:0:{}}",
     339},
    {"arrays replaced by strings and back, deleted and re-added",
     "GET /\?a[b]=1&a=2&a[c]=3&a[b][]=4&a[b]=5&a[b][x]=6&d[1]=1&d[]=2&d=3&d[]=4&e[b]=1&"
        "e[x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x"
        "][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x"
        "][x][x][x][x][x][x][x][x][x][x][x]=7&e[c]=2 HTTP/1.1\r\n\r\n",
     298, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:3:{s:1:\"a\";a:2:{s:1:\"c\";s:1:\"3\";s:1:\"b\";a:1:{s:1:\"x\""
        ";s:1:\"6\";}}s:1:\"d\";a:1:{i:0;s:1:\"4\";}s:1:\"e\";a:1:{s:1:\"c\";s:1:\"2\";}}s"
        ":6:\"server\";a:9:{s:12:\"QUERY_STRING\";s:279:\"a[b]=1&a=2&a[c]=3&a[b][]=4&a[b]="
        "5&a[b][x]=6&d[1]=1&d[]=2&d=3&d[]=4&e[b]=1&e[x][x][x][x][x][x][x][x][x][x][x][x][x"
        "][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x"
        "][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x]=7&e["
        "c]=2\";s:14:\"REQUEST_METHOD\";s:3:\"GET\";s:11:\"REQUEST_URI\";s:281:\"/\?a[b]=1"
        "&a=2&a[c]=3&a[b][]=4&a[b]=5&a[b][x]=6&d[1]=1&d[]=2&d=3&d[]=4&e[b]=1&e[x][x][x][x]"
        "[x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x]"
        "[x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x]"
        "[x][x][x][x][x][x][x]=7&e[c]=2\";s:15:\"SERVER_PROTOCOL\";s:8:\"HTTP/1.1\";s:11:\""
        "SERVER_NAME\";N;s:12:\"CONTENT_TYPE\";N;s:11:\"REMOTE_ADDR\";s:7:\"1.2.3.4\";s:11"
        ":\"REMOTE_PORT\";i:5;s:11:\"SERVER_PORT\";i:6;}s:6:\"cookie\";a:0:{}}",
     985},
    {"nesting",
     "GET /\?z=1&a=2&a[b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b"
        "][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b"
        "][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b]=1&c=3&c[][][][][][][][][][][][][]["
        "][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][]"
        "[][][][][][][][][][][]=1&y=2 HTTP/1.1\r\n\r\n",
     364, "1.2.3.4", 5, 6,
     "a:3:{s:3:\"get\";a:3:{s:1:\"z\";s:1:\"1\";s:1:\"a\";a:1:{s:1:\"b\";a:1:{s:1:\"b\""
        ";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{"
        "s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\""
        "b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:"
        "1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1"
        ":\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\""
        ";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{"
        "s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\""
        "b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:"
        "1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1"
        ":\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\""
        ";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";a:1:{"
        "s:1:\"b\";a:1:{s:1:\"b\";a:1:{s:1:\"b\";s:1:\"1\";}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}"
        "}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}s:1:\"y\";s:1:\"2\";}s:6:\"server\";a:9:{s:12:\""
        "QUERY_STRING\";s:345:\"z=1&a=2&a[b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b]["
        "b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b]["
        "b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b]=1&c=3&c[][][][][]["
        "][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][]"
        "[][][][][][][][][][][][][][][][][][][]=1&y=2\";s:14:\"REQUEST_METHOD\";s:3:\"GET\""
        ";s:11:\"REQUEST_URI\";s:347:\"/\?z=1&a=2&a[b][b][b][b][b][b][b][b][b][b][b][b][b]"
        "[b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b]"
        "[b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b][b]=1&c=3&c["
        "][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][]"
        "[][][][][][][][][][][][][][][][][][][][][][][][]=1&y=2\";s:15:\"SERVER_PROTOCOL\""
        ";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";N;s:12:\"CONTENT_TYPE\";N;s:11:\"REMOTE_AD"
        "DR\";s:7:\"1.2.3.4\";s:11:\"REMOTE_PORT\";i:5;s:11:\"SERVER_PORT\";i:6;}s:6:\"coo"
        "kie\";a:0:{}}",
     1945},
};

/* Builds the body; returns its malloc'd bytes (NUL-terminated) or NULL with err set. */
static char *body(const char *head, size_t len, const char *ra, uint16_t rp, uint16_t sp, size_t *outlen,
                  char *err, size_t errlen)
{
    struct buf b = BUF_INIT;
    if (wsconnect_body(head, len, ra, rp, sp, &b, err, errlen) != 0) {
        CHECKF(b.len == 0, "failed call left %zu bytes in out", b.len);
        buf_free(&b);
        return NULL;
    }
    char *r = malloc(b.len + 1);
    memcpy(r, b.data, b.len);
    r[b.len] = '\0';
    *outlen = b.len;
    buf_free(&b);
    return r;
}

static char *body_s(const char *head, size_t *outlen)
{
    char err[200];
    char *r = body(head, strlen(head), "1.2.3.4", 5, 6, outlen, err, sizeof err);
    CHECKF(r != NULL, "refused: %s", err);
    return r;
}

/* The serialized body must also be what phpser_decode accepts: a:3 of get, server, cookie. */
static int decodes(const char *b, size_t n)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 4096);
    msgpack_object o;
    char err[200];
    /* get may nest 64 arrays under body and get: deeper than phpser's default */
    struct phpser_limits lim = {WSCONNECT_MAX_NESTING + 3, 0};
    int ok = phpser_decode((const uint8_t *)b, n, &z, &o, &lim, err, sizeof err) == 0 &&
             o.type == MSGPACK_OBJECT_MAP && o.via.map.size == 3;
    msgpack_zone_destroy(&z);
    return ok;
}

/* ------------------------------------------------------------- golden */

static void test_golden(void)
{
    json_t *c = tu_fixture_case("on_websocket_connect");
    CHECKF(c != NULL, "fixture case on_websocket_connect missing");
    if (!c)
        return;
    json_t *f = json_object_get(c, "fields");
    const char *req = json_string_value(json_object_get(c, "handshake_request"));
    const char *want = json_string_value(json_object_get(f, "body_serialized"));
    const char *ip = json_string_value(json_object_get(f, "client_ip"));
    CHECKF(req && want && ip, "fixture lacks handshake_request/body_serialized/client_ip");
    if (!req || !want || !ip)
        return;
    uint16_t rp = (uint16_t)json_integer_value(json_object_get(f, "client_port"));
    uint16_t sp = (uint16_t)json_integer_value(json_object_get(f, "gateway_port"));
    size_t n = 0;
    char err[200];
    char *got = body(req, strlen(req), ip, rp, sp, &n, err, sizeof err);
    CHECKF(got != NULL, "golden request refused: %s", err);
    if (!got)
        return;
    CHECKF(n == strlen(want) && memcmp(got, want, n) == 0, "golden body differs:\n got %s\nwant %s", got, want);

    /* and the frame file: the body is the last body_len bytes (ext_len 0) */
    size_t fl = 0;
    uint8_t *frame = tu_read_hex_fixture(json_string_value(json_object_get(c, "file")), &fl);
    size_t bl = (size_t)json_integer_value(json_object_get(f, "body_len"));
    CHECKF(frame && bl == n && fl >= bl && memcmp(frame + fl - bl, got, n) == 0,
           "body differs from the bytes of %s", json_string_value(json_object_get(c, "file")));
    CHECKF(decodes(got, n), "golden body does not decode");

    /* wsconnect_head_len finds it at every split */
    size_t rl = strlen(req);
    for (size_t i = 0; i < rl; i++)
        CHECKF(wsconnect_head_len(req, i) == 0, "head_len(%zu bytes) = %zu, want 0", i,
               wsconnect_head_len(req, i));
    CHECKF(wsconnect_head_len(req, rl) == rl, "head_len of the whole request");
    free(frame);
    free(got);
}

static void test_php_vectors(void)
{
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
        const struct vec *v = &vecs[i];
        size_t n = 0;
        char err[200];
        char *got = body(v->head, v->head_len, v->ra, v->rp, v->sp, &n, err, sizeof err);
        CHECKF(got != NULL, "%s: refused: %s", v->name, err);
        if (!got)
            continue;
        CHECKF(n == v->want_len && memcmp(got, v->want, n) == 0, "%s:\n got %s\nwant %.*s", v->name, got,
               (int)v->want_len, v->want);
        CHECKF(decodes(got, n), "%s: does not decode", v->name);
        free(got);
    }
}

/* --------------------------------------------------- specific behaviour */

static void expect_has(const char *what, const char *b, const char *needle)
{
    CHECKF(b && strstr(b, needle), "%s: %s\n  not in %s", what, needle, b ? b : "(null)");
}

static void test_shapes(void)
{
    size_t n;
    char *b = body_s("GET /ws HTTP/1.1\r\nHost: h\r\n\r\n", &n);
    expect_has("no query", b, "s:3:\"get\";a:0:{}");
    expect_has("no query", b, "s:12:\"QUERY_STRING\";s:0:\"\";");
    expect_has("no Content-Type", b, "s:12:\"CONTENT_TYPE\";N;");
    expect_has("ports are ints", b, "s:11:\"REMOTE_PORT\";i:5;s:11:\"SERVER_PORT\";i:6;");
    expect_has("no cookie", b, "s:6:\"cookie\";a:0:{}}");
    free(b);

    b = body_s("GET /?m[k]=v&arr[]=1&arr[]=2&sp.a%20b=1&x=%26y%3D1&z=a%2Bb+c HTTP/1.1\r\n\r\n", &n);
    expect_has("arrays, mangled names", b,
               "s:3:\"get\";a:5:{s:1:\"m\";a:1:{s:1:\"k\";s:1:\"v\";}s:3:\"arr\";a:2:{i:0;s:1:\"1\";i:1;s:1:\"2\";}"
               "s:6:\"sp_a_b\";s:1:\"1\";s:1:\"x\";s:4:\"&y=1\";s:1:\"z\";s:5:\"a+b c\";}");
    free(b);

    b = body_s("GET /?5=a&05=b&-0=c&-3=d&5=e HTTP/1.1\r\n\r\n", &n);
    expect_has("int-like keys, last wins in place", b,
               "a:4:{i:5;s:1:\"e\";s:2:\"05\";s:1:\"b\";s:2:\"-0\";s:1:\"c\";i:-3;s:1:\"d\";}");
    free(b);

    b = body_s("GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\nX_A: 3\r\n\r\n", &n);
    expect_has("repeats joined, X_A overwrites HTTP_X_A in place", b,
               "s:8:\"HTTP_X_A\";s:1:\"3\";}");
    expect_has("one HTTP_X_A entry", b, "\"server\";a:10:{");
    free(b);

    b = body_s("GET / HTTP/1.1\r\nHost: a\r\nHost: b:1\r\n\r\n", &n);
    expect_has("repeated Host", b, "s:11:\"SERVER_NAME\";s:5:\"a,b:1\";");
    free(b);

    b = body_s("GET / HTTP/1.1\r\nX:  \t lead and trail \t \r\n\r\n", &n);
    expect_has("value trimmed of spaces/tabs", b, "s:6:\"HTTP_X\";s:14:\"lead and trail\";");
    free(b);

    b = body_s("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", &n);
    expect_has("no Host", b, "s:11:\"SERVER_NAME\";N;");
    free(b);

    b = body_s("GET / HTTP/1.1\r\nCookie: a=1; b ; c==2;  d = 4 ;5=five;e=%41;a=9\r\n\r\n", &n);
    expect_has("cookies", b,
               "s:6:\"cookie\";a:5:{s:1:\"a\";s:1:\"9\";s:1:\"c\";s:2:\"=2\";s:1:\"d\";s:3:\" 4 \";i:5;s:4:\"five\";"
               "s:1:\"e\";s:3:\"%41\";}}");
    free(b);
}

static void test_limits(void)
{
    struct buf q = BUF_INIT;
    size_t n;

    /* max_input_vars: the 1001st var and later are ignored */
    buf_append_str(&q, "GET /?");
    for (int i = 0; i < 1005; i++)
        buf_printf(&q, "%sv%d=1", i ? "&" : "", i);
    buf_append_str(&q, " HTTP/1.1\r\n\r\n");
    buf_append(&q, "", 1);
    char *b = body_s((const char *)q.data, &n);
    expect_has("1000 vars", b, "s:3:\"get\";a:1000:{s:2:\"v0\";");
    expect_has("1000 vars", b, "s:4:\"v999\";s:1:\"1\";}");
    CHECKF(b && !strstr(b, "s:5:\"v1000\""), "v1000 kept");
    free(b);
    buf_free(&q);

    /* max_input_nesting_level: 64 levels kept, 65 remove the top-level name */
    buf_append_str(&q, "GET /?z=1&a=2&a");
    for (int i = 0; i < 64; i++)
        buf_append_str(&q, "[b]");
    buf_append_str(&q, "=1&c=3&c");
    for (int i = 0; i < 65; i++)
        buf_append_str(&q, "[]");
    buf_append_str(&q, "=1&y=2 HTTP/1.1\r\n\r\n");
    buf_append(&q, "", 1);
    b = body_s((const char *)q.data, &n);
    expect_has("nesting", b, "s:3:\"get\";a:3:{s:1:\"z\";s:1:\"1\";s:1:\"a\";a:1:{s:1:\"b\";a:1:{");
    char tail[200] = "s:1:\"b\";s:1:\"1\";";
    memset(tail + strlen(tail), '}', 64); /* the 64 arrays under "a" */
    strcat(tail, "s:1:\"y\";s:1:\"2\";}");
    expect_has("nesting", b, tail);
    CHECKF(b && !strstr(b, "s:1:\"c\""), "c nested 65 deep was kept");
    CHECKF(b && decodes(b, n), "nesting: does not decode");
    free(b);
    buf_free(&q);

    /* 100 header lines pass, 101 do not */
    for (int extra = 0; extra < 2; extra++) {
        buf_append_str(&q, "GET / HTTP/1.1\r\n");
        for (int i = 0; i < 100 + extra; i++)
            buf_printf(&q, "X-H%d: %d\r\n", i, i);
        buf_append_str(&q, "\r\n");
        char err[200] = "";
        b = body((const char *)q.data, q.len, "1.2.3.4", 5, 6, &n, err, sizeof err);
        if (extra == 0) {
            CHECKF(b != NULL, "100 headers refused: %s", err);
            expect_has("100 headers", b, "\"server\";a:109:{");
        } else {
            CHECKF(b == NULL && strstr(err, "header lines"), "101 headers: %s", b ? "accepted" : err);
        }
        free(b);
        buf_free(&q);
    }

    /* a 16 KiB head passes, one byte more does not */
    for (int extra = 0; extra < 2; extra++) {
        const char *pre = "GET / HTTP/1.1\r\nX-Big: ";
        size_t fill = WSCONNECT_MAX_HEAD - strlen(pre) - 4 + (size_t)extra;
        buf_append_str(&q, pre);
        uint8_t *d = buf_reserve(&q, fill);
        memset(d, 'x', fill);
        buf_commit(&q, fill);
        buf_append_str(&q, "\r\n\r\n");
        char err[200] = "";
        b = body((const char *)q.data, q.len, "1.2.3.4", 5, 6, &n, err, sizeof err);
        if (extra == 0)
            CHECKF(b != NULL && q.len == WSCONNECT_MAX_HEAD, "16 KiB head refused: %s", err);
        else
            CHECKF(b == NULL && strstr(err, "longer"), "16 KiB + 1 head: %s", b ? "accepted" : err);
        free(b);
        buf_free(&q);
    }
}

static void test_refused(void)
{
    static const struct {
        const char *head, *reason;
    } bad[] = {
        {"GET / HTTP/1.1\r\nHost: h\r\n", "blank line"},
        {"GET / HTTP/1.1\r\nHost: h\r\n\r", "blank line"},
        {"", "blank line"},
        {"POST / HTTP/1.1\r\nHost: h\r\n\r\n", "GET"},
        {"GETX / HTTP/1.1\r\n\r\n", "GET"},
        {"get / HTTP/1.1\r\n\r\n", "GET"},
        {"\r\n\r\n", "GET"},
        {"GET /\r\n\r\n", "request line"},
        {"GET / HTTP/2.0\r\n\r\n", "request line"},
        {"GET / HTTP/1.1 \r\n\r\n", "request line"},
        {"GET  / HTTP/1.1\r\n\r\n", "request line"},
        {"GET / x HTTP/1.1\r\n\r\n", "request line"},
        {"GET /\t HTTP/1.1\r\n\r\n", "control"},
        {"GET /\x7f HTTP/1.1\r\n\r\n", "control"},
        {"GET / HTTP/1.1\r\nHost h\r\n\r\n", "header line 1"},
        {"GET / HTTP/1.1\r\nHost: h\r\nno colon here\r\n\r\n", "header line 2"},
        {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", "header line 1"},
        {"GET / HTTP/1.1\r\n: h\r\n\r\n", "header line 1"},
        {"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", "header line 2"},
        {"GET / HTTP/1.1\r\nX\x80: h\r\n\r\n", "header line 1"},
        {"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", "CR, LF or NUL"},
        {"GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n", "CR, LF or NUL"},
    };
    struct buf out = BUF_INIT;
    buf_append_str(&out, "keep");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[200] = "x";
        int rc = wsconnect_body(bad[i].head, strlen(bad[i].head), "1.2.3.4", 5, 6, &out, err, sizeof err);
        CHECKF(rc == -1 && strstr(err, bad[i].reason), "case %zu (%s): rc %d err \"%s\", want \"%s\"", i,
               bad[i].head, rc, err, bad[i].reason);
        CHECKF(out.len == 4 && memcmp(out.data, "keep", 4) == 0, "case %zu: out changed", i);
    }
    /* NUL in a value (strlen cannot pass it) */
    static const char nul[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    char err[200] = "";
    CHECKF(wsconnect_body(nul, sizeof nul - 1, "1.2.3.4", 5, 6, &out, err, sizeof err) == -1 &&
               strstr(err, "NUL"),
           "NUL in value: %s", err);
    /* err may be NULL or empty */
    CHECKF(wsconnect_body("x", 1, "1.2.3.4", 5, 6, &out, NULL, 0) == -1, "NULL err");
    CHECKF(out.len == 4, "out changed");

    /* a good head appends after what is there */
    const char *ok = "GET / HTTP/1.1\r\n\r\n";
    CHECKF(wsconnect_body(ok, strlen(ok), NULL, 0, 0, &out, err, sizeof err) == 0, "append: %s", err);
    CHECKF(out.len > 4 && memcmp(out.data, "keepa:3:{", 9) == 0, "prefix lost");
    buf_free(&out);
}

static void test_head_len(void)
{
    CHECKF(wsconnect_head_len("", 0) == 0, "empty");
    CHECKF(wsconnect_head_len("\r\n\r", 3) == 0, "3 bytes");
    CHECKF(wsconnect_head_len("\r\n\r\n", 4) == 4, "blank line only");
    CHECKF(wsconnect_head_len("GET / HTTP/1.1\r\n\r\nrest", 22) == 18, "with bytes after it");
    CHECKF(wsconnect_head_len("GET / HTTP/1.1\r\n\r\n", 17) == 0, "one byte short");
    CHECKF(wsconnect_head_len("GET / HTTP/1.1\n\n", 16) == 0, "LF only is not a head end");
}

/* ------------------------------------- from lws' parsed values (wss) */

/* wsconnect_body_parsed: what wsconnect_body_lws builds from the values lws
 * parsed; byte for byte, after what out held. */
static void test_parsed(void)
{
    const char *args[] = {"room=1", "flag"};
    const char *names[] = {"user-agent:", "bogus", "x-forwarded-for:", ""};
    const char *values[] = {"UA", "skipped: no ':'", "1.2.3.4", "skipped: empty name"};
    const struct wsconnect_parsed p = {
        .args = args,
        .nargs = 2,
        .uri = "/chat",
        .host = "h:1",
        .cookie = " sid = a b;;noeq; x=1=2",
        .hdr_names = names,
        .hdr_values = values,
        .nhdrs = 4,
    };
    static const char want[] =
        "keepa:3:{s:3:\"get\";a:2:{s:4:\"room\";s:1:\"1\";s:4:\"flag\";s:0:\"\";}"
        "s:6:\"server\";a:11:{s:12:\"QUERY_STRING\";s:11:\"room=1&flag\";s:14:\"REQUEST_METHOD\";s:3:\"GET\";"
        "s:11:\"REQUEST_URI\";s:17:\"/chat?room=1&flag\";s:15:\"SERVER_PROTOCOL\";s:8:\"HTTP/1.1\";"
        "s:11:\"SERVER_NAME\";s:3:\"h:1\";s:12:\"CONTENT_TYPE\";N;s:11:\"REMOTE_ADDR\";s:8:\"10.0.0.1\";"
        "s:11:\"REMOTE_PORT\";i:5;s:11:\"SERVER_PORT\";i:8282;s:15:\"HTTP_USER_AGENT\";s:2:\"UA\";"
        "s:20:\"HTTP_X_FORWARDED_FOR\";s:7:\"1.2.3.4\";}"
        "s:6:\"cookie\";a:2:{s:3:\"sid\";s:4:\" a b\";s:1:\"x\";s:3:\"1=2\";}}";
    struct buf out = BUF_INIT;
    CHECKF(buf_append(&out, "keep", 4) == 0, "append");
    CHECKF(wsconnect_body_parsed(&p, "10.0.0.1", 5, 8282, &out) == 0, "parsed body");
    CHECKF(out.len == sizeof want - 1 && memcmp(out.data, want, out.len) == 0, "parsed body: %.*s", (int)out.len,
           (const char *)out.data);
    CHECKF(decodes((const char *)out.data + 4, out.len - 4), "parsed body does not decode");
    buf_free(&out);

    /* nothing parsed: "/" and no Host */
    const struct wsconnect_parsed none = {0};
    static const char want0[] =
        "a:3:{s:3:\"get\";a:0:{}s:6:\"server\";a:9:{s:12:\"QUERY_STRING\";s:0:\"\";s:14:\"REQUEST_METHOD\";"
        "s:3:\"GET\";s:11:\"REQUEST_URI\";s:1:\"/\";s:15:\"SERVER_PROTOCOL\";s:8:\"HTTP/1.1\";s:11:\"SERVER_NAME\";N;"
        "s:12:\"CONTENT_TYPE\";N;s:11:\"REMOTE_ADDR\";s:0:\"\";s:11:\"REMOTE_PORT\";i:0;s:11:\"SERVER_PORT\";i:0;}"
        "s:6:\"cookie\";a:0:{}}";
    CHECKF(wsconnect_body_parsed(&none, NULL, 0, 0, &out) == 0, "empty parsed body");
    CHECKF(out.len == sizeof want0 - 1 && memcmp(out.data, want0, out.len) == 0, "empty parsed body: %.*s",
           (int)out.len, (const char *)out.data);
    buf_free(&out);
}

/* ------------------------------------------------------- random input */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Random bytes and mutations of valid requests, each in an exactly-sized heap
 * block so ASan sees any read past len; every success must decode. */
static void test_random(void)
{
    static const char *seeds[] = {
        "GET /ws?token=9f2c1e&a[b][]=1&c[=2&d%5B%5D=3 HTTP/1.1\r\nHost: h:1\r\nCookie: a=1; b\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
        "GET //u@h:0/p?x[]=1#f HTTP/1.0\r\nCookie: =;;5=x\r\n\r\n",
        "GET http://h/p?%zz=%4&+.[ ]=1 HTTP/1.1\r\n\r\n",
    };
    static const char alphabet[] = "GET /?&=[]%+.: \r\n\t;,HTTP/1.1#@-_05aZ\x80\xff";
    size_t accepted = 0, refused = 0;
    int fails = 0;
    for (int iter = 0; iter < 40000 && fails < 5; iter++) {
        size_t len;
        char *p;
        if (iter % 4 == 0) {
            len = rnd() % 300;
            p = malloc(len ? len : 1);
            for (size_t i = 0; i < len; i++)
                p[i] = (rnd() % 3) ? alphabet[rnd() % (sizeof alphabet - 1)] : (char)rnd();
        } else {
            const char *s = seeds[rnd() % 3];
            size_t sl = strlen(s);
            len = sl;
            p = malloc(sl + 8);
            memcpy(p, s, sl);
            int muts = 1 + (int)(rnd() % 4);
            for (int m = 0; m < muts; m++) {
                size_t at = rnd() % (len ? len : 1);
                switch (rnd() % 3) {
                case 0:
                    p[at] = alphabet[rnd() % (sizeof alphabet - 1)];
                    break;
                case 1:
                    p[at] = (char)rnd();
                    break;
                default:
                    len = at; /* truncate */
                }
            }
            if (rnd() % 2 && len + 4 <= sl + 8) {
                memcpy(p + len, "\r\n\r\n", 4); /* most inputs should get past the framing */
                len += 4;
            }
            char *exact = malloc(len ? len : 1);
            memcpy(exact, p, len);
            free(p);
            p = exact;
        }
        struct buf out = BUF_INIT;
        char err[200] = "";
        int rc = wsconnect_body(p, len, "1.2.3.4", (uint16_t)rnd(), (uint16_t)rnd(), &out, err, sizeof err);
        if (rc == 0) {
            accepted++;
            if (!decodes((const char *)out.data, out.len)) {
                fails++;
                CHECKF(0, "random input %d: accepted body does not decode", iter);
            }
        } else {
            refused++;
            if (out.len != 0 || err[0] == '\0') {
                fails++;
                CHECKF(0, "random input %d: refused with out.len %zu, err \"%s\"", iter, out.len, err);
            }
        }
        size_t hl = wsconnect_head_len(p, len);
        if (hl > len || (hl && memcmp(p + hl - 4, "\r\n\r\n", 4) != 0)) {
            fails++;
            CHECKF(0, "random input %d: head_len %zu of %zu", iter, hl, len);
        }
        buf_free(&out);
        free(p);
    }
    CHECKF(fails == 0, "random inputs failed");
    CHECKF(accepted > 1000 && refused > 1000, "random mix too one-sided: %zu accepted, %zu refused", accepted,
           refused);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite golden = CU_add_suite("wsconnect vectors", NULL, NULL);
    CU_add_test(golden, "golden on_websocket_connect byte for byte", test_golden);
    CU_add_test(golden, "PHP 8.2 + workerman 5.2.2 vectors", test_php_vectors);

    CU_pSuite beh = CU_add_suite("wsconnect behaviour", NULL, NULL);
    CU_add_test(beh, "get/server/cookie shapes", test_shapes);
    CU_add_test(beh, "PHP limits and ours", test_limits);
    CU_add_test(beh, "refused heads", test_refused);
    CU_add_test(beh, "wsconnect_head_len", test_head_len);
    CU_add_test(beh, "random input", test_random);
    CU_add_test(beh, "body from lws' parsed values", test_parsed);
    return tu_run("test_wsconnect");
}
