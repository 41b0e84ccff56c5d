
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: the checks of fuzz/fields_fuzz.c, against the JSON
 * parse built as processors without SSE2 run it, in plain C
 * (NGX_HTTP_B24TRIGGER_JSON_PORTABLE), with its seeds and dictionary.
 *
 * FUZZ_SOURCES: fuzz/ngx_shim.c
 * FUZZ_LIBS: -ljansson
 * FUZZ_SEEDS: fields
 */


#define NGX_HTTP_B24TRIGGER_JSON_PORTABLE  1

#include "../src/ngx_http_b24trigger_body_parse.c"
#include "fields_fuzz.c"
