/* secret_equal: exact byte equality of two keys given with explicit lengths
 * (keys may hold NUL after JSON unescaping, so strlen must never be used). */
#include "secret.h"
#include "tu.h"

#include <CUnit/CUnit.h>
#include <string.h>

static void test_equal(void)
{
    CU_ASSERT_EQUAL(secret_equal("s3cr3t-lottery", 14, "s3cr3t-lottery", 14), 1);
    /* Different buffers with the same content. */
    char a[] = "key", b[] = "key";
    CU_ASSERT_EQUAL(secret_equal(a, 3, b, 3), 1);
    /* Arbitrary bytes, high bit set. */
    const unsigned char x[] = {0xff, 0x00, 0x80, 0x7f}, y[] = {0xff, 0x00, 0x80, 0x7f};
    CU_ASSERT_EQUAL(secret_equal(x, sizeof x, y, sizeof y), 1);
}

static void test_different(void)
{
    CU_ASSERT_EQUAL(secret_equal("key1", 4, "key2", 4), 0);
    CU_ASSERT_EQUAL(secret_equal("Key", 3, "key", 3), 0);
    /* First byte differs. */
    CU_ASSERT_EQUAL(secret_equal("xbc", 3, "abc", 3), 0);
    const unsigned char x[] = {0xff, 0x00}, y[] = {0xfe, 0x00};
    CU_ASSERT_EQUAL(secret_equal(x, 2, y, 2), 0);
}

static void test_prefix(void)
{
    /* One key a prefix of the other, both ways round. */
    CU_ASSERT_EQUAL(secret_equal("secret", 6, "secret2", 7), 0);
    CU_ASSERT_EQUAL(secret_equal("secret2", 7, "secret", 6), 0);
    /* Same bytes, shorter length given. */
    CU_ASSERT_EQUAL(secret_equal("secret", 5, "secret", 6), 0);
}

static void test_empty(void)
{
    CU_ASSERT_EQUAL(secret_equal("", 0, "", 0), 1);
    /* Length 0 means empty whatever the pointer holds. */
    CU_ASSERT_EQUAL(secret_equal("abc", 0, "xyz", 0), 1);
    CU_ASSERT_EQUAL(secret_equal("", 0, "a", 1), 0);
    CU_ASSERT_EQUAL(secret_equal("a", 1, "", 0), 0);
}

static void test_embedded_nul(void)
{
    /* The bytes after a NUL count. */
    CU_ASSERT_EQUAL(secret_equal("ab\0c", 4, "ab\0c", 4), 1);
    CU_ASSERT_EQUAL(secret_equal("ab\0c", 4, "ab\0d", 4), 0);
    /* "ab\0c" is not "ab" even though strcmp would say so. */
    CU_ASSERT_EQUAL(secret_equal("ab\0c", 4, "ab", 2), 0);
    CU_ASSERT_EQUAL(secret_equal("ab", 2, "ab\0", 3), 0);
    CU_ASSERT_EQUAL(secret_equal("\0", 1, "", 0), 0);
    CU_ASSERT_EQUAL(secret_equal("\0", 1, "\0", 1), 1);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("secret", NULL, NULL);
    CU_add_test(s, "equal keys", test_equal);
    CU_add_test(s, "different keys", test_different);
    CU_add_test(s, "prefix of the other", test_prefix);
    CU_add_test(s, "empty keys", test_empty);
    CU_add_test(s, "embedded NUL", test_embedded_nul);
    return tu_run("test_secret");
}
