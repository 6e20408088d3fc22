#include "demo.h"

#include <stdio.h>
#include <string.h>

static const char *const surnames[] = {"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周",
                                       "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗",
                                       "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
                                       "欧阳", "司马"};
static const char *const given[] = {"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋",
                                    "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平",
                                    "刚", "桂英", "晓明", "小红", "建国", "海燕", "雪", "婷", "浩然", "子涵",
                                    "梓萱", "一诺", "欣怡", "宇轩", "思远", "嘉怡", "俊杰"};
static const char *const depts[] = {"研发部", "市场部", "销售部", "财务部", "人力资源部", "行政部",
                                    "产品部", "客服中心", "法务部", "运营部"};

#define N(a) (sizeof a / sizeof a[0])

json_t *demo_rows(int n)
{
    json_t *rows = json_array();
    for (int i = 0; rows && i < n; i++) {
        char emp[16], name[64];
        /* Walk the combinations with strides prime to the table sizes, so
         * neighbours differ and names rarely repeat. */
        snprintf(emp, sizeof emp, "E%04d", i + 1);
        snprintf(name, sizeof name, "%s%s", surnames[(i * 7) % N(surnames)], given[(i * 11 + i / 37) % N(given)]);
        if (json_array_append_new(rows, json_pack("{s:s,s:s,s:s}", "empNo", emp, "name", name, "dept",
                                                  depts[(i * 3) % N(depts)])) < 0) {
            json_decref(rows);
            return NULL;
        }
    }
    return rows;
}

int demo_seed(struct store *s, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        int tier, quantity, exclude;
    } prizes[] = {{"特等奖 · 笔记本电脑", 0, 1, 1}, {"一等奖 · 手机", 1, 3, 1},
                  {"二等奖 · 耳机", 2, 10, 1},      {"三等奖 · 红包 888 元", 3, 30, 0}};
    struct store_err e = {0};
    json_t *c = store_signins_since(s, 0, 0, &e);
    if (!c)
        goto fail;
    long long have = json_integer_value(json_object_get(c, "participants"));
    json_decref(c);
    if (have > 0)
        return 0;
    json_t *rows = demo_rows(DEMO_PEOPLE);
    int replayed;
    json_t *r = rows ? store_import(s, "demo:participants", rows, "merge", &replayed, &e) : NULL;
    json_decref(rows);
    if (!r)
        goto fail;
    json_decref(r);
    for (size_t i = 0; i < N(prizes); i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "demo:prize:%zu", i + 1);
        r = store_prize_save(s, rid, 0, prizes[i].name, prizes[i].tier, prizes[i].quantity, prizes[i].exclude,
                             &replayed, &e);
        if (!r)
            goto fail;
        json_decref(r);
    }
    return 0;
fail:
    snprintf(err, errlen, "%s: %s", e.code ? e.code : "store_error", e.message);
    return -1;
}
