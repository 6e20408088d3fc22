/* The lottery's message syntax (apps/lottery/proto.c) and the bullet
 * comments' token bucket (ratelimit.c): pure functions, no sockets. */
#include "proto.h"
#include "ratelimit.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

static void test_utf8(void)
{
    CU_ASSERT_EQUAL(proto_utf8_chars("abc", 3), 3);
    CU_ASSERT_EQUAL(proto_utf8_chars("王小明", strlen("王小明")), 3);
    CU_ASSERT_EQUAL(proto_utf8_chars("😀a", strlen("😀a")), 2);
    CU_ASSERT_EQUAL(proto_utf8_chars("", 0), 0);
    CU_ASSERT_EQUAL(proto_utf8_chars("\xc0\xaf", 2), -1);         /* overlong '/' */
    CU_ASSERT_EQUAL(proto_utf8_chars("\xed\xa0\x80", 3), -1);     /* a surrogate */
    CU_ASSERT_EQUAL(proto_utf8_chars("\xf4\x90\x80\x80", 4), -1); /* above U+10FFFF */
    CU_ASSERT_EQUAL(proto_utf8_chars("\xe7\x8e", 2), -1);         /* truncated */
    CU_ASSERT_EQUAL(proto_utf8_chars("\x80", 1), -1);             /* a lone continuation */
    /* GBK bytes of 王 are not UTF-8. */
    CU_ASSERT_EQUAL(proto_utf8_chars("\xcd\xf5", 2), -1);
}

static void test_text(void)
{
    CU_ASSERT_TRUE(proto_text_ok("研发部", 1, 64));
    CU_ASSERT_TRUE(proto_text_ok("", 0, 64));
    CU_ASSERT_FALSE(proto_text_ok("", 1, 64));
    CU_ASSERT_FALSE(proto_text_ok("a\nb", 1, 64));
    CU_ASSERT_FALSE(proto_text_ok("a\x7f", 1, 64));
    CU_ASSERT_FALSE(proto_text_ok("a\xc2\x85", 1, 64)); /* NEL, a C1 control */
    CU_ASSERT_TRUE(proto_text_ok("a\xc2\xa0", 1, 64));  /* NBSP is text */
    CU_ASSERT_FALSE(proto_text_ok("abcdef", 1, 5));
    CU_ASSERT_FALSE(proto_text_ok(NULL, 0, 5));
}

static void test_ids(void)
{
    CU_ASSERT_TRUE(proto_emp_no_ok("E0012"));
    CU_ASSERT_TRUE(proto_emp_no_ok("a_b.c-9"));
    CU_ASSERT_FALSE(proto_emp_no_ok(""));
    CU_ASSERT_FALSE(proto_emp_no_ok("E 12"));
    CU_ASSERT_FALSE(proto_emp_no_ok("王"));
    CU_ASSERT_FALSE(proto_emp_no_ok("123456789012345678901234567890123")); /* 33 */
    CU_ASSERT_TRUE(proto_emp_no_ok("12345678901234567890123456789012"));   /* 32 */
    CU_ASSERT_TRUE(proto_rid_ok("adm-x1:2"));
    CU_ASSERT_FALSE(proto_rid_ok("a/b"));
    CU_ASSERT_TRUE(proto_token_ok("0123456789abcdef"));
    CU_ASSERT_FALSE(proto_token_ok("0123456789ABCDEF"));
    CU_ASSERT_FALSE(proto_token_ok(""));
}

static void test_trim(void)
{
    char out[8];
    CU_ASSERT_EQUAL(proto_trim("  ab \t", out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "ab");
    CU_ASSERT_EQUAL(proto_trim("   ", out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "");
    CU_ASSERT_EQUAL(proto_trim(" 12345678 ", out, sizeof out), -1);
    CU_ASSERT_EQUAL(proto_trim(" 1234567 ", out, sizeof out), 0);
}

static void test_rows(void)
{
    char err[256];
    json_t *in = json_loads("[{\"empNo\":\" E1 \",\"name\":\" 王小明 \",\"dept\":\"研发部\"},"
                            "{\"empNo\":\"E2\",\"name\":\"李雷\"}]", 0, NULL);
    json_t *out = proto_check_rows(in, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_EQUAL(json_array_size(out), 2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(out, 0), "empNo")), "E1");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(out, 0), "name")), "王小明");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(out, 1), "dept")), "");
    json_decref(out);
    json_decref(in);

    const char *bad[][2] = {
        {"[]", "non-empty"},
        {"{}", "non-empty"},
        {"[{\"empNo\":\"E1\",\"name\":\"a\"},{\"empNo\":\"E1\",\"name\":\"b\"}]", "row 2: empNo E1 appears twice"},
        {"[{\"empNo\":\"E 1\",\"name\":\"a\"}]", "row 1: empNo"},
        {"[{\"empNo\":\"E1\",\"name\":\"\"}]", "row 1 (E1): name"},
        {"[{\"empNo\":\"E1\",\"name\":\"a\\u0007\"}]", "row 1 (E1): name"},
        {"[{\"empNo\":\"E1\",\"name\":\"a\",\"dept\":7}]", "row 1 (E1): dept"},
        {"[1]", "row 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        in = json_loads(bad[i][0], 0, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(in);
        err[0] = 0;
        out = proto_check_rows(in, err, sizeof err);
        CU_ASSERT_PTR_NULL(out);
        if (!strstr(err, bad[i][1]))
            fprintf(stderr, "\n  case %zu: got '%s', want '%s'\n", i, err, bad[i][1]);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i][1]));
        json_decref(out);
        json_decref(in);
    }
    /* The row limit. */
    in = json_array();
    for (int i = 0; i <= PROTO_MAX_ROWS; i++)
        json_array_append_new(in, json_pack("{s:s,s:s}", "empNo", "E", "name", "n"));
    out = proto_check_rows(in, err, sizeof err);
    CU_ASSERT_PTR_NULL(out);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "at most 20000"));
    json_decref(in);
}

static void test_envelopes(void)
{
    json_t *r = json_pack("{s:s,s:i}", "token", "ab", "n", 3);
    char *s = proto_reply("rid-1", "signin", r, 0);
    json_t *o = json_loads(s, 0, NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "type")), "reply");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "rid")), "rid-1");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "cmd")), "signin");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "token")), "ab");
    CU_ASSERT_PTR_NULL(json_object_get(o, "replayed"));
    json_decref(o);
    free(s);
    /* A result cannot forge the envelope's type. */
    json_object_set_new(r, "type", json_string("state"));
    s = proto_reply(NULL, NULL, r, 1);
    o = json_loads(s, 0, NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "type")), "reply");
    CU_ASSERT_TRUE(json_is_true(json_object_get(o, "replayed")));
    CU_ASSERT_PTR_NULL(json_object_get(o, "rid"));
    json_decref(o);
    free(s);
    json_decref(r);

    s = proto_error("r2", "draw.start", "draw_open", "another draw is open");
    o = json_loads(s, 0, NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "type")), "error");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "code")), "draw_open");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "rid")), "r2");
    json_decref(o);
    free(s);
    /* A cmd that is not valid UTF-8 is left out, the error still goes. */
    s = proto_error(NULL, "\xff", "unknown_type", "unknown message type");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_PTR_NULL(strstr(s, "\"cmd\""));
    free(s);

    json_t *b = json_pack("{s:s}", "text", "<b>x</b>");
    s = proto_push("danmaku", b);
    CU_ASSERT_STRING_EQUAL(s, "{\"text\":\"<b>x</b>\",\"type\":\"danmaku\"}");
    free(s);
    json_decref(b);
}

static void test_ratelimit(void)
{
    struct ratelimit *r = ratelimit_new(3, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    time_t t = 1000;
    CU_ASSERT_TRUE(ratelimit_take(r, "c1", t));
    CU_ASSERT_TRUE(ratelimit_take(r, "c1", t));
    CU_ASSERT_TRUE(ratelimit_take(r, "c1", t));
    CU_ASSERT_FALSE(ratelimit_take(r, "c1", t));     /* the burst is spent */
    CU_ASSERT_TRUE(ratelimit_take(r, "c2", t));      /* another client has its own */
    CU_ASSERT_FALSE(ratelimit_take(r, "c1", t + 1)); /* one token per 2 s */
    CU_ASSERT_TRUE(ratelimit_take(r, "c1", t + 2));
    CU_ASSERT_FALSE(ratelimit_take(r, "c1", t + 3));
    CU_ASSERT_TRUE(ratelimit_take(r, "c1", t + 4));
    /* A long pause refills to the burst, not beyond. */
    CU_ASSERT_TRUE(ratelimit_take(r, "c1", t + 100));
    CU_ASSERT_TRUE(ratelimit_take(r, "c1", t + 100));
    CU_ASSERT_TRUE(ratelimit_take(r, "c1", t + 100));
    CU_ASSERT_FALSE(ratelimit_take(r, "c1", t + 100));
    /* Forgetting (the client closed) starts it afresh. */
    ratelimit_forget(r, "c1");
    CU_ASSERT_TRUE(ratelimit_take(r, "c1", t + 100));
    /* A key longer than a client_id is refused, not truncated. */
    CU_ASSERT_FALSE(ratelimit_take(r, "0123456789012345678901234", t));
    ratelimit_free(r);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("lottery_proto", NULL, NULL);
    CU_add_test(s, "UTF-8 code points and invalid sequences", test_utf8);
    CU_add_test(s, "text fields: controls and lengths", test_text);
    CU_add_test(s, "empNo, rid and token syntax", test_ids);
    CU_add_test(s, "trimming", test_trim);
    CU_add_test(s, "import rows: normalised, or the first problem named", test_rows);
    CU_add_test(s, "reply, error and push envelopes", test_envelopes);
    CU_add_test(s, "bullet comment token bucket", test_ratelimit);
    return tu_run("test_lottery_proto");
}
