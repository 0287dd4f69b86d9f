/* test_json.c: server/json.c's one rule: absent or null -> the default (untouched),
 * wrong type or out of range -> 400 naming the field. */
#include "../../../server/json.h"

#include <criterion/criterion.h>
#include <string.h>

Test(json, null_and_absent_are_the_default_wrong_types_name_the_field)
{
    json_t *o = json_loads("{\"b\":null,\"i\":null,\"n\":null,\"s\":null,\"bad\":\"x\","
                           "\"big\":100,\"f\":1.5,\"ok\":true,\"k\":7,\"str\":\"hi\"}",
                           0, NULL);
    cr_assert_not_null(o);
    struct status_err err;
    int b = 42;
    json_int_t i = 42;
    double d = 4.2;
    const char *s = "dflt";
    size_t len = 0;
    status_clear(&err);
    cr_assert_eq(jsonx_bool(o, "b", NULL, &b, &err), STATUS_OK);
    cr_assert_eq(jsonx_bool(o, "absent", NULL, &b, &err), STATUS_OK);
    cr_assert_eq(jsonx_bool(NULL, "b", NULL, &b, &err), STATUS_OK);
    cr_assert_eq(jsonx_int(o, "i", NULL, 0, 10, &i, &err), STATUS_OK);
    cr_assert_eq(jsonx_number(o, "n", NULL, 0, 10, 0, &d, &err), STATUS_OK);
    cr_assert_eq(jsonx_string(o, "s", NULL, &s, &len, &err), STATUS_OK);
    cr_assert(b == 42 && i == 42 && d == 4.2 && strcmp(s, "dflt") == 0, "defaults untouched");
    cr_assert_null(jsonx_get(o, "b"));
    cr_assert_not_null(jsonx_get(o, "ok"));

    cr_assert_eq(jsonx_bool(o, "ok", NULL, &b, &err), STATUS_OK);
    cr_assert_eq(jsonx_int(o, "k", NULL, 0, 10, &i, &err), STATUS_OK);
    cr_assert_eq(jsonx_number(o, "f", NULL, 0, 10, 0, &d, &err), STATUS_OK);
    cr_assert_eq(jsonx_string(o, "str", NULL, &s, &len, &err), STATUS_OK);
    cr_assert(b == 1 && i == 7 && d == 1.5 && strcmp(s, "hi") == 0 && len == 2);

    struct {
        int rc;
        const char *param;
    } bad[5];
    struct status_err e[5];
    for (int k = 0; k < 5; k++)
        status_clear(&e[k]);
    bad[0].rc = jsonx_bool(o, "bad", NULL, &b, &e[0]);
    bad[1].rc = jsonx_int(o, "big", "x[3]", 0, 10, &i, &e[1]);
    bad[2].rc = jsonx_int(o, "f", NULL, 0, 10, &i, &e[2]);
    bad[3].rc = jsonx_number(o, "bad", NULL, 0, 10, 1, &d, &e[3]);
    bad[4].rc = jsonx_required(o, "b", NULL, &(json_t *){NULL}, &e[4]);
    static const char *const want[] = {"bad", "x[3]", "f", "bad", "b"};
    for (int k = 0; k < 5; k++) {
        cr_assert_eq(bad[k].rc, STATUS_BAD_INPUT, "case %d", k);
        cr_assert_str_eq(e[k].param, want[k], "case %d", k);
    }
    cr_assert(strstr(e[4].msg, "is required"), "%s", e[4].msg);
    cr_assert(b == 1 && i == 7 && d == 1.5, "a refused field leaves *out alone");
    json_decref(o);
}
