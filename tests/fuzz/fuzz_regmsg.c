/* libFuzzer harness for the register protocol's line framing and parser
 * (shared/regmsg.c), the bytes a register reads from any peer.
 *
 * The input is a connection's byte stream: lines are cut with
 * regmsg_next_line (the default limit, and a small one taken from the first
 * byte so the too-long path is reached), each line is parsed, and:
 *  - framing stays in range and a line never holds its own LF;
 *  - a parsed connect event rebuilds (regmsg_build_*) into a line that
 *    parses back to the same event, address and key;
 *  - a broadcast's addresses rebuild and parse back to the same list;
 *  - the register's bad-request reply is built for every line.
 * Each line is parsed from an exact-size heap copy, so ASan sees any read
 * past its end. */
#include "buf.h"
#include "regmsg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void check_line(const uint8_t *p, size_t n)
{
    char *line = malloc(n ? n : 1);
    REQUIRE(line);
    memcpy(line, p, n);
    struct regmsg m;
    if (regmsg_parse(line, n, &m) < 0) {
        free(line);
        return; /* out of memory only */
    }
    REQUIRE(m.event >= REGMSG_BAD && m.event <= REGMSG_BROADCAST_ADDRESSES);
    struct buf out = BUF_INIT;
    struct regmsg back;
    switch (m.event) {
    case REGMSG_GATEWAY_CONNECT:
    case REGMSG_WORKER_CONNECT:
        REQUIRE(m.address && m.secret_key);
        if (strlen(m.secret_key) != m.secret_len)
            break; /* a key with NUL has no C-string builder */
        if (m.event == REGMSG_GATEWAY_CONNECT)
            REQUIRE(regmsg_build_gateway_connect(&out, m.address, m.secret_key) == 0);
        else
            REQUIRE(regmsg_build_worker_connect(&out, m.secret_key) == 0);
        REQUIRE(buf_avail(&out) > 0 && buf_head(&out)[buf_avail(&out) - 1] == '\n');
        REQUIRE(regmsg_parse((const char *)buf_head(&out), buf_avail(&out) - 1, &back) == 0);
        REQUIRE(back.event == m.event && back.secret_len == m.secret_len &&
                memcmp(back.secret_key, m.secret_key, m.secret_len) == 0);
        if (m.event == REGMSG_GATEWAY_CONNECT)
            REQUIRE(strcmp(back.address, m.address) == 0);
        regmsg_free(&back);
        break;
    case REGMSG_BROADCAST_ADDRESSES:
        REQUIRE(m.n_addresses == 0 || m.addresses);
        REQUIRE(regmsg_build_broadcast(&out, (const char *const *)m.addresses, m.n_addresses) == 0);
        REQUIRE(regmsg_parse((const char *)buf_head(&out), buf_avail(&out) - 1, &back) == 0);
        REQUIRE(back.event == REGMSG_BROADCAST_ADDRESSES && back.addresses_ok && back.n_addresses == m.n_addresses);
        for (size_t i = 0; i < m.n_addresses; i++)
            REQUIRE(strcmp(back.addresses[i], m.addresses[i]) == 0);
        regmsg_free(&back);
        break;
    case REGMSG_BAD:
        buf_reset(&out);
        REQUIRE(regmsg_build_bad_request(&out, "127.0.0.1", line, n) == 0);
        break;
    default:
        break;
    }
    buf_free(&out);
    regmsg_free(&m);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t small = size > 0 ? (size_t)data[0] + 1 : 1;
    const size_t limits[2] = {REGMSG_DEFAULT_MAX_LINE, small};
    for (int li = 0; li < 2; li++) {
        size_t pos = 0;
        while (pos < size) {
            size_t line_len = 0, used = 0;
            int r = regmsg_next_line(data + pos, size - pos, limits[li], &line_len, &used);
            if (r != REGMSG_OK) {
                REQUIRE(r == REGMSG_NEED_MORE || (r == REGMSG_ERROR && size - pos >= limits[li]));
                break;
            }
            REQUIRE(used >= 1 && used <= size - pos && used <= limits[li] && line_len < used);
            REQUIRE(data[pos + used - 1] == '\n' && memchr(data + pos, '\n', line_len) == NULL);
            if (li == 0)
                check_line(data + pos, line_len);
            pos += used;
        }
    }
    return 0;
}
