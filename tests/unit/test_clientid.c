/* client_id encoding/decoding (client_id.json) and the gateway address string
 * used to route per-client commands. */
#include "clientid.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *examples;

static int load_examples(void)
{
    char *path = tu_fixture_path("client_id.json");
    json_error_t jerr;
    examples = json_load_file(path, 0, &jerr);
    if (!examples)
        fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
    free(path);
    return examples ? 0 : 1;
}

static int free_examples(void)
{
    json_decref(examples);
    examples = NULL;
    return 0;
}

static json_t *example_list(void) { return json_object_get(examples, "examples"); }

static void test_encode_examples(void)
{
    size_t i;
    json_t *e;
    CU_ASSERT_EQUAL_FATAL(json_array_size(example_list()), 8);
    json_array_foreach(example_list(), i, e)
    {
        const char *want = json_string_value(json_object_get(e, "client_id"));
        uint32_t ip = (uint32_t)json_integer_value(json_object_get(e, "lan_ip_int"));
        uint16_t port = (uint16_t)json_integer_value(json_object_get(e, "lan_port"));
        uint32_t id = (uint32_t)json_integer_value(json_object_get(e, "connection_id"));
        /* Sentinel bytes around the 21 written ones catch an overrun. */
        char out[32];
        memset(out, '#', sizeof out);
        clientid_encode(ip, port, id, out);
        CHECKF(strcmp(out, want) == 0, "example %zu: %s, want %s", i, out, want);
        CHECKF(out[21] == '#', "example %zu: wrote past the NUL", i);
    }
}

static void test_decode_examples(void)
{
    size_t i;
    json_t *e;
    json_array_foreach(example_list(), i, e)
    {
        const char *cid = json_string_value(json_object_get(e, "client_id"));
        uint32_t ip = 1, id = 1;
        uint16_t port = 1;
        CHECKF(clientid_decode(cid, strlen(cid), &ip, &port, &id) == 0, "example %zu: %s refused", i, cid);
        CHECKF(ip == (uint32_t)json_integer_value(json_object_get(e, "lan_ip_int")) &&
                   port == json_integer_value(json_object_get(e, "lan_port")) &&
                   id == (uint32_t)json_integer_value(json_object_get(e, "connection_id")),
               "example %zu: %s decoded wrong", i, cid);

        /* Upper-case hex names the same client. */
        char upper[21];
        for (int k = 0; k < 21; k++)
            upper[k] = (char)toupper((unsigned char)cid[k]);
        uint32_t ip2 = 0, id2 = 0;
        uint16_t port2 = 0;
        CHECKF(clientid_decode(upper, 20, &ip2, &port2, &id2) == 0 && ip2 == ip && port2 == port && id2 == id,
               "example %zu: %s refused or differs", i, upper);

        /* Only `len` bytes are read: no NUL needed, trailing bytes ignored. */
        char longer[32];
        snprintf(longer, sizeof longer, "%sZZZZ", cid);
        CHECKF(clientid_decode(longer, 20, &ip2, &port2, &id2) == 0 && ip2 == ip && id2 == id,
               "example %zu: prefix of a longer string", i);
    }
}

static void test_gateway_address(void)
{
    size_t i;
    json_t *e;
    json_array_foreach(example_list(), i, e)
    {
        char want[64], out[CLIENTID_ADDR_MAX];
        snprintf(want, sizeof want, "%s:%" JSON_INTEGER_FORMAT, json_string_value(json_object_get(e, "lan_ip")),
                 json_integer_value(json_object_get(e, "lan_port")));
        int n = clientid_gateway_address((uint32_t)json_integer_value(json_object_get(e, "lan_ip_int")),
                                         (uint16_t)json_integer_value(json_object_get(e, "lan_port")), out, sizeof out);
        CHECKF(n == (int)strlen(want) && strcmp(out, want) == 0, "example %zu: %s, want %s", i, out, want);
    }

    /* long2ip form: no leading zeros; the longest form fits CLIENTID_ADDR_MAX. */
    char out[CLIENTID_ADDR_MAX];
    CU_ASSERT_EQUAL(clientid_gateway_address(0x0a000005, 80, out, sizeof out), 11);
    CU_ASSERT_STRING_EQUAL(out, "10.0.0.5:80");
    CU_ASSERT_EQUAL(clientid_gateway_address(0xffffffff, 65535, out, sizeof out), 21);
    CU_ASSERT_STRING_EQUAL(out, "255.255.255.255:65535");

    /* Too small: -1 and an empty string, never a partial address. */
    CU_ASSERT_EQUAL(clientid_gateway_address(0xffffffff, 65535, out, 21), -1);
    CU_ASSERT_STRING_EQUAL(out, "");
    CU_ASSERT_EQUAL(clientid_gateway_address(0x0a000005, 80, out, 11), -1);
    CU_ASSERT_EQUAL(clientid_gateway_address(0x0a000005, 80, out, 12), 11);
    CU_ASSERT_EQUAL(clientid_gateway_address(0x0a000005, 80, NULL, 0), -1);
}

static void expect_bad(const char *s, size_t len, const char *what)
{
    uint32_t ip = 0xdeadbeef, id = 0xcafef00d;
    uint16_t port = 0xbeef;
    CHECKF(clientid_decode(s, len, &ip, &port, &id) == -1, "%s accepted", what);
    CHECKF(ip == 0xdeadbeef && port == 0xbeef && id == 0xcafef00d, "%s: outputs touched", what);
}

static void test_decode_bad(void)
{
    const char *good = "ac10000b0b5400000001";
    expect_bad("ac10000b0b540000001", 19, "19 chars");
    expect_bad("ac10000b0b54000000001", 21, "21 chars");
    expect_bad(good, 19, "len 19 of a good id");
    expect_bad(good, 0, "empty");
    expect_bad("", 0, "empty string");
    expect_bad(NULL, 0, "NULL");
    expect_bad(NULL, 20, "NULL with length");
    expect_bad("0xac10000b0b54000000", 20, "0x prefix");
    expect_bad("ac10000b 0b540000001", 20, "space");
    expect_bad("-c10000b0b5400000001", 20, "sign");
    expect_bad("ac10000b0b54000000\0" "1", 20, "embedded NUL");
    /* A non-hex character in each position in turn (each field checked). */
    const char bad_chars[] = {'g', 'G', 'z', ':', '/', '@', '`', ' ', '\xff'};
    for (int pos = 0; pos < 20; pos++)
        for (size_t k = 0; k < sizeof bad_chars; k++) {
            char s[21], what[48];
            memcpy(s, good, 21);
            s[pos] = bad_chars[k];
            snprintf(what, sizeof what, "char 0x%02x at %d", (unsigned char)bad_chars[k], pos);
            expect_bad(s, 20, what);
        }
}

/* Every value survives encode/decode, including field boundaries. */
static void test_roundtrip(void)
{
    const uint32_t vals32[] = {0, 1, 0x7f000001, 0x80000000, 0xac10000b, 0xfffffffe, 0xffffffff};
    const uint16_t vals16[] = {0, 1, 2900, 0x8000, 0xffff};
    int bad = 0;
    for (size_t a = 0; a < 7; a++)
        for (size_t b = 0; b < 5; b++)
            for (size_t c = 0; c < 7; c++) {
                char s[21];
                clientid_encode(vals32[a], vals16[b], vals32[c], s);
                uint32_t ip, id;
                uint16_t port;
                if (strlen(s) != 20 || clientid_decode(s, 20, &ip, &port, &id) != 0 || ip != vals32[a] ||
                    port != vals16[b] || id != vals32[c])
                    bad++;
                for (int k = 0; k < 20; k++)
                    if (!isxdigit((unsigned char)s[k]) || isupper((unsigned char)s[k]))
                        bad++;
            }
    CU_ASSERT_EQUAL(bad, 0);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("clientid", load_examples, free_examples);
    CU_add_test(s, "encode client_id.json examples", test_encode_examples);
    CU_add_test(s, "decode client_id.json examples", test_decode_examples);
    CU_add_test(s, "gateway address (long2ip form)", test_gateway_address);
    CU_add_test(s, "bad inputs refused", test_decode_bad);
    CU_add_test(s, "round trip", test_roundtrip);
    return tu_run("test_clientid");
}
