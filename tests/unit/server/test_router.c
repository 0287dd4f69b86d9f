/* test_router.c: matching, path parameters, 404 vs 405 and the Allow list. */
#include "../../../server/router.h"

#include <string.h>

#include <criterion/criterion.h>

Test(router, literal_and_params)
{
    const struct route *rt;
    char *p[API_PARAMS_MAX] = {0};
    size_t n = 0;
    char allow[96];
    cr_assert_eq(router_match("GET", "/health", &rt, p, &n, allow, sizeof allow), ROUTER_OK);
    cr_assert_eq(rt->handler, api_health);
    cr_assert_eq(n, 0);
    cr_assert_eq(router_match("GET", "/v1/models/my-model.v2", &rt, p, &n, allow, sizeof allow), ROUTER_OK);
    cr_assert_eq(rt->handler, api_models_get);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(p[0], "my-model.v2");
    router_params_free(p, n);
    cr_assert_eq(router_match("DELETE", "/v1/models/x", &rt, p, &n, allow, sizeof allow), ROUTER_OK);
    cr_assert_eq(rt->handler, api_models_unload);
    cr_assert(rt->admin);
    router_params_free(p, n);
    cr_assert_eq(router_match("HEAD", "/health", &rt, p, &n, allow, sizeof allow), ROUTER_OK);
    cr_assert_eq(router_match("GET", "/web/js/app.js", &rt, p, &n, allow, sizeof allow), ROUTER_OK);
    cr_assert_str_eq(p[0], "js/app.js");
    router_params_free(p, n);
}

Test(router, not_found_and_not_allowed)
{
    const struct route *rt;
    char *p[API_PARAMS_MAX] = {0};
    size_t n = 0;
    char allow[96];
    cr_assert_eq(router_match("GET", "/v1/models/", &rt, p, &n, allow, sizeof allow), ROUTER_NOT_FOUND);
    cr_assert_eq(router_match("GET", "/v1/models/a/b", &rt, p, &n, allow, sizeof allow), ROUTER_NOT_FOUND);
    cr_assert_eq(router_match("GET", "/healthz", &rt, p, &n, allow, sizeof allow), ROUTER_NOT_FOUND);
    cr_assert_eq(router_match("GET", "", &rt, p, &n, allow, sizeof allow), ROUTER_NOT_FOUND);
    cr_assert_eq(router_match("POST", "/health", &rt, p, &n, allow, sizeof allow), ROUTER_METHOD_NOT_ALLOWED);
    cr_assert_str_eq(allow, "GET, HEAD, OPTIONS");
    cr_assert_eq(router_match("PUT", "/v1/models/x", &rt, p, &n, allow, sizeof allow), ROUTER_METHOD_NOT_ALLOWED);
    cr_assert_str_eq(allow, "GET, HEAD, DELETE, OPTIONS");
    cr_assert_eq(router_match("GET", "/v1/score", &rt, p, &n, allow, sizeof allow), ROUTER_METHOD_NOT_ALLOWED);
    cr_assert_str_eq(allow, "POST, OPTIONS");
}

Test(router, table_is_consistent)
{
    for (size_t i = 0; i < router_count(); i++) {
        const struct route *r = router_row(i);
        cr_assert(r->handler, "row %zu has no handler", i);
        cr_assert_eq(r->path[0], '/', "row %zu path", i);
        cr_assert_eq(router_index(r), i);
        if (strcmp(r->method, "POST") == 0 && strcmp(r->path, "/v1/models") != 0)
            cr_assert(r->json_body, "POST %s should take a JSON body", r->path);
        for (size_t j = 0; j < i; j++) {
            const struct route *o = router_row(j);
            cr_assert(strcmp(o->method, r->method) || strcmp(o->path, r->path), "duplicate row %s %s",
                      r->method, r->path);
        }
    }
}
