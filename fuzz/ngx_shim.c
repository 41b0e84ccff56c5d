
/*
 * Copyright (C) b24trigger authors
 *
 * Just enough of nginx's pools and arrays for a fuzz target to link code
 * that allocates from a pool, without an initialized nginx.  Every
 * allocation is its own malloc(), so AddressSanitizer sees each bound;
 * ngx_destroy_pool() frees them all.
 */


#include <ngx_config.h>
#include <ngx_core.h>


static void *ngx_shim_alloc(ngx_pool_t *pool, size_t size, ngx_uint_t zero);


ngx_pool_t *
ngx_create_pool(size_t size, ngx_log_t *log)
{
    ngx_pool_t  *pool;

    pool = calloc(1, sizeof(ngx_pool_t));
    if (pool == NULL) {
        return NULL;
    }

    pool->log = log;

    return pool;
}


void
ngx_destroy_pool(ngx_pool_t *pool)
{
    ngx_pool_large_t  *l, *next;

    for (l = pool->large; l; l = next) {
        next = l->next;
        free(l->alloc);
        free(l);
    }

    free(pool);
}


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    return ngx_shim_alloc(pool, size, 0);
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return ngx_shim_alloc(pool, size, 0);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    return ngx_shim_alloc(pool, size, 1);
}


ngx_int_t
ngx_pfree(ngx_pool_t *pool, void *p)
{
    ngx_pool_large_t  *l;

    for (l = pool->large; l; l = l->next) {
        if (l->alloc == p) {
            free(l->alloc);
            l->alloc = NULL;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


void *
ngx_array_push(ngx_array_t *a)
{
    void  *elts;

    if (a->nelts == a->nalloc) {
        elts = ngx_palloc(a->pool, 2 * a->nalloc * a->size);
        if (elts == NULL) {
            return NULL;
        }

        memcpy(elts, a->elts, a->nelts * a->size);
        ngx_pfree(a->pool, a->elts);

        a->elts = elts;
        a->nalloc *= 2;
    }

    return (u_char *) a->elts + a->size * a->nelts++;
}


static void *
ngx_shim_alloc(ngx_pool_t *pool, size_t size, ngx_uint_t zero)
{
    void              *p;
    ngx_pool_large_t  *l;

    p = zero ? calloc(1, size ? size : 1) : malloc(size ? size : 1);
    l = malloc(sizeof(ngx_pool_large_t));

    if (p == NULL || l == NULL) {
        free(p);
        free(l);
        return NULL;
    }

    l->alloc = p;
    l->next = pool->large;
    pool->large = l;

    return p;
}
