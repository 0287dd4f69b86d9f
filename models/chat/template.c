/* template.c: the chat template families, each rendered in C from its published format
 * (the facts as llama.cpp's built-in templates state them: markers, where the system
 * message goes, which contents are trimmed), and llama.cpp's order of substring tests to
 * recognise a family from a model's Jinja template text. Not a Jinja interpreter. */
#include "chat.h"
#include "../gguf/gguf.h"
#include "../util/strbuf.h"

#include <stdlib.h>
#include <string.h>

/* ---- the families ---- */

enum family {
    F_CHATML,
    F_LLAMA2,
    F_LLAMA2_SYS,
    F_LLAMA2_SYS_BOS,
    F_LLAMA2_SYS_STRIP,
    F_MISTRAL_V1,
    F_MISTRAL_V3,
    F_MISTRAL_V3_TEKKEN,
    F_MISTRAL_V7,
    F_PHI3,
    F_PHI4,
    F_FALCON3,
    F_ZEPHYR,
    F_MONARCH,
    F_GEMMA,
    F_ORION,
    F_OPENCHAT,
    F_VICUNA,
    F_VICUNA_ORCA,
    F_DEEPSEEK,
    F_DEEPSEEK2,
    F_DEEPSEEK3,
    F_COMMAND_R,
    F_LLAMA3,
    F_CHATGLM3,
    F_CHATGLM4,
    F_GLMEDGE,
    F_MINICPM,
    F_EXAONE3,
    F_RWKV_WORLD,
    F_GRANITE,
    F_GIGACHAT,
    F_MEGREZ,
    F_COUNT
};

#define R_SYS CHAT_ROLE_SYSTEM
#define R_USER CHAT_ROLE_USER
#define R_ASST CHAT_ROLE_ASSISTANT
#define N_ROLES 3

/* Most families wrap each message in a role's prefix and suffix; those rows fill 'pre',
 * 'post' and 'gen' (the assistant's opening). A row with 'custom' set is rendered by its
 * own function below (system messages merged into the user turn, BOS between turns...). */
struct family_row {
    const char *name;
    const char *begin;           /* once, before the first message */
    const char *pre[N_ROLES];    /* by enum chat_role */
    const char *post[N_ROLES];
    const char *gen;             /* the assistant's turn opening; NULL: the family has none */
    int trim;                    /* contents lose leading/trailing white space */
    int custom;
    const char *end_of_turn;     /* what closes an assistant turn (a stop string) */
};

static const struct family_row FAMILIES[F_COUNT] = {
    [F_CHATML] = {.name = "chatml",
                  .pre = {"<|im_start|>system\n", "<|im_start|>user\n", "<|im_start|>assistant\n"},
                  .post = {"<|im_end|>\n", "<|im_end|>\n", "<|im_end|>\n"},
                  .gen = "<|im_start|>assistant\n", .end_of_turn = "<|im_end|>"},
    [F_LLAMA2] = {.name = "llama2", .custom = 1, .end_of_turn = "</s>"},
    [F_LLAMA2_SYS] = {.name = "llama2-sys", .custom = 1, .end_of_turn = "</s>"},
    [F_LLAMA2_SYS_BOS] = {.name = "llama2-sys-bos", .custom = 1, .end_of_turn = "</s>"},
    [F_LLAMA2_SYS_STRIP] = {.name = "llama2-sys-strip", .custom = 1, .end_of_turn = "</s>"},
    [F_MISTRAL_V1] = {.name = "mistral-v1", .custom = 1, .end_of_turn = "</s>"},
    [F_MISTRAL_V3] = {.name = "mistral-v3", .custom = 1, .end_of_turn = "</s>"},
    [F_MISTRAL_V3_TEKKEN] = {.name = "mistral-v3-tekken", .custom = 1, .end_of_turn = "</s>"},
    [F_MISTRAL_V7] = {.name = "mistral-v7",
                      .pre = {"[SYSTEM_PROMPT] ", "[INST] ", " "},
                      .post = {"[/SYSTEM_PROMPT]", "[/INST]", "</s>"}, .end_of_turn = "</s>"},
    [F_PHI3] = {.name = "phi3",
                .pre = {"<|system|>\n", "<|user|>\n", "<|assistant|>\n"},
                .post = {"<|end|>\n", "<|end|>\n", "<|end|>\n"},
                .gen = "<|assistant|>\n", .end_of_turn = "<|end|>"},
    [F_PHI4] = {.name = "phi4",
                .pre = {"<|im_start|>system<|im_sep|>", "<|im_start|>user<|im_sep|>",
                        "<|im_start|>assistant<|im_sep|>"},
                .post = {"<|im_end|>", "<|im_end|>", "<|im_end|>"},
                .gen = "<|im_start|>assistant<|im_sep|>", .end_of_turn = "<|im_end|>"},
    [F_FALCON3] = {.name = "falcon3",
                   .pre = {"<|system|>\n", "<|user|>\n", "<|assistant|>\n"},
                   .post = {"\n", "\n", "\n"}, .gen = "<|assistant|>\n", .end_of_turn = "</s>"},
    [F_ZEPHYR] = {.name = "zephyr",
                  .pre = {"<|system|>\n", "<|user|>\n", "<|assistant|>\n"},
                  .post = {"<|endoftext|>\n", "<|endoftext|>\n", "<|endoftext|>\n"},
                  .gen = "<|assistant|>\n", .end_of_turn = "<|endoftext|>"},
    [F_MONARCH] = {.name = "monarch", .custom = 1, .end_of_turn = "</s>"},
    [F_GEMMA] = {.name = "gemma", .custom = 1, .end_of_turn = "<end_of_turn>"},
    [F_ORION] = {.name = "orion", .custom = 1, .end_of_turn = "</s>"},
    [F_OPENCHAT] = {.name = "openchat",
                    .pre = {"", "GPT4 Correct User: ", "GPT4 Correct Assistant: "},
                    .post = {"<|end_of_turn|>", "<|end_of_turn|>", "<|end_of_turn|>"},
                    .gen = "GPT4 Correct Assistant:", .end_of_turn = "<|end_of_turn|>"},
    [F_VICUNA] = {.name = "vicuna", .pre = {"", "USER: ", "ASSISTANT: "},
                  .post = {"\n\n", "\n", "</s>\n"}, .gen = "ASSISTANT:", .end_of_turn = "</s>"},
    [F_VICUNA_ORCA] = {.name = "vicuna-orca", .pre = {"SYSTEM: ", "USER: ", "ASSISTANT: "},
                       .post = {"\n", "\n", "</s>\n"}, .gen = "ASSISTANT:", .end_of_turn = "</s>"},
    [F_DEEPSEEK] = {.name = "deepseek", .pre = {"", "### Instruction:\n", "### Response:\n"},
                    .post = {"", "\n", "\n<|EOT|>\n"}, .gen = "### Response:\n",
                    .end_of_turn = "<|EOT|>"},
    [F_DEEPSEEK2] = {.name = "deepseek2", .pre = {"", "User: ", "Assistant: "},
                     .post = {"\n\n", "\n\n", "<｜end▁of▁sentence｜>"}, .gen = "Assistant:",
                     .end_of_turn = "<｜end▁of▁sentence｜>"},
    [F_DEEPSEEK3] = {.name = "deepseek3", .pre = {"", "<｜User｜>", "<｜Assistant｜>"},
                     .post = {"\n\n", "", "<｜end▁of▁sentence｜>"}, .gen = "<｜Assistant｜>",
                     .end_of_turn = "<｜end▁of▁sentence｜>"},
    [F_COMMAND_R] = {.name = "command-r",
                     .pre = {"<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>",
                             "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>",
                             "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"},
                     .post = {"<|END_OF_TURN_TOKEN|>", "<|END_OF_TURN_TOKEN|>", "<|END_OF_TURN_TOKEN|>"},
                     .gen = "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>", .trim = 1,
                     .end_of_turn = "<|END_OF_TURN_TOKEN|>"},
    [F_LLAMA3] = {.name = "llama3",
                  .pre = {"<|start_header_id|>system<|end_header_id|>\n\n",
                          "<|start_header_id|>user<|end_header_id|>\n\n",
                          "<|start_header_id|>assistant<|end_header_id|>\n\n"},
                  .post = {"<|eot_id|>", "<|eot_id|>", "<|eot_id|>"},
                  .gen = "<|start_header_id|>assistant<|end_header_id|>\n\n", .trim = 1,
                  .end_of_turn = "<|eot_id|>"},
    [F_CHATGLM3] = {.name = "chatglm3", .begin = "[gMASK]sop",
                    .pre = {"<|system|>\n ", "<|user|>\n ", "<|assistant|>\n "},
                    .post = {"", "", ""}, .gen = "<|assistant|>", .end_of_turn = "<|user|>"},
    [F_CHATGLM4] = {.name = "chatglm4", .begin = "[gMASK]<sop>",
                    .pre = {"<|system|>\n", "<|user|>\n", "<|assistant|>\n"},
                    .post = {"", "", ""}, .gen = "<|assistant|>", .end_of_turn = "<|user|>"},
    [F_GLMEDGE] = {.name = "glmedge", .pre = {"<|system|>\n", "<|user|>\n", "<|assistant|>\n"},
                   .post = {"", "", ""}, .gen = "<|assistant|>", .end_of_turn = "<|user|>"},
    [F_MINICPM] = {.name = "minicpm", .pre = {"", "<用户>", ""}, .post = {"", "<AI>", ""},
                   .trim = 1, .end_of_turn = "<用户>"},
    [F_EXAONE3] = {.name = "exaone3", .pre = {"[|system|]", "[|user|]", "[|assistant|]"},
                   .post = {"[|endofturn|]\n", "\n", "[|endofturn|]\n"}, .gen = "[|assistant|]",
                   .trim = 1, .end_of_turn = "[|endofturn|]"},
    [F_RWKV_WORLD] = {.name = "rwkv-world", .pre = {"", "User: ", ""},
                      .post = {"\n\n", "\n\nAssistant:", "\n\n"}, .end_of_turn = "\n\n"},
    [F_GRANITE] = {.name = "granite",
                   .pre = {"<|start_of_role|>system<|end_of_role|>",
                           "<|start_of_role|>user<|end_of_role|>",
                           "<|start_of_role|>assistant<|end_of_role|>"},
                   .post = {"<|end_of_text|>\n", "<|end_of_text|>\n", "<|end_of_text|>\n"},
                   .gen = "<|start_of_role|>assistant<|end_of_role|>\n",
                   .end_of_turn = "<|end_of_text|>"},
    [F_GIGACHAT] = {.name = "gigachat", .custom = 1, .end_of_turn = "<|message_sep|>"},
    [F_MEGREZ] = {.name = "megrez",
                  .pre = {"<|role_start|>system<|role_end|>", "<|role_start|>user<|role_end|>",
                          "<|role_start|>assistant<|role_end|>"},
                  .post = {"<|turn_end|>", "<|turn_end|>", "<|turn_end|>"},
                  .gen = "<|role_start|>assistant<|role_end|>", .end_of_turn = "<|turn_end|>"},
};

int chat_template_find(const char *name)
{
    for (int i = 0; name && i < F_COUNT; i++)
        if (strcmp(FAMILIES[i].name, name) == 0)
            return i;
    return CHAT_TEMPLATE_NONE;
}

const char *chat_template_name(int tmpl)
{
    return tmpl >= 0 && tmpl < F_COUNT ? FAMILIES[tmpl].name : NULL;
}

const char *chat_template_names(void)
{
    return "chatml, llama2, llama2-sys, llama2-sys-bos, llama2-sys-strip, mistral-v1, mistral-v3, "
           "mistral-v3-tekken, mistral-v7, phi3, phi4, falcon3, zephyr, monarch, gemma, orion, "
           "openchat, vicuna, vicuna-orca, deepseek, deepseek2, deepseek3, command-r, llama3, "
           "chatglm3, chatglm4, glmedge, minicpm, exaone3, rwkv-world, granite, gigachat, megrez";
}

const char *chat_template_end_of_turn(int tmpl)
{
    return tmpl >= 0 && tmpl < F_COUNT ? FAMILIES[tmpl].end_of_turn : NULL;
}

int chat_role_find(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "system") == 0 || strcmp(name, "developer") == 0)
        return CHAT_ROLE_SYSTEM;
    if (strcmp(name, "user") == 0)
        return CHAT_ROLE_USER;
    if (strcmp(name, "assistant") == 0)
        return CHAT_ROLE_ASSISTANT;
    return -1;
}

/* ---- detection: llama.cpp's order of tests, first match wins ---- */

static int has(const char *text, const char *s) { return strstr(text, s) != NULL; }

static int detect_inst(const char *t)
{
    if (has(t, "[SYSTEM_PROMPT]"))
        return F_MISTRAL_V7;
    /* Mistral's official v1 / v3 / v3-tekken templates */
    if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
        if (has(t, " [INST]"))
            return F_MISTRAL_V1;
        if (has(t, "\"[INST]\""))
            return F_MISTRAL_V3_TEKKEN;
        return F_MISTRAL_V3;
    }
    /* Llama 2 and its variants */
    if (has(t, "content.strip()"))
        return F_LLAMA2_SYS_STRIP;
    if (has(t, "bos_token + '[INST]"))
        return F_LLAMA2_SYS_BOS;
    if (has(t, "<<SYS>>"))
        return F_LLAMA2_SYS;
    return F_LLAMA2;
}

int chat_template_detect(const char *t)
{
    if (!t)
        return CHAT_TEMPLATE_NONE;
    int named = chat_template_find(t);
    if (named != CHAT_TEMPLATE_NONE)
        return named;
    if (has(t, "<|im_start|>"))
        return has(t, "<|im_sep|>") ? F_PHI4 : F_CHATML;
    if (strncmp(t, "mistral", 7) == 0 || has(t, "[INST]"))
        return detect_inst(t);
    if (has(t, "<|assistant|>") && has(t, "<|end|>"))
        return F_PHI3;
    if (has(t, "<|assistant|>") && has(t, "<|user|>"))
        return has(t, "</s>") ? F_FALCON3 : F_GLMEDGE;
    if (has(t, "<|user|>") && has(t, "<|endoftext|>"))
        return F_ZEPHYR;
    if (has(t, "bos_token + message['role']"))
        return F_MONARCH;
    if (has(t, "<start_of_turn>"))
        return F_GEMMA;
    if (has(t, "'\\n\\nAssistant: ' + eos_token"))
        return F_ORION;
    if (has(t, "GPT4 Correct "))
        return F_OPENCHAT;
    if (has(t, "USER: ") && has(t, "ASSISTANT: "))
        return has(t, "SYSTEM: ") ? F_VICUNA_ORCA : F_VICUNA;
    if (has(t, "### Instruction:") && has(t, "<|EOT|>"))
        return F_DEEPSEEK;
    if (has(t, "<|START_OF_TURN_TOKEN|>") && has(t, "<|USER_TOKEN|>"))
        return F_COMMAND_R;
    if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>"))
        return F_LLAMA3;
    if (has(t, "[gMASK]sop"))
        return F_CHATGLM3;
    if (has(t, "[gMASK]<sop>"))
        return F_CHATGLM4;
    if (has(t, "<用户>"))
        return F_MINICPM;
    if (has(t, "'Assistant: ' + message['content'] + eos_token"))
        return F_DEEPSEEK2;
    if (has(t, "<｜Assistant｜>") && has(t, "<｜User｜>") && has(t, "<｜end▁of▁sentence｜>"))
        return F_DEEPSEEK3;
    if (has(t, "[|system|]") && has(t, "[|assistant|]") && has(t, "[|endofturn|]"))
        return F_EXAONE3;
    if (has(t, "rwkv-world"))
        return F_RWKV_WORLD;
    if (has(t, "<|start_of_role|>"))
        return F_GRANITE;
    if (has(t, "message['role'] + additional_special_tokens[0] + message['content'] + "
               "additional_special_tokens[1]"))
        return F_GIGACHAT;
    if (has(t, "<|role_start|>"))
        return F_MEGREZ;
    return CHAT_TEMPLATE_NONE;
}

int chat_template_of_gguf(const char *path)
{
    gguf *g = NULL;
    if (!path || gguf_open(path, &g, NULL) != STATUS_OK)
        return CHAT_TEMPLATE_NONE;
    struct gguf_str s;
    int tmpl = CHAT_TEMPLATE_NONE;
    if (gguf_get_str(g, "tokenizer.chat_template", &s, NULL) == STATUS_OK) {
        char *text = strndup(s.s, s.len); /* the map's string is not NUL-terminated */
        tmpl = chat_template_detect(text);
        free(text);
    }
    gguf_close(g);
    return tmpl;
}

/* ---- rendering ---- */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* 'trim' 1: without leading and trailing white space (C's isspace set, as llama.cpp's trim) */
static void put_content(struct strbuf *b, const char *s, int trim)
{
    size_t n = strlen(s);
    if (trim) {
        while (n > 0 && is_space(*s)) {
            s++;
            n--;
        }
        while (n > 0 && is_space(s[n - 1]))
            n--;
    }
    strbuf_put(b, s, n);
}

/* [INST] ... [/INST] answer</s>: system in <<SYS>> (or as a plain line for llama2), no BOS
 * at the start (the tokenizer adds it), "<s>" before later turns in the -bos variant. */
static void render_llama2(struct strbuf *b, int f, const struct chat_message *m, size_t n)
{
    const int sys_block = f != F_LLAMA2, bos_inside = f == F_LLAMA2_SYS_BOS;
    const int strip = f == F_LLAMA2_SYS_STRIP;
    int in_turn = 1;
    strbuf_puts(b, "[INST] ");
    for (size_t i = 0; i < n; i++) {
        if (!in_turn) {
            in_turn = 1;
            strbuf_puts(b, bos_inside ? "<s>[INST] " : "[INST] ");
        }
        if (m[i].role == R_SYS) {
            strbuf_puts(b, sys_block ? "<<SYS>>\n" : "");
            put_content(b, m[i].content, strip);
            strbuf_puts(b, sys_block ? "\n<</SYS>>\n\n" : "\n");
        } else if (m[i].role == R_USER) {
            put_content(b, m[i].content, strip);
            strbuf_puts(b, " [/INST]");
        } else {
            put_content(b, m[i].content, strip);
            strbuf_puts(b, "</s>");
            in_turn = 0;
        }
    }
}

/* Mistral v1 " [INST] x [/INST]", v3 "[INST] x[/INST] y</s>" (answers trimmed), tekken
 * "[INST]x[/INST]y</s>"; a system message opens the turn it belongs to. */
static void render_mistral(struct strbuf *b, int f, const struct chat_message *m, size_t n)
{
    const char *lead = f == F_MISTRAL_V1 ? " " : "";
    const char *trail = f == F_MISTRAL_V3_TEKKEN ? "" : " ";
    int in_turn = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in_turn) {
            strbuf_puts(b, lead);
            strbuf_puts(b, "[INST]");
            strbuf_puts(b, trail);
            in_turn = 1;
        }
        if (m[i].role == R_SYS) {
            strbuf_puts(b, m[i].content);
            strbuf_puts(b, "\n\n");
        } else if (m[i].role == R_USER) {
            strbuf_puts(b, m[i].content);
            strbuf_puts(b, lead);
            strbuf_puts(b, "[/INST]");
        } else {
            strbuf_puts(b, trail);
            put_content(b, m[i].content, f == F_MISTRAL_V3);
            strbuf_puts(b, "</s>");
            in_turn = 0;
        }
    }
}

/* Gemma has no system role: the (trimmed) system text opens the next user turn. */
static void render_gemma(struct strbuf *b, const struct chat_message *m, size_t n, int add_assistant)
{
    const char *sys = NULL;
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == R_SYS) {
            sys = m[i].content;
            continue;
        }
        const int model_turn = m[i].role == R_ASST;
        strbuf_puts(b, model_turn ? "<start_of_turn>model\n" : "<start_of_turn>user\n");
        if (sys && !model_turn) {
            struct strbuf tmp = {0};
            put_content(&tmp, sys, 1);
            if (tmp.len > 0) {
                strbuf_puts(b, tmp.p);
                strbuf_puts(b, "\n\n");
            }
            b->oom |= tmp.oom;
            free(tmp.p);
            sys = NULL;
        }
        put_content(b, m[i].content, 1);
        strbuf_puts(b, "<end_of_turn>\n");
    }
    if (add_assistant)
        strbuf_puts(b, "<start_of_turn>model\n");
}

/* Orion: "Human: x\n\nAssistant: </s>answer</s>", system text before the next human turn. */
static void render_orion(struct strbuf *b, const struct chat_message *m, size_t n)
{
    const char *sys = NULL;
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == R_SYS) {
            sys = m[i].content;
        } else if (m[i].role == R_USER) {
            strbuf_puts(b, "Human: ");
            if (sys && *sys) {
                strbuf_puts(b, sys);
                strbuf_puts(b, "\n\n");
            }
            sys = NULL;
            strbuf_puts(b, m[i].content);
            strbuf_puts(b, "\n\nAssistant: </s>");
        } else {
            strbuf_puts(b, m[i].content);
            strbuf_puts(b, "</s>");
        }
    }
}

static const char *role_word(enum chat_role r)
{
    return r == R_SYS ? "system" : r == R_USER ? "user" : "assistant";
}

/* AlphaMonarch: "role\ncontent</s>\n", each message but the first after "<s>". */
static void render_monarch(struct strbuf *b, const struct chat_message *m, size_t n, int add_assistant)
{
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(b, i > 0 ? "<s>" : "");
        strbuf_puts(b, role_word(m[i].role));
        strbuf_puts(b, "\n");
        strbuf_puts(b, m[i].content);
        strbuf_puts(b, "</s>\n");
    }
    if (add_assistant)
        strbuf_puts(b, "<s>assistant\n");
}

/* GigaChat: "<s>" + a leading system message, then role<|role_sep|>content<|message_sep|>;
 * later system messages are dropped, as the format has no place for them. */
static void render_gigachat(struct strbuf *b, const struct chat_message *m, size_t n, int add_assistant)
{
    size_t i = 0;
    strbuf_puts(b, "<s>");
    if (n > 0 && m[0].role == R_SYS) {
        strbuf_puts(b, m[0].content);
        strbuf_puts(b, "<|message_sep|>");
        i = 1;
    }
    for (; i < n; i++) {
        if (m[i].role == R_USER) {
            strbuf_puts(b, "user<|role_sep|>");
            strbuf_puts(b, m[i].content);
            strbuf_puts(b, "<|message_sep|>available functions<|role_sep|>[]<|message_sep|>");
        } else if (m[i].role == R_ASST) {
            strbuf_puts(b, "assistant<|role_sep|>");
            strbuf_puts(b, m[i].content);
            strbuf_puts(b, "<|message_sep|>");
        }
    }
    if (add_assistant)
        strbuf_puts(b, "assistant<|role_sep|>");
}

int chat_template_render(int tmpl, const struct chat_message *m, size_t n, int add_assistant,
                         char **out, size_t *len, struct status_err *err)
{
    if (tmpl < 0 || tmpl >= F_COUNT)
        return status_set(err, STATUS_BAD_INPUT, NULL, "unknown chat template %d", tmpl);
    const struct family_row *f = &FAMILIES[tmpl];
    struct strbuf b = {0};
    if (!f->custom) {
        strbuf_puts(&b, f->begin);
        for (size_t i = 0; i < n; i++) {
            strbuf_puts(&b, f->pre[m[i].role]);
            put_content(&b, m[i].content, f->trim);
            strbuf_puts(&b, f->post[m[i].role]);
        }
        if (add_assistant)
            strbuf_puts(&b, f->gen);
    } else if (tmpl >= F_LLAMA2 && tmpl <= F_LLAMA2_SYS_STRIP) {
        render_llama2(&b, tmpl, m, n);
    } else if (tmpl >= F_MISTRAL_V1 && tmpl <= F_MISTRAL_V3_TEKKEN) {
        render_mistral(&b, tmpl, m, n);
    } else if (tmpl == F_GEMMA) {
        render_gemma(&b, m, n, add_assistant);
    } else if (tmpl == F_ORION) {
        render_orion(&b, m, n);
    } else if (tmpl == F_MONARCH) {
        render_monarch(&b, m, n, add_assistant);
    } else if (tmpl == F_GIGACHAT) {
        render_gigachat(&b, m, n, add_assistant);
    }
    if (!(*out = strbuf_take(&b, len))) /* "" when nothing is written */
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory rendering the chat");
    return STATUS_OK;
}
