/* test_template.c: every chat template family renders one conversation (system, user, an
 * assistant answer padded with spaces so trimming shows, a second user turn) exactly as its
 * published format says; names round-trip; llama.cpp's detection order picks the family
 * from template texts; the generation prompt is optional; bad input is refused. The golden
 * texts were written from each family's format and cross-checked against llama.cpp's
 * llama_chat_apply_template (c392e50) for every family (see the issue note). */
#include "../../../../models/chat/chat.h"
#include "../../../../models/gguf/gguf_write.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct chat_message CONV[] = {
    {CHAT_ROLE_SYSTEM, "Be brief."},
    {CHAT_ROLE_USER, "Hi"},
    {CHAT_ROLE_ASSISTANT, "  Hello there  "},
    {CHAT_ROLE_USER, "Who are you?"},
};
#define N_CONV (sizeof CONV / sizeof CONV[0])

struct golden {
    const char *name;
    const char *text; /* CONV rendered with the assistant's opening */
};

static const struct golden GOLDEN[] = {
    {"chatml", "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
               "<|im_start|>assistant\n  Hello there  <|im_end|>\n<|im_start|>user\nWho are you?"
               "<|im_end|>\n<|im_start|>assistant\n"},
    {"llama2", "[INST] Be brief.\nHi [/INST]  Hello there  </s>[INST] Who are you? [/INST]"},
    {"llama2-sys", "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]  Hello there  </s>"
                   "[INST] Who are you? [/INST]"},
    {"llama2-sys-bos", "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]  Hello there  </s>"
                       "<s>[INST] Who are you? [/INST]"},
    {"llama2-sys-strip", "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]Hello there</s>"
                         "[INST] Who are you? [/INST]"},
    {"mistral-v1", " [INST] Be brief.\n\nHi [/INST]   Hello there  </s> [INST] Who are you? [/INST]"},
    {"mistral-v3", "[INST] Be brief.\n\nHi[/INST] Hello there</s>[INST] Who are you?[/INST]"},
    {"mistral-v3-tekken", "[INST]Be brief.\n\nHi[/INST]  Hello there  </s>[INST]Who are you?[/INST]"},
    {"mistral-v7", "[SYSTEM_PROMPT] Be brief.[/SYSTEM_PROMPT][INST] Hi[/INST]   Hello there  </s>"
                   "[INST] Who are you?[/INST]"},
    {"phi3", "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n  Hello there  "
             "<|end|>\n<|user|>\nWho are you?<|end|>\n<|assistant|>\n"},
    {"phi4", "<|im_start|>system<|im_sep|>Be brief.<|im_end|><|im_start|>user<|im_sep|>Hi<|im_end|>"
             "<|im_start|>assistant<|im_sep|>  Hello there  <|im_end|><|im_start|>user<|im_sep|>"
             "Who are you?<|im_end|><|im_start|>assistant<|im_sep|>"},
    {"falcon3", "<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\n  Hello there  \n<|user|>\n"
                "Who are you?\n<|assistant|>\n"},
    {"zephyr", "<|system|>\nBe brief.<|endoftext|>\n<|user|>\nHi<|endoftext|>\n<|assistant|>\n"
               "  Hello there  <|endoftext|>\n<|user|>\nWho are you?<|endoftext|>\n<|assistant|>\n"},
    {"monarch", "system\nBe brief.</s>\n<s>user\nHi</s>\n<s>assistant\n  Hello there  </s>\n"
                "<s>user\nWho are you?</s>\n<s>assistant\n"},
    {"gemma", "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello there"
              "<end_of_turn>\n<start_of_turn>user\nWho are you?<end_of_turn>\n<start_of_turn>model\n"},
    {"orion", "Human: Be brief.\n\nHi\n\nAssistant: </s>  Hello there  </s>Human: Who are you?\n\n"
              "Assistant: </s>"},
    {"openchat", "Be brief.<|end_of_turn|>GPT4 Correct User: Hi<|end_of_turn|>GPT4 Correct Assistant: "
                 "  Hello there  <|end_of_turn|>GPT4 Correct User: Who are you?<|end_of_turn|>"
                 "GPT4 Correct Assistant:"},
    {"vicuna", "Be brief.\n\nUSER: Hi\nASSISTANT:   Hello there  </s>\nUSER: Who are you?\nASSISTANT:"},
    {"vicuna-orca", "SYSTEM: Be brief.\nUSER: Hi\nASSISTANT:   Hello there  </s>\nUSER: Who are you?\n"
                    "ASSISTANT:"},
    {"deepseek", "Be brief.### Instruction:\nHi\n### Response:\n  Hello there  \n<|EOT|>\n"
                 "### Instruction:\nWho are you?\n### Response:\n"},
    {"deepseek2", "Be brief.\n\nUser: Hi\n\nAssistant:   Hello there  <｜end▁of▁sentence｜>"
                  "User: Who are you?\n\nAssistant:"},
    {"deepseek3", "Be brief.\n\n<｜User｜>Hi<｜Assistant｜>  Hello there  <｜end▁of▁sentence｜>"
                  "<｜User｜>Who are you?<｜Assistant｜>"},
    {"command-r", "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Be brief.<|END_OF_TURN_TOKEN|>"
                  "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi<|END_OF_TURN_TOKEN|>"
                  "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Hello there<|END_OF_TURN_TOKEN|>"
                  "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Who are you?<|END_OF_TURN_TOKEN|>"
                  "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"},
    {"llama3", "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
               "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\nHello there<|eot_id|>"
               "<|start_header_id|>user<|end_header_id|>\n\nWho are you?<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"chatglm3", "[gMASK]sop<|system|>\n Be brief.<|user|>\n Hi<|assistant|>\n   Hello there  "
                 "<|user|>\n Who are you?<|assistant|>"},
    {"chatglm4", "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\n  Hello there  "
                 "<|user|>\nWho are you?<|assistant|>"},
    {"glmedge", "<|system|>\nBe brief.<|user|>\nHi<|assistant|>\n  Hello there  <|user|>\n"
                "Who are you?<|assistant|>"},
    {"minicpm", "Be brief.<用户>Hi<AI>Hello there<用户>Who are you?<AI>"},
    {"exaone3", "[|system|]Be brief.[|endofturn|]\n[|user|]Hi\n[|assistant|]Hello there[|endofturn|]\n"
                "[|user|]Who are you?\n[|assistant|]"},
    {"rwkv-world", "Be brief.\n\nUser: Hi\n\nAssistant:  Hello there  \n\nUser: Who are you?\n\n"
                   "Assistant:"},
    {"granite", "<|start_of_role|>system<|end_of_role|>Be brief.<|end_of_text|>\n"
                "<|start_of_role|>user<|end_of_role|>Hi<|end_of_text|>\n"
                "<|start_of_role|>assistant<|end_of_role|>  Hello there  <|end_of_text|>\n"
                "<|start_of_role|>user<|end_of_role|>Who are you?<|end_of_text|>\n"
                "<|start_of_role|>assistant<|end_of_role|>\n"},
    {"gigachat", "<s>Be brief.<|message_sep|>user<|role_sep|>Hi<|message_sep|>available functions"
                 "<|role_sep|>[]<|message_sep|>assistant<|role_sep|>  Hello there  <|message_sep|>"
                 "user<|role_sep|>Who are you?<|message_sep|>available functions<|role_sep|>[]"
                 "<|message_sep|>assistant<|role_sep|>"},
    {"megrez", "<|role_start|>system<|role_end|>Be brief.<|turn_end|><|role_start|>user<|role_end|>Hi"
               "<|turn_end|><|role_start|>assistant<|role_end|>  Hello there  <|turn_end|>"
               "<|role_start|>user<|role_end|>Who are you?<|turn_end|>"
               "<|role_start|>assistant<|role_end|>"},
};
#define N_GOLDEN (sizeof GOLDEN / sizeof GOLDEN[0])

static char *render(int tmpl, const struct chat_message *m, size_t n, int add)
{
    struct status_err err;
    status_clear(&err);
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(chat_template_render(tmpl, m, n, add, &out, &len, &err), STATUS_OK, "%s", err.msg);
    cr_assert_eq(strlen(out), len);
    return out;
}

Test(chat_template, golden_prompt_per_family)
{
    for (size_t i = 0; i < N_GOLDEN; i++) {
        int t = chat_template_find(GOLDEN[i].name);
        cr_assert_neq(t, CHAT_TEMPLATE_NONE, "%s", GOLDEN[i].name);
        char *out = render(t, CONV, N_CONV, 1);
        cr_expect_str_eq(out, GOLDEN[i].text, "family %s:\n got [%s]\nwant [%s]", GOLDEN[i].name,
                         out, GOLDEN[i].text);
        free(out);
    }
}

Test(chat_template, every_name_has_a_golden_and_round_trips)
{
    char names[2048];
    snprintf(names, sizeof names, "%s", chat_template_names());
    size_t count = 0;
    for (char *save, *tok = strtok_r(names, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        int t = chat_template_find(tok);
        cr_assert_neq(t, CHAT_TEMPLATE_NONE, "%s listed but unknown", tok);
        cr_assert_str_eq(chat_template_name(t), tok);
        cr_assert_eq(chat_template_detect(tok), t, "a bare family name is its own template");
        cr_assert_not_null(chat_template_end_of_turn(t), "%s", tok);
        int found = 0;
        for (size_t i = 0; i < N_GOLDEN; i++)
            found |= strcmp(GOLDEN[i].name, tok) == 0;
        cr_assert(found, "family %s has no golden prompt", tok);
        count++;
    }
    cr_assert_eq(count, N_GOLDEN);
    cr_assert_eq(chat_template_find("jinja"), CHAT_TEMPLATE_NONE);
    cr_assert_eq(chat_template_find(NULL), CHAT_TEMPLATE_NONE);
    cr_assert_null(chat_template_name(CHAT_TEMPLATE_NONE));
    cr_assert_null(chat_template_name((int)N_GOLDEN));
}

/* Excerpts of the Jinja templates the families publish, reduced to the parts detection reads. */
Test(chat_template, detect_from_template_text)
{
    static const struct {
        const char *text, *family;
    } cases[] = {
        {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
         "'<|im_end|>' + '\\n'}}{% endfor %}",
         "chatml"},
        {"{{'<|im_start|>' + message['role'] + '<|im_sep|>' + message['content'] + '<|im_end|>'}}", "phi4"},
        {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
         "message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}",
         "llama2"},
        {"{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + "
         "messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}{% endif %}[INST]",
         "llama2-sys"},
        {"{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}<<SYS>>", "llama2-sys-strip"},
        {"{{ bos_token + '[INST] ' + message['content'] }}<<SYS>>", "llama2-sys-bos"},
        {"{{ bos_token }}{{ ' [INST] ' + system_message }}", "mistral-v1"},
        {"[AVAILABLE_TOOLS]{{ '[INST] ' + message['content'] + '[/INST]' }}", "mistral-v3"},
        {"[AVAILABLE_TOOLS]{{ \"[INST]\" + message['content'] + \"[/INST]\" }}", "mistral-v3-tekken"},
        {"[SYSTEM_PROMPT]{{ message['content'] }}[/SYSTEM_PROMPT][INST]", "mistral-v7"},
        {"mistral-like-text-without-inst", "llama2"},
        {"{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>\\n'}}"
         "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}",
         "phi3"},
        {"{{ '<|user|>\\n' + content + '\\n' }}{{ '<|assistant|>\\n' }}{{ eos_token }}</s>", "falcon3"},
        {"{{ '<|user|>\\n' + content }}{{ '<|assistant|>' }}", "glmedge"},
        {"{{ '<|user|>\\n' + message['content'] + '<|endoftext|>' }}", "zephyr"},
        {"{{ bos_token + message['role'] + '\\n' + message['content'] + eos_token + '\\n' }}", "monarch"},
        {"{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}", "gemma"},
        {"{{ 'Human: ' + message['content'] + '\\n\\nAssistant: ' + eos_token }}", "orion"},
        {"{{ 'GPT4 Correct ' + message['role'].title() + ': ' + message['content'] + '<|end_of_turn|>'}}",
         "openchat"},
        {"{{ 'USER: ' + message['content'] }}{{ 'ASSISTANT: ' }}", "vicuna"},
        {"{{ 'SYSTEM: ' + s }}{{ 'USER: ' + message['content'] }}{{ 'ASSISTANT: ' }}", "vicuna-orca"},
        {"{{'### Instruction:\\n' + message['content'] + '\\n'}}{{'### Response:\\n'}}<|EOT|>", "deepseek"},
        {"{{ 'Assistant: ' + message['content'] + eos_token }}", "deepseek2"},
        {"{{'<｜User｜>' + c}}{{'<｜Assistant｜>' + c + '<｜end▁of▁sentence｜>'}}", "deepseek3"},
        {"<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{{ content }}<|END_OF_TURN_TOKEN|>", "command-r"},
        {"{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
         "message['content'] | trim + '<|eot_id|>' %}",
         "llama3"},
        {"[gMASK]sop{% for item in messages %}", "chatglm3"},
        {"[gMASK]<sop>{% for item in messages %}", "chatglm4"},
        {"{{'<用户>' + message['content'].strip() + '<AI>'}}", "minicpm"},
        {"[|system|]{{ s }}[|endofturn|][|assistant|]", "exaone3"},
        {"rwkv-world", "rwkv-world"},
        {"{{'<|start_of_role|>' + message['role'] + '<|end_of_role|>'}}", "granite"},
        {"{{ message['role'] + additional_special_tokens[0] + message['content'] + "
         "additional_special_tokens[1] }}",
         "gigachat"},
        {"{{'<|role_start|>' + message['role'] + '<|role_end|>'}}", "megrez"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int t = chat_template_detect(cases[i].text);
        cr_expect_str_eq(chat_template_name(t) ? chat_template_name(t) : "(none)", cases[i].family,
                         "case %zu: %s", i, cases[i].text);
    }
    /* "mistral" at the very start means the [INST] family, as llama.cpp reads it */
    cr_assert_str_eq(chat_template_name(chat_template_detect("mistral-something")), "llama2");
    cr_assert_eq(chat_template_detect("{{ messages }}"), CHAT_TEMPLATE_NONE);
    cr_assert_eq(chat_template_detect(""), CHAT_TEMPLATE_NONE);
    cr_assert_eq(chat_template_detect(NULL), CHAT_TEMPLATE_NONE);
}

Test(chat_template, generation_prompt_optional_and_edge_cases)
{
    int chatml = chat_template_find("chatml");
    char *out = render(chatml, CONV + 1, 1, 0);
    cr_assert_str_eq(out, "<|im_start|>user\nHi<|im_end|>\n");
    free(out);
    out = render(chatml, CONV, 0, 1);
    cr_assert_str_eq(out, "<|im_start|>assistant\n");
    free(out);
    out = render(chat_template_find("llama2"), CONV, 0, 1);
    cr_assert_str_eq(out, "[INST] ");
    free(out);
    /* gemma: a whitespace-only system message adds nothing; a system after the last user
     * turn is dropped, as the format has no place for it */
    const struct chat_message gm[] = {{CHAT_ROLE_SYSTEM, "  \n"}, {CHAT_ROLE_USER, " x "},
                                      {CHAT_ROLE_SYSTEM, "late"}};
    out = render(chat_template_find("gemma"), gm, 3, 1);
    cr_assert_str_eq(out, "<start_of_turn>user\nx<end_of_turn>\n<start_of_turn>model\n");
    free(out);
    struct status_err err;
    status_clear(&err);
    char *o = NULL;
    size_t len = 0;
    cr_assert_eq(chat_template_render(CHAT_TEMPLATE_NONE, CONV, N_CONV, 1, &o, &len, &err), STATUS_BAD_INPUT);
    cr_assert_null(o);
    cr_assert_eq(chat_role_find("system"), CHAT_ROLE_SYSTEM);
    cr_assert_eq(chat_role_find("developer"), CHAT_ROLE_SYSTEM);
    cr_assert_eq(chat_role_find("user"), CHAT_ROLE_USER);
    cr_assert_eq(chat_role_find("assistant"), CHAT_ROLE_ASSISTANT);
    cr_assert_eq(chat_role_find("tool"), -1);
    cr_assert_eq(chat_role_find(NULL), -1);
}

static void write_gguf(const char *path, const char *tmpl_text)
{
    gguf_writer *w = gguf_writer_new();
    cr_assert_not_null(w);
    cr_assert_eq(gguf_writer_str(w, "general.architecture", "llama"), STATUS_OK);
    if (tmpl_text)
        cr_assert_eq(gguf_writer_str(w, "tokenizer.chat_template", tmpl_text), STATUS_OK);
    struct status_err err;
    status_clear(&err);
    cr_assert_eq(gguf_writer_write(w, path, &err), STATUS_OK, "%s", err.msg);
    gguf_writer_free(w);
}

Test(chat_template, family_of_a_gguf_files_own_template)
{
    char dir[] = "/tmp/lmserve-chat-XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.gguf", dir);
    write_gguf(path, "{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' "
                     "+ m['content'] | trim + '<|eot_id|>' }}{% endfor %}");
    cr_assert_str_eq(chat_template_name(chat_template_of_gguf(path)), "llama3");
    write_gguf(path, "{{ messages }}"); /* a template of no known family */
    cr_assert_eq(chat_template_of_gguf(path), CHAT_TEMPLATE_NONE);
    write_gguf(path, NULL); /* no template at all */
    cr_assert_eq(chat_template_of_gguf(path), CHAT_TEMPLATE_NONE);
    FILE *f = fopen(path, "w"); /* not a GGUF file (a llama2.c checkpoint, say) */
    cr_assert_not_null(f);
    fputs("not a gguf file", f);
    fclose(f);
    cr_assert_eq(chat_template_of_gguf(path), CHAT_TEMPLATE_NONE);
    unlink(path);
    cr_assert_eq(chat_template_of_gguf(path), CHAT_TEMPLATE_NONE); /* missing */
    cr_assert_eq(chat_template_of_gguf(NULL), CHAT_TEMPLATE_NONE);
    rmdir(dir);
    /* llama.cpp's Phi-3 vocabulary carries Phi-3's own template */
    const char *phi3 = "../shared/vocab/ggml-vocab-phi-3.gguf";
    if (access(phi3, R_OK) == 0)
        cr_assert_str_eq(chat_template_name(chat_template_of_gguf(phi3)), "phi3");
}
