
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target for Prodamus' canonical form
 * (src/ngx_http_b24trigger_phpform.c): the input is a form body, parsed
 * as the module parses it, written back as PHP's json_encode() of
 * $_POST.  Besides memory errors it checks what the "one view of the
 * body" rule needs: where the form is taken, the JSON is valid (jansson
 * reads it, no name twice in an object), and every field's value is in
 * it at the field's path, exactly as b24trigger_field reads the same
 * field from the same pairs.
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_phpform.c
 * FUZZ_SOURCES: src/ngx_http_b24trigger_body_parse.c fuzz/ngx_shim.c
 * FUZZ_LIBS: -ljansson
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <jansson.h>

#include "fuzz.h"
#include "ngx_http_b24trigger_phpform.h"


static json_t *phpform_fuzz_walk(json_t *j, ngx_http_b24trigger_seg_t *segs,
    ngx_uint_t nsegs);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                      *body;
    ngx_int_t                    rc;
    ngx_str_t                    out, value;
    ngx_uint_t                   i, nsegs;
    json_t                      *j, *jv;
    ngx_pool_t                  *pool;
    const char                  *error;
    ngx_array_t                  pairs, root;
    json_error_t                 jerr;
    ngx_http_b24trigger_root_t  *f;
    ngx_http_b24trigger_seg_t    segs[NGX_HTTP_B24TRIGGER_DEPTH_MAX];

    body = b24_fuzz_copy(data, size);

    pool = ngx_create_pool(4096, NULL);
    b24_fuzz_assert(pool != NULL);

    b24_fuzz_assert(ngx_array_init(&pairs, pool, 8, sizeof(ngx_keyval_t))
                    == NGX_OK);
    b24_fuzz_assert(ngx_http_b24trigger_form_parse(pool, body, size, &pairs)
                    == NGX_OK);
    b24_fuzz_assert(ngx_http_b24trigger_form_root(pool, &pairs, &root)
                    == NGX_OK);

    rc = ngx_http_b24trigger_phpform_json(pool, &root, &out, &error);

    b24_fuzz_assert(rc != NGX_ERROR);
    b24_fuzz_assert(rc == NGX_OK || error != NULL);

    if (rc != NGX_OK) {
        goto done;
    }

    /* at most six bytes for one, and a few for each name */

    b24_fuzz_assert(out.len <= 6 * size + 8 * root.nelts * 64 + 2);

    j = json_loadb((char *) out.data, out.len,
                   JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES,
                   &jerr);
    b24_fuzz_assert(j != NULL);

    f = root.elts;

    for (i = 0; i < root.nelts; i++) {

        if (ngx_http_b24trigger_path_parse(&f[i].name, segs, &nsegs, &error)
            != NGX_OK)
        {
            continue;
        }

        /* b24trigger_field's value, and the JSON's */

        b24_fuzz_assert(ngx_http_b24trigger_form_lookup(&pairs, segs, nsegs,
                                                        1, &value)
                        == NGX_OK);

        jv = phpform_fuzz_walk(j, segs, nsegs);

        b24_fuzz_assert(jv != NULL && json_is_string(jv));
        b24_fuzz_assert(json_string_length(jv) == value.len);
        b24_fuzz_assert(value.len == 0
                        || memcmp(json_string_value(jv), value.data,
                                  value.len) == 0);
    }

    json_decref(j);

done:

    ngx_destroy_pool(pool);
    free(body);

    return 0;
}


static json_t *
phpform_fuzz_walk(json_t *j, ngx_http_b24trigger_seg_t *segs,
    ngx_uint_t nsegs)
{
    ngx_uint_t  i;

    for (i = 0; i < nsegs && j != NULL; i++) {

        if (json_is_array(j)) {
            if (segs[i].index == NGX_HTTP_B24TRIGGER_NO_INDEX) {
                return NULL;
            }

            j = json_array_get(j, segs[i].index);
            continue;
        }

        if (!json_is_object(j)) {
            return NULL;
        }

        j = json_object_getn(j, (char *) segs[i].name.data,
                             segs[i].name.len);
    }

    return j;
}
