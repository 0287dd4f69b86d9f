/* chat.h: chat templates: turn a list of (role, content) messages into the prompt text a
 * model was trained on. The families are the ones llama.cpp recognises without a Jinja
 * engine (chatml, llama2, llama3, mistral, phi3, gemma, ...), found by name or detected
 * from a model's `tokenizer.chat_template` text. Not a Jinja interpreter. Knows no HTTP. */
#ifndef LMSERVE_CHAT_H
#define LMSERVE_CHAT_H

#include <stddef.h>

#include "../util/status.h"

#define CHAT_TEMPLATE_NONE (-1) /* "no template": chat_template_find/detect found nothing */

enum chat_role { CHAT_ROLE_SYSTEM, CHAT_ROLE_USER, CHAT_ROLE_ASSISTANT };

struct chat_message {
    enum chat_role role;
    const char *content; /* UTF-8, NUL-terminated (borrowed) */
};

/* The family called 'name' ("chatml", "llama3", ...), or CHAT_TEMPLATE_NONE. */
int chat_template_find(const char *name);
/* The family of a model's template text, decided as llama.cpp's built-in detection does
 * (a family name itself, then tell-tale substrings such as "<|im_start|>"); NULL or an
 * unrecognised text gives CHAT_TEMPLATE_NONE. */
int chat_template_detect(const char *text);
/* The family of the template a GGUF file carries (`tokenizer.chat_template`), detected as
 * chat_template_detect does; CHAT_TEMPLATE_NONE when 'path' is not a readable GGUF file, has
 * no template, or its template is of no known family. Maps the file briefly; never fails. */
int chat_template_of_gguf(const char *path);
/* The name of family 'tmpl' (static string); NULL for CHAT_TEMPLATE_NONE or out of range. */
const char *chat_template_name(int tmpl);
/* Every family name, comma-separated (static string), for messages and docs. */
const char *chat_template_names(void);
/* The text that ends an assistant turn in 'tmpl' ("<|im_end|>", "</s>", ...): a stop string
 * for models whose tokenizer writes such markers as plain text. NULL when there is none. */
const char *chat_template_end_of_turn(int tmpl);

/* "system" / "developer" (as system), "user", "assistant" -> role; -1 for anything else. */
int chat_role_find(const char *name);

/* Render messages m[0..n) with family 'tmpl', followed by the start of the assistant's turn
 * when 'add_assistant' (families that have one). On STATUS_OK *out (NUL-terminated, *len
 * bytes) is malloc'd and owned by the caller; on error *out is untouched: STATUS_BAD_INPUT
 * for an unknown family, STATUS_NO_MEMORY. */
int chat_template_render(int tmpl, const struct chat_message *m, size_t n, int add_assistant,
                         char **out, size_t *len, struct status_err *err);

#endif
