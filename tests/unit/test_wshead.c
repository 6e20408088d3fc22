/* wshead_check (the opening handshake lws would take wrongly) and
 * utf8_complete_prefix (text checked piece by piece as it arrives). */
#include "../../gateway/wshead.c"
#include "utf8.h"
#include "tu.h"
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#define UP "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"

static int check(const char *head)
{
    char why[96];
    return wshead_check(head, strlen(head), why, sizeof why);
}

static void test_handshakes(void)
{
    CU_ASSERT_EQUAL(check(UP "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"), 0);
    CU_ASSERT_EQUAL(check(UP "sec-websocket-key:dGhlIHNhbXBsZSBub25jZQ==  \r\nSEC-WEBSOCKET-VERSION:13\r\n\r\n"), 0);
    CU_ASSERT_EQUAL(check(UP "Sec-WebSocket-Version: 13\r\n\r\n"), 400);
    CU_ASSERT_EQUAL(check(UP "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n"), 400);
    CU_ASSERT_EQUAL(check(UP "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\nSec-WebSocket-Version: 13\r\n\r\n"), 400);
    CU_ASSERT_EQUAL(check(UP "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j!Q==\r\nSec-WebSocket-Version: 13\r\n\r\n"), 400);
    CU_ASSERT_EQUAL(check(UP "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"), 426);
    CU_ASSERT_EQUAL(check(UP "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"), 426);
    CU_ASSERT_EQUAL(check(UP "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 130\r\n\r\n"), 426);
    /* Not an upgrade: plain HTTP is lws's to answer. */
    CU_ASSERT_EQUAL(check("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CU_ASSERT_EQUAL(wshead_upgrade("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 33), 0);
    CU_ASSERT_EQUAL(wshead_upgrade(UP "\r\n", strlen(UP "\r\n")), 1);
    CU_ASSERT_EQUAL(wshead_upgrade("GET / HTTP/1.1\r\nupgrade:  WebSocket \r\n\r\n", 40), 1);
    CU_ASSERT_EQUAL(wshead_upgrade("GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n", 32), 0);
    char resp[320];
    size_t n = wshead_response(426, resp, sizeof resp);
    CU_ASSERT(n > 0 && strncmp(resp, "HTTP/1.1 426 ", 13) == 0 && strstr(resp, "Sec-WebSocket-Version: 13\r\n"));
    /* Content-Length matches the body. */
    const char *body = strstr(resp, "\r\n\r\n") + 4;
    CU_ASSERT_EQUAL((size_t)(resp + n - body), 40);
    n = wshead_response(400, resp, sizeof resp);
    body = strstr(resp, "\r\n\r\n") + 4;
    CU_ASSERT(strncmp(resp, "HTTP/1.1 400 ", 13) == 0 && (size_t)(resp + n - body) == 34);
}

static size_t prefix(const char *s, size_t n, int *bad) { return utf8_complete_prefix((const uint8_t *)s, n, bad); }

static void test_utf8_pieces(void)
{
    int bad;
    CU_ASSERT_EQUAL(prefix("abc", 3, &bad), 3);
    CU_ASSERT_EQUAL(bad, 0);
    /* an unfinished sequence at the end is not (yet) an error */
    CU_ASSERT_EQUAL(prefix("a\xe2\x82", 3, &bad), 1);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(prefix("\xf0\x90\x80", 3, &bad), 0);
    CU_ASSERT_EQUAL(bad, 0);
    /* ... but a start that can never become valid is */
    CU_ASSERT_EQUAL(prefix("a\xed\xa0", 3, &bad), 1); /* surrogate */
    CU_ASSERT_EQUAL(bad, 1);
    CU_ASSERT_EQUAL(prefix("\xf4\x90", 2, &bad), 0); /* above U+10FFFF */
    CU_ASSERT_EQUAL(bad, 1);
    CU_ASSERT_EQUAL(prefix("\xe0\x80", 2, &bad), 0); /* overlong */
    CU_ASSERT_EQUAL(bad, 1);
    CU_ASSERT_EQUAL(prefix("\xc0", 1, &bad), 0);
    CU_ASSERT_EQUAL(bad, 1);
    CU_ASSERT_EQUAL(prefix("ab\x80", 3, &bad), 2);
    CU_ASSERT_EQUAL(bad, 1);
    CU_ASSERT_EQUAL(prefix("\xe2\x82\xac\xf0\x9f\xa7\xa7", 7, &bad), 7);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(prefix("\xe2\x28\xa1", 3, &bad), 0);
    CU_ASSERT_EQUAL(bad, 1);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("wshead", NULL, NULL);
    CU_add_test(s, "handshake key and version: 0, 400 or 426", test_handshakes);
    CU_add_test(s, "utf8_complete_prefix: unfinished vs invalid", test_utf8_pieces);
    return tu_run("test_wshead");
}
