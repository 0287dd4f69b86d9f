/* test_config.c: --model specs and flag parsing. */
#include "../../../server/config.h"

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

Test(config, model_spec)
{
    struct config_model m;
    char msg[256];
    cr_assert_eq(config_parse_model("lm=ngram:/m/x.arpa,lowercase=true,k=v=w", &m, msg, sizeof msg), 0, "%s", msg);
    cr_assert_str_eq(m.id, "lm");
    cr_assert_str_eq(m.type, "ngram");
    cr_assert_str_eq(m.path, "/m/x.arpa");
    cr_assert_str_eq(model_options_get(&m.opts, "lowercase"), "true");
    cr_assert_str_eq(model_options_get(&m.opts, "k"), "v=w");
    config_model_free(&m);
    cr_assert_neq(config_parse_model("nothing", &m, msg, sizeof msg), 0);
    cr_assert_neq(config_parse_model("=t:p", &m, msg, sizeof msg), 0);
    cr_assert_neq(config_parse_model("a=t:", &m, msg, sizeof msg), 0);
    cr_assert_neq(config_parse_model("a=t:p,novalue", &m, msg, sizeof msg), 0);
    cr_assert(strstr(msg, "novalue"), "%s", msg);
}

Test(config, flags_and_defaults)
{
    unsetenv("LMSERVE_PORT");
    char *argv[] = {"lmserve", "--port", "9999", "--max-batch", "7", "--cors-origin", "*",
                    "--model", "a=test:/x", "--log-format", "json", NULL};
    struct api_config c;
    cr_assert_eq(config_load(&c, 11, argv), 0);
    cr_assert_eq(c.port, 9999);
    cr_assert_eq(c.max_batch, 7);
    cr_assert_eq(c.max_body, CONFIG_MAX_BODY_DEFAULT);
    cr_assert_str_eq(c.host, "127.0.0.1");
    cr_assert_eq(c.n_models, 1);
    cr_assert_eq(c.log_format, LOG_JSON);
    cr_assert(config_cors_allowed(&c, "http://any"));
    config_free(&c);
}

Test(config, env_is_below_flags)
{
    setenv("LMSERVE_MAX_BATCH", "11", 1);
    setenv("LMSERVE_ADMIN_KEY", "envkey", 1);
    char *argv[] = {"lmserve", "--max-batch", "5", NULL};
    struct api_config c;
    cr_assert_eq(config_load(&c, 3, argv), 0);
    cr_assert_eq(c.max_batch, 5);
    cr_assert_str_eq(c.admin_key, "envkey");
    config_free(&c);
    unsetenv("LMSERVE_MAX_BATCH");
    unsetenv("LMSERVE_ADMIN_KEY");
}

Test(config, bad_values)
{
    char *a1[] = {"lmserve", "--port", "70000", NULL};
    struct api_config c;
    cr_assert_eq(config_load(&c, 3, a1), 2);
    config_free(&c);
    char *a2[] = {"lmserve", "--threads", "0", NULL};
    cr_assert_eq(config_load(&c, 3, a2), 2);
    config_free(&c);
    char *a3[] = {"lmserve", "--log-format", "xml", NULL};
    cr_assert_eq(config_load(&c, 3, a3), 2);
    config_free(&c);
    char *a4[] = {"lmserve", "stray", NULL};
    cr_assert_eq(config_load(&c, 2, a4), 2);
    config_free(&c);
}
