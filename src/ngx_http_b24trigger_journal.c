
/*
 * Copyright (C) b24trigger authors
 *
 * The journal: what became of every webhook and of every queued event's
 * delivery.  The most recent entries are kept in a ring of fixed slots in
 * the zone "b24trigger_journal" (b24trigger_journal_ring of them, never
 * more), shared by all workers and kept across reloads; with
 * "b24trigger_journal PATH" each entry is also a line of JSON in a file,
 * gathered in a buffer of the worker and appended (O_APPEND) at most once
 * a second or when the buffer is full, the file renamed to PATH.1 when it
 * is larger than max_size or older than max_age.  Entries come from the
 * log phase of the webhooks' locations and from the queue's delivery
 * (callers fill an entry); the status API reads them, and the alerts
 * (ngx_http_b24trigger_alert.c) hear of each.  Bodies go to the file
 * only, when "bodies=" asks, with the configured secrets masked.
 */


#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_journal.h"
#include "ngx_http_b24trigger_queue.h"


#define NGX_HTTP_B24TRIGGER_JOURNAL_ZONE     "b24trigger_journal"
#define NGX_HTTP_B24TRIGGER_JOURNAL_RING     1000
#define NGX_HTTP_B24TRIGGER_JOURNAL_BUFFER   65536
#define NGX_HTTP_B24TRIGGER_JOURNAL_FLUSH    1000

#if (__GNUC__)
#define ngx_http_b24trigger_prefetch_write(p)  __builtin_prefetch(p, 1, 3)
#else
#define ngx_http_b24trigger_prefetch_write(p)
#endif

#define NGX_HTTP_B24TRIGGER_BODIES_OFF       0
#define NGX_HTTP_B24TRIGGER_BODIES_FAILED    1
#define NGX_HTTP_B24TRIGGER_BODIES_ALL       2


/*
 * the strings of a slot, one right after the other: an entry touches the
 * few cache lines its strings fill, not one line per field (a slot is
 * 1.3 KB, the ring 1.3 MB by default: more than a core's L2 cache, so
 * every line touched was a miss paid for under the ring's lock)
 */

#define NGX_HTTP_B24TRIGGER_JOURNAL_FIELD_MAX(id, name, max)  + (max)

#define NGX_HTTP_B24TRIGGER_JOURNAL_DATA                                      \
    (0 NGX_HTTP_B24TRIGGER_JOURNAL_FIELDS(                                    \
           NGX_HTTP_B24TRIGGER_JOURNAL_FIELD_MAX))


typedef struct {
    uint64_t                       seq;        /* 0: never written, or BUSY */
    int64_t                        time;
    uint32_t                       result;
    uint32_t                       status;
    uint32_t                       portal_status;
    uint32_t                       attempts;
    uint32_t                       latency;
    uint32_t                       portal_time;
    u_short                        len[NGX_HTTP_B24TRIGGER_JF_NUMBER];
    u_char                         data[NGX_HTTP_B24TRIGGER_JOURNAL_DATA];
} ngx_http_b24trigger_slot_t;


typedef struct {
    uint64_t                       seq;        /* the last written */
    ngx_uint_t                     size;
    ngx_uint_t                     generation; /* of the file, rotations */
    time_t                         opened;     /* the file's start */
    ngx_http_b24trigger_slot_t    *slots;
} ngx_http_b24trigger_journal_sh_t;


/* "b24trigger_journal PATH [max_size=] [max_age=] [bodies=]" */

typedef struct {
    ngx_str_t                      path;       /* NUL-ended */
    ngx_str_t                      rotated;    /* PATH.1, NUL-ended */
    off_t                          max_size;
    time_t                         max_age;
    ngx_uint_t                     bodies;
} ngx_http_b24trigger_journal_file_t;


typedef struct {
    ngx_http_b24trigger_journal_sh_t    *sh;
    ngx_slab_pool_t                     *shpool;
    ngx_uint_t                           size;
    ngx_http_b24trigger_journal_file_t  *file;
    ngx_int_t                            request_id;  /* variable index */
} ngx_http_b24trigger_journal_t;


/* the file's writer in this worker */

typedef struct {
    ngx_fd_t                       fd;
    ngx_uint_t                     generation;
    u_char                        *start;
    u_char                        *pos;
    u_char                        *last;
    ngx_event_t                    flush;
    ngx_log_t                     *log;
} ngx_http_b24trigger_journal_writer_t;


static ngx_int_t ngx_http_b24trigger_journal_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static ngx_int_t ngx_http_b24trigger_journal_log(ngx_http_request_t *r);
static u_char *ngx_http_b24trigger_journal_uint(u_char *p, uint64_t n,
    size_t width);
static u_char *ngx_http_b24trigger_journal_seq_digits(uint64_t n,
    size_t *len);
static void ngx_http_b24trigger_journal_slot(ngx_http_b24trigger_slot_t *s,
    ngx_http_b24trigger_jentry_t *e);
static ngx_int_t ngx_http_b24trigger_journal_match(
    ngx_http_b24trigger_slot_t *s, ngx_http_b24trigger_jfilter_t *f);
static void ngx_http_b24trigger_journal_write(
    ngx_http_b24trigger_jentry_t *e);
static void ngx_http_b24trigger_journal_flush_handler(ngx_event_t *ev);
static void ngx_http_b24trigger_journal_flush(void);
static void ngx_http_b24trigger_journal_open(void);
static void ngx_http_b24trigger_journal_rotate(void);


#define NGX_HTTP_B24TRIGGER_JOURNAL_RESULT_NAME(id, name)  ngx_string(name),

static ngx_str_t  ngx_http_b24trigger_journal_results[] = {
    NGX_HTTP_B24TRIGGER_JOURNAL_RESULTS(NGX_HTTP_B24TRIGGER_JOURNAL_RESULT_NAME)
    ngx_null_string
};


#define NGX_HTTP_B24TRIGGER_JOURNAL_FIELD_NAME(id, name, max)  ngx_string(name),

static ngx_str_t  ngx_http_b24trigger_journal_fields[] = {
    NGX_HTTP_B24TRIGGER_JOURNAL_FIELDS(NGX_HTTP_B24TRIGGER_JOURNAL_FIELD_NAME)
    ngx_null_string
};


#define NGX_HTTP_B24TRIGGER_JOURNAL_FIELD_SIZE(id, name, max)  max,

static size_t  ngx_http_b24trigger_journal_max[] = {
    NGX_HTTP_B24TRIGGER_JOURNAL_FIELDS(NGX_HTTP_B24TRIGGER_JOURNAL_FIELD_SIZE)
    0
};


/*
 * The ring without a lock (gcc's and clang's __atomic built-ins, 64-bit
 * wide on every architecture Debian builds for).  A slot's number is 0
 * until first written, BUSY while a writer is at it, else the entry's.
 */

/* BUSY and the number of the entry being written */

#define NGX_HTTP_B24TRIGGER_JOURNAL_BUSY  ((uint64_t) 1 << 63)


static ngx_inline uint64_t
ngx_http_b24trigger_journal_next(ngx_http_b24trigger_journal_sh_t *sh)
{
    return __atomic_add_fetch(&sh->seq, 1, __ATOMIC_SEQ_CST);
}


static ngx_inline uint64_t
ngx_http_b24trigger_journal_last(ngx_http_b24trigger_journal_sh_t *sh)
{
    return __atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);
}


static ngx_inline ngx_uint_t
ngx_http_b24trigger_journal_claim(ngx_http_b24trigger_slot_t *s,
    uint64_t seq)
{
    uint64_t  old;

    old = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);

    /*
     * An entry newer than seq already there, or being written: a writer
     * held up for a whole ring does not put its entry over a later one
     * (readers would look for the later one there, and miss it).  A
     * slot still BUSY with an older entry is taken over: its writer died
     * in the middle (nothing unlocks it as nginx unlocks a mutex held by
     * a worker that crashed), or is a whole ring late and will find its
     * publish refused.
     */

    if ((old & ~NGX_HTTP_B24TRIGGER_JOURNAL_BUSY) >= seq
        || !__atomic_compare_exchange_n(&s->seq, &old,
                                        NGX_HTTP_B24TRIGGER_JOURNAL_BUSY | seq,
                                        0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
    {
        return 0;
    }

    /*
     * BUSY seen before any byte of the entry: an acquire exchange orders
     * the loads after it, not the stores (arm64, POWER may show a reader
     * the new bytes under the old number); free on x86
     */

    __atomic_thread_fence(__ATOMIC_RELEASE);

    return 1;
}


/* the entry shown, unless another writer took the slot over meanwhile */

static ngx_inline void
ngx_http_b24trigger_journal_publish(ngx_http_b24trigger_slot_t *s,
    uint64_t seq)
{
    uint64_t  busy;

    busy = NGX_HTTP_B24TRIGGER_JOURNAL_BUSY | seq;

    (void) __atomic_compare_exchange_n(&s->seq, &busy, seq, 0,
                                       __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}


/* a copy of the slot if it holds entry seq, and still did once copied */

static ngx_int_t
ngx_http_b24trigger_journal_read(ngx_http_b24trigger_slot_t *s,
    uint64_t seq, ngx_http_b24trigger_slot_t *copy)
{
    ngx_uint_t  i;

    if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != seq) {
        return NGX_DECLINED;
    }

    ngx_memcpy(copy, s, sizeof(ngx_http_b24trigger_slot_t));

    __atomic_thread_fence(__ATOMIC_ACQUIRE);

    if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != seq) {
        return NGX_DECLINED;
    }

    /* torn lengths cannot pass the check above; belt and braces */

    for (i = 0; i < NGX_HTTP_B24TRIGGER_JF_NUMBER; i++) {
        if (copy->len[i] > ngx_http_b24trigger_journal_max[i]) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static ngx_conf_enum_t  ngx_http_b24trigger_journal_bodies[] = {
    { ngx_string("off"), NGX_HTTP_B24TRIGGER_BODIES_OFF },
    { ngx_string("failed"), NGX_HTTP_B24TRIGGER_BODIES_FAILED },
    { ngx_string("all"), NGX_HTTP_B24TRIGGER_BODIES_ALL },
    { ngx_null_string, 0 }
};


static ngx_http_b24trigger_journal_t         *ngx_http_b24trigger_journal;

/* this worker's count of the ids it made, for webhooks not queued */
static ngx_atomic_uint_t                       ngx_http_b24trigger_journal_seq;
static u_char                                  ngx_http_b24trigger_journal_pid[
                                                   NGX_INT64_LEN + 4];
static size_t                          ngx_http_b24trigger_journal_pid_len;

/* the count's digits, counted up with it: not divided out per id */
static u_char                                  ngx_http_b24trigger_journal_seqd[
                                                   NGX_INT64_LEN];
static size_t                          ngx_http_b24trigger_journal_seqd_len;
static uint64_t                        ngx_http_b24trigger_journal_seqd_of;

/* the ids' first part, the time in ms: written once a ms, not per id */
static uint64_t                                ngx_http_b24trigger_journal_ms
                                                   = (uint64_t) -1;
static u_char                                  ngx_http_b24trigger_journal_mstr[
                                                   NGX_INT64_LEN];
static size_t                          ngx_http_b24trigger_journal_mstr_len;
static ngx_http_b24trigger_journal_writer_t  *ngx_http_b24trigger_writer;


/* "b24trigger_journal PATH [max_size=100m] [max_age=24h] [bodies=off]" */

char *
ngx_http_b24trigger_journal_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_b24trigger_main_conf_t *bmcf = conf;

    u_char                              *p;
    ngx_str_t                           *value, s, dir;
    ngx_uint_t                           i, j;
    ngx_http_b24trigger_journal_file_t  *file;

    if (bmcf->journal_file != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    file = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_journal_file_t));
    if (file == NULL) {
        return NGX_CONF_ERROR;
    }

    file->path = value[1];

    if (ngx_conf_full_name(cf->cycle, &file->path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, file->path.len + sizeof(".1"));
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    file->rotated.data = p;
    p = ngx_cpymem(p, file->path.data, file->path.len);
    *p = '\0';
    file->path.data = file->rotated.data;

    p = ngx_pnalloc(cf->pool, file->path.len + sizeof(".1"));
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    file->rotated.len = ngx_sprintf(p, "%V.1%Z", &file->path) - p - 1;
    file->rotated.data = p;

    file->max_size = 100 * 1024 * 1024;
    file->max_age = 86400;
    file->bodies = NGX_HTTP_B24TRIGGER_BODIES_OFF;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_size=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            file->max_size = ngx_parse_offset(&s);
            if (file->max_size <= 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_age=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            file->max_age = ngx_parse_time(&s, 1);
            if (file->max_age == (time_t) NGX_ERROR || file->max_age == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "bodies=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            for (j = 0; ngx_http_b24trigger_journal_bodies[j].name.len; j++) {
                if (s.len == ngx_http_b24trigger_journal_bodies[j].name.len
                    && ngx_strncmp(s.data,
                              ngx_http_b24trigger_journal_bodies[j].name.data,
                              s.len) == 0)
                {
                    break;
                }
            }

            if (ngx_http_b24trigger_journal_bodies[j].name.len == 0) {
                goto invalid;
            }

            file->bodies = ngx_http_b24trigger_journal_bodies[j].value;
            continue;
        }

        goto invalid;
    }

    /* the workers create the file: its folder must be theirs to write */

    dir = file->path;

    while (dir.len && dir.data[dir.len - 1] != '/') {
        dir.len--;
    }

    if (dir.len > 1) {
        dir.len--;
    }

    if (ngx_http_b24trigger_reach_add(cf, &dir, "b24trigger_journal", 1,
                                      NGX_LOG_EMERG)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    bmcf->journal_file = file;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/* "b24trigger_journal_ring NUMBER" */

char *
ngx_http_b24trigger_journal_ring(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_b24trigger_main_conf_t *bmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (bmcf->journal_ring != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);

    if (n < 1 || n > 1000000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of entries \"%V\", "
                           "expected 1 to 1000000", &value[1]);
        return NGX_CONF_ERROR;
    }

    bmcf->journal_ring = n;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_b24trigger_journal_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    size_t                          size;
    ngx_str_t                       name;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_handler_pt            *h;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_b24trigger_journal_t  *j;

    if (!bmcf->used && !bmcf->status) {
        return NGX_OK;
    }

    j = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_journal_t));
    if (j == NULL) {
        return NGX_ERROR;
    }

    j->size = (bmcf->journal_ring == NGX_CONF_UNSET_UINT)
              ? NGX_HTTP_B24TRIGGER_JOURNAL_RING : bmcf->journal_ring;
    j->file = bmcf->journal_file;

    ngx_str_set(&name, "request_id");

    j->request_id = ngx_http_get_variable_index(cf, &name);
    if (j->request_id == NGX_ERROR) {
        return NGX_ERROR;
    }

    /* the slots, and room for the slab allocator's own pages */

    size = j->size * sizeof(ngx_http_b24trigger_slot_t);
    size += size / 16 + 16 * ngx_pagesize;

    ngx_str_set(&name, NGX_HTTP_B24TRIGGER_JOURNAL_ZONE);

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_b24trigger_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_b24trigger_journal_init_zone;
    shm_zone->data = j;

    bmcf->journal = j;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_b24trigger_journal_log;

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_journal_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_b24trigger_journal_t  *oj = data;

    size_t                          len;
    ngx_http_b24trigger_journal_t  *j;

    j = shm_zone->data;

    if (oj && oj->size == j->size) {
        /* a reload: the entries stay */
        j->sh = oj->sh;
        j->shpool = oj->shpool;
        return NGX_OK;
    }

    j->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        j->sh = j->shpool->data;
        return NGX_OK;
    }

    j->sh = ngx_slab_calloc(j->shpool,
                            sizeof(ngx_http_b24trigger_journal_sh_t));
    if (j->sh == NULL) {
        return NGX_ERROR;
    }

    j->shpool->data = j->sh;

    j->sh->size = j->size;
    j->sh->slots = ngx_slab_calloc(j->shpool,
                                   j->size
                                   * sizeof(ngx_http_b24trigger_slot_t));
    if (j->sh->slots == NULL) {
        return NGX_ERROR;
    }

    len = sizeof(" in b24trigger_journal zone");

    j->shpool->log_ctx = ngx_slab_alloc(j->shpool, len);
    if (j->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(j->shpool->log_ctx, " in b24trigger_journal zone%Z");

    return NGX_OK;
}


ngx_int_t
ngx_http_b24trigger_journal_init_process(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    ngx_http_b24trigger_journal_writer_t  *w;

    ngx_http_b24trigger_journal = bmcf->journal;
    ngx_http_b24trigger_writer = NULL;

    /* the middle of this worker's own ids, "-PID-r" */

    ngx_http_b24trigger_journal_pid_len =
        ngx_sprintf(ngx_http_b24trigger_journal_pid, "-%P-r", ngx_pid)
        - ngx_http_b24trigger_journal_pid;

    if (bmcf->journal == NULL || bmcf->journal_file == NULL) {
        return NGX_OK;
    }

    w = ngx_pcalloc(cycle->pool, sizeof(ngx_http_b24trigger_journal_writer_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->start = ngx_pnalloc(cycle->pool, NGX_HTTP_B24TRIGGER_JOURNAL_BUFFER);
    if (w->start == NULL) {
        return NGX_ERROR;
    }

    w->pos = w->start;
    w->last = w->start + NGX_HTTP_B24TRIGGER_JOURNAL_BUFFER;
    w->fd = NGX_INVALID_FILE;
    w->log = cycle->log;

    w->flush.handler = ngx_http_b24trigger_journal_flush_handler;
    w->flush.data = w;
    w->flush.log = cycle->log;
    w->flush.cancelable = 1;

    ngx_http_b24trigger_writer = w;

    ngx_http_b24trigger_journal_open();

    return NGX_OK;
}


void
ngx_http_b24trigger_journal_exit(ngx_cycle_t *cycle)
{
    ngx_http_b24trigger_journal_writer_t  *w;

    w = ngx_http_b24trigger_writer;

    if (w == NULL) {
        return;
    }

    ngx_http_b24trigger_journal_flush();

    if (w->flush.timer_set) {
        ngx_del_timer(&w->flush);
    }

    if (w->fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(w->fd);
        w->fd = NGX_INVALID_FILE;
    }

    ngx_http_b24trigger_writer = NULL;
}


/* the log phase: one entry per webhook, whatever became of it */

static ngx_int_t
ngx_http_b24trigger_journal_log(ngx_http_request_t *r)
{
    u_char                          *p, *d;
    size_t                           len;
    uint64_t                         now;
    ngx_time_t                      *tp;
    ngx_msec_int_t                   ms;
    ngx_http_variable_value_t       *vv;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_b24trigger_ctx_t       *ctx;
    ngx_http_b24trigger_call_t      *call;
    ngx_http_b24trigger_jentry_t     e;
    ngx_http_b24trigger_loc_conf_t  *blcf;
    u_char                           id[NGX_INT64_LEN * 3 + 4];

    ctx = ngx_http_get_module_ctx(r, ngx_http_b24trigger_module);

    if (ctx == NULL || r != r->main || ngx_http_b24trigger_journal == NULL) {
        return NGX_OK;
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_memzero(&e, sizeof(ngx_http_b24trigger_jentry_t));

    tp = ngx_timeofday();
    e.time = (int64_t) tp->sec * 1000 + tp->msec;

    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    e.latency = ngx_max(ms, 0);

    switch (ctx->result) {

    case NGX_HTTP_B24TRIGGER_FORWARDED:
        e.result = NGX_HTTP_B24TRIGGER_J_FORWARDED;
        break;

    case NGX_HTTP_B24TRIGGER_QUEUED:
        e.result = NGX_HTTP_B24TRIGGER_J_QUEUED;
        break;

    case NGX_HTTP_B24TRIGGER_IGNORED:
        e.result = NGX_HTTP_B24TRIGGER_J_IGNORED;
        break;

    case NGX_HTTP_B24TRIGGER_DUPLICATE:
        e.result = NGX_HTTP_B24TRIGGER_J_DUPLICATE;
        break;

    case NGX_HTTP_B24TRIGGER_REJECTED:
        e.result = NGX_HTTP_B24TRIGGER_J_REJECTED;
        e.failed = 1;
        break;

    case NGX_HTTP_B24TRIGGER_DRY_RUN:
        e.result = NGX_HTTP_B24TRIGGER_J_DRY_RUN;
        break;

    default:
        e.result = NGX_HTTP_B24TRIGGER_J_FAILED;
        e.failed = 1;
        break;
    }

    e.status = r->headers_out.status;
    e.attempts = ctx->attempts;

    e.str[NGX_HTTP_B24TRIGGER_JF_LOCATION] = clcf->name;
    e.str[NGX_HTTP_B24TRIGGER_JF_ADDR] = r->connection->addr_text;
    e.str[NGX_HTTP_B24TRIGGER_JF_ERROR] = ctx->error;
    e.str[NGX_HTTP_B24TRIGGER_JF_TARGET] = ctx->target;
    e.str[NGX_HTTP_B24TRIGGER_JF_CODE] = ctx->code;

    if (blcf->portal) {
        e.str[NGX_HTTP_B24TRIGGER_JF_PORTAL] = blcf->portal->name;
    }

    if (ctx->id.len) {
        e.str[NGX_HTTP_B24TRIGGER_JF_ID] = ctx->id;

    } else {

        /*
         * nginx's $request_id if the request has one already (a
         * log_format, an add_header used it), for the access log; else
         * an id of our own: $request_id costs RAND_bytes() each time
         */

        vv = &r->variables[ngx_http_b24trigger_journal->request_id];

        if (vv->valid && !vv->not_found) {
            e.str[NGX_HTTP_B24TRIGGER_JF_ID].data = vv->data;
            e.str[NGX_HTTP_B24TRIGGER_JF_ID].len = vv->len;

        } else {
            /* "%013M-%P-r%uA", without ngx_sprintf()'s walk of it */

            now = (uint64_t) ngx_cached_time->sec * 1000
                  + ngx_cached_time->msec;

            if (now != ngx_http_b24trigger_journal_ms) {
                p = ngx_http_b24trigger_journal_uint(
                                  ngx_http_b24trigger_journal_mstr, now, 13);
                ngx_http_b24trigger_journal_mstr_len =
                                  p - ngx_http_b24trigger_journal_mstr;
                ngx_http_b24trigger_journal_ms = now;
            }

            p = ngx_cpymem(id, ngx_http_b24trigger_journal_mstr,
                           ngx_http_b24trigger_journal_mstr_len);
            p = ngx_cpymem(p, ngx_http_b24trigger_journal_pid,
                           ngx_http_b24trigger_journal_pid_len);
            d = ngx_http_b24trigger_journal_seq_digits(
                                    ++ngx_http_b24trigger_journal_seq, &len);
            p = ngx_cpymem(p, d, len);

            e.str[NGX_HTTP_B24TRIGGER_JF_ID].data = id;
            e.str[NGX_HTTP_B24TRIGGER_JF_ID].len = p - id;
        }
    }

    call = ctx->call;

    if (call) {
        e.portal_status = call->status;
        e.portal_time = call->time;
        e.str[NGX_HTTP_B24TRIGGER_JF_PORTAL_ERROR] = call->error;
        e.str[NGX_HTTP_B24TRIGGER_JF_PORTAL_DESC] = call->error_description;
        e.str[NGX_HTTP_B24TRIGGER_JF_DETAIL] = call->detail;

        if (e.str[NGX_HTTP_B24TRIGGER_JF_ERROR].len == 0
            && call->outcome != NGX_HTTP_B24TRIGGER_CALL_OK)
        {
            e.str[NGX_HTTP_B24TRIGGER_JF_ERROR].data = (u_char *)
                ngx_http_b24trigger_outcome_name(call->outcome);
            e.str[NGX_HTTP_B24TRIGGER_JF_ERROR].len = ngx_strlen(
                e.str[NGX_HTTP_B24TRIGGER_JF_ERROR].data);
        }
    }

    if (e.result == NGX_HTTP_B24TRIGGER_J_FAILED
        && e.str[NGX_HTTP_B24TRIGGER_JF_ERROR].len == 0)
    {
        if (r->headers_out.status == NGX_HTTP_CLIENT_CLOSED_REQUEST
            || r->connection->error)
        {
            ngx_str_set(&e.str[NGX_HTTP_B24TRIGGER_JF_ERROR],
                        "client_closed");

        } else {
            ngx_str_set(&e.str[NGX_HTTP_B24TRIGGER_JF_ERROR],
                        "internal_error");
        }
    }

    if (ctx->body_done) {
        e.body = ctx->body;
    }

    ngx_http_b24trigger_journal_add(&e, r->connection->log);

    return NGX_OK;
}


/*
 * The entry for what became of a queued event's delivery, the spool's
 * or the Redis queue's: the event, the call's answer, and why (reason,
 * else the call's outcome when it failed)
 */

void
ngx_http_b24trigger_journal_event(ngx_http_b24trigger_record_t *rec,
    ngx_http_b24trigger_call_t *call, ngx_uint_t result, const char *reason,
    int64_t now, ngx_log_t *log)
{
    ngx_http_b24trigger_jentry_t  e;

    ngx_memzero(&e, sizeof(ngx_http_b24trigger_jentry_t));

    e.time = now;
    e.result = result;
    e.latency = (now > rec->received) ? now - rec->received : 0;
    e.attempts = rec->attempts;
    e.portal_status = call->status;
    e.portal_time = call->time;

    e.str[NGX_HTTP_B24TRIGGER_JF_ID] = rec->id;
    e.str[NGX_HTTP_B24TRIGGER_JF_LOCATION] = rec->location;
    e.str[NGX_HTTP_B24TRIGGER_JF_TARGET] = rec->target;
    e.str[NGX_HTTP_B24TRIGGER_JF_CODE] = rec->code;
    e.str[NGX_HTTP_B24TRIGGER_JF_PORTAL] = rec->portal;
    e.str[NGX_HTTP_B24TRIGGER_JF_PORTAL_ERROR] = call->error;
    e.str[NGX_HTTP_B24TRIGGER_JF_PORTAL_DESC] = call->error_description;
    e.str[NGX_HTTP_B24TRIGGER_JF_DETAIL] = call->detail;

    if (reason == NULL && call->outcome != NGX_HTTP_B24TRIGGER_CALL_OK) {
        reason = ngx_http_b24trigger_outcome_name(call->outcome);
    }

    if (reason) {
        e.str[NGX_HTTP_B24TRIGGER_JF_ERROR].data = (u_char *) reason;
        e.str[NGX_HTTP_B24TRIGGER_JF_ERROR].len = ngx_strlen(reason);
    }

    ngx_http_b24trigger_journal_add(&e, log);
}


void
ngx_http_b24trigger_journal_add(ngx_http_b24trigger_jentry_t *e,
    ngx_log_t *log)
{
    ngx_http_b24trigger_slot_t     *s;
    ngx_http_b24trigger_journal_t  *j;

    j = ngx_http_b24trigger_journal;

    if (j == NULL || j->sh == NULL) {
        return;
    }

    /*
     * No lock: a worker preempted while holding one stalled every other
     * worker that wrote an entry meanwhile (a few milliseconds at a
     * time on a busy machine: the p99 of two workers).  The number is
     * taken with one atomic add; the slot is claimed by turning its
     * number into BUSY, written, and published by its new number.  A
     * writer that finds its slot still BUSY (another, a whole ring
     * earlier, not done yet), or already holding a later entry, leaves
     * its entry out of the ring; the file and the alerts still get it.
     */

    e->seq = ngx_http_b24trigger_journal_next(j->sh);
    s = &j->sh->slots[e->seq % j->sh->size];

    if (ngx_http_b24trigger_journal_claim(s, e->seq)) {
        ngx_http_b24trigger_journal_slot(s, e);
        ngx_http_b24trigger_journal_publish(s, e->seq);
    }

    /*
     * the next slot's first lines, fetched now for the next entry: the
     * slots are written one after the other, each 1.3 MB of others later,
     * so each is out of the cache by then, and the stores waited for
     * lines still being fetched (about 0.15 us a webhook, a tenth of
     * what the module added to proxy_pass's CPU)
     */

    s = &j->sh->slots[(e->seq + 1) % j->sh->size];

    ngx_http_b24trigger_prefetch_write((u_char *) s);
    ngx_http_b24trigger_prefetch_write((u_char *) s + 64);
    ngx_http_b24trigger_prefetch_write((u_char *) s + 128);
    ngx_http_b24trigger_prefetch_write((u_char *) s + 192);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "b24trigger journal #%uL %V \"%V\"", e->seq,
                   &ngx_http_b24trigger_journal_results[e->result],
                   &e->str[NGX_HTTP_B24TRIGGER_JF_ID]);

    if (ngx_http_b24trigger_writer) {
        ngx_http_b24trigger_journal_write(e);
    }

    /* a dead letter, a refusal: someone may want to hear of it */

    ngx_http_b24trigger_alert_event(e, log);
}


/* n in decimal, zeros before it up to width digits */

static u_char *
ngx_http_b24trigger_journal_uint(u_char *p, uint64_t n, size_t width)
{
    u_char   digits[NGX_INT64_LEN], *d;
    size_t   len;

    d = digits + NGX_INT64_LEN;

    do {
        *--d = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    len = digits + NGX_INT64_LEN - d;

    while (width > len) {
        *p++ = '0';
        width--;
    }

    return ngx_cpymem(p, d, len);
}


/*
 * n in decimal, n most often one more than the last asked: then its
 * digits are the last ones counted up in place, as a person counts,
 * instead of divided out of n again; else they are written afresh
 */

static u_char *
ngx_http_b24trigger_journal_seq_digits(uint64_t n, size_t *len)
{
    u_char  *d, *end, *first;
    u_char   digits[NGX_INT64_LEN];

    end = ngx_http_b24trigger_journal_seqd + NGX_INT64_LEN;
    first = end - ngx_http_b24trigger_journal_seqd_len;

    if (n == ngx_http_b24trigger_journal_seqd_of + 1 && first < end
        && first > ngx_http_b24trigger_journal_seqd)
    {
        for (d = end - 1; d >= first && *d == '9'; d--) {
            *d = '0';
        }

        if (d < first) {
            /* 99 + 1: one digit more, room kept before first */
            *d = '1';
            first = d;

        } else {
            (*d)++;
        }

    } else {
        d = ngx_http_b24trigger_journal_uint(digits, n, 0);
        first = end - (d - digits);
        ngx_memcpy(first, digits, d - digits);
    }

    ngx_http_b24trigger_journal_seqd_len = end - first;
    ngx_http_b24trigger_journal_seqd_of = n;

    *len = end - first;

    return first;
}


static void
ngx_http_b24trigger_journal_slot(ngx_http_b24trigger_slot_t *s,
    ngx_http_b24trigger_jentry_t *e)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i;

    s->time = e->time;
    s->result = (uint32_t) e->result;
    s->status = (uint32_t) e->status;
    s->portal_status = (uint32_t) e->portal_status;
    s->attempts = (uint32_t) e->attempts;
    s->latency = (uint32_t) e->latency;
    s->portal_time = (uint32_t) e->portal_time;

    p = s->data;

    for (i = 0; i < NGX_HTTP_B24TRIGGER_JF_NUMBER; i++) {
        len = ngx_min(e->str[i].len, ngx_http_b24trigger_journal_max[i]);
        s->len[i] = (u_short) len;

        /* most of an entry's strings are empty: no call for them */

        if (len) {
            p = ngx_cpymem(p, e->str[i].data, len);
        }
    }
}


/*
 * The entries that match, newest first, copied into the pool; the ring is
 * read under its lock, which writers hold only to copy one slot.
 */

ngx_int_t
ngx_http_b24trigger_journal_find(ngx_pool_t *pool,
    ngx_http_b24trigger_jfilter_t *f, ngx_array_t *out)
{
    u_char                         *p, *d;
    size_t                          len;
    uint64_t                        seq, first, last;
    ngx_uint_t                      i;
    ngx_http_b24trigger_slot_t     *s, copy;
    ngx_http_b24trigger_jentry_t   *e;
    ngx_http_b24trigger_journal_t  *j;

    j = ngx_http_b24trigger_journal;

    if (j == NULL || j->sh == NULL) {
        return NGX_DECLINED;
    }

    last = ngx_http_b24trigger_journal_last(j->sh);

    f->last = last;
    f->size = j->sh->size;

    seq = last;

    if (f->before && f->before <= seq) {
        seq = f->before - 1;
    }

    first = (last >= j->sh->size) ? last - j->sh->size + 1 : 1;

    for ( /* void */ ; seq >= first && seq > f->after && seq > 0; seq--) {

        if (out->nelts >= f->limit) {
            break;
        }

        /*
         * the slot copied, and kept only if its number was the one
         * sought before the copy and still is after it: no writer was
         * at it meanwhile (writers take no lock)
         */

        s = &j->sh->slots[seq % j->sh->size];

        if (ngx_http_b24trigger_journal_read(s, seq, &copy) != NGX_OK) {
            continue;
        }

        /* workers' entries interleave: times are nearly, not quite, in order */

        if (f->since && copy.time < f->since) {
            continue;
        }

        if (!ngx_http_b24trigger_journal_match(&copy, f)) {
            continue;
        }

        e = ngx_array_push(out);
        if (e == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(e, sizeof(ngx_http_b24trigger_jentry_t));

        e->seq = seq;
        e->time = copy.time;
        e->result = copy.result;
        e->status = copy.status;
        e->portal_status = copy.portal_status;
        e->attempts = copy.attempts;
        e->latency = copy.latency;
        e->portal_time = copy.portal_time;

        len = 0;

        for (i = 0; i < NGX_HTTP_B24TRIGGER_JF_NUMBER; i++) {
            len += copy.len[i];
        }

        p = ngx_pnalloc(pool, len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, copy.data, len);

        d = p;

        for (i = 0; i < NGX_HTTP_B24TRIGGER_JF_NUMBER; i++) {
            e->str[i].data = d;
            e->str[i].len = copy.len[i];
            d += copy.len[i];
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_journal_match(ngx_http_b24trigger_slot_t *s,
    ngx_http_b24trigger_jfilter_t *f)
{
    u_char      *p;
    ngx_uint_t   i;

    if (f->result >= 0 && (ngx_int_t) s->result != f->result) {
        return 0;
    }

    p = s->data;

    for (i = 0; i < NGX_HTTP_B24TRIGGER_JF_NUMBER; i++) {

        if (f->str[i].len
            && (f->str[i].len != s->len[i]
                || ngx_memcmp(f->str[i].data, p, s->len[i]) != 0))
        {
            return 0;
        }

        p += s->len[i];
    }

    return 1;
}


/* a result by name; NGX_ERROR: no such */

ngx_int_t
ngx_http_b24trigger_journal_result(ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_B24TRIGGER_J_NUMBER; i++) {
        if (name->len == ngx_http_b24trigger_journal_results[i].len
            && ngx_strncmp(name->data,
                           ngx_http_b24trigger_journal_results[i].data,
                           name->len) == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


ngx_str_t *
ngx_http_b24trigger_journal_field_name(ngx_uint_t field)
{
    return &ngx_http_b24trigger_journal_fields[field];
}


/*
 * One entry as a JSON object, the same in the API and in the file:
 * {"seq":1,"time":1764189000123,"result":"forwarded","status":200,
 *  "portal_status":200,"attempts":1,"latency_ms":12,"portal_time_ms":9,
 *  "id":"...","location":"/hook",...}; strings that are empty are left out
 */

size_t
ngx_http_b24trigger_journal_json_len(ngx_http_b24trigger_jentry_t *e)
{
    size_t      len;
    ngx_uint_t  i;

    len = sizeof("{\"seq\":,\"time\":,\"result\":\"\",\"status\":,"
                 "\"portal_status\":,\"attempts\":,\"latency_ms\":,"
                 "\"portal_time_ms\":}") - 1
          + 8 * NGX_INT64_LEN + 16;

    for (i = 0; i < NGX_HTTP_B24TRIGGER_JF_NUMBER; i++) {
        if (e->str[i].len) {
            len += sizeof(",\"\":\"\"") - 1
                   + ngx_http_b24trigger_journal_fields[i].len
                   + ngx_http_b24trigger_json_escape_len(e->str[i].data,
                                                         e->str[i].len);
        }
    }

    return len;
}


u_char *
ngx_http_b24trigger_journal_json(u_char *p, ngx_http_b24trigger_jentry_t *e)
{
    ngx_uint_t  i;

    p = ngx_sprintf(p, "{\"seq\":%uL,\"time\":%L,\"result\":\"%V\","
                    "\"status\":%ui,\"portal_status\":%ui,\"attempts\":%ui,"
                    "\"latency_ms\":%M,\"portal_time_ms\":%M",
                    e->seq, e->time,
                    &ngx_http_b24trigger_journal_results[e->result],
                    e->status, e->portal_status, e->attempts, e->latency,
                    e->portal_time);

    for (i = 0; i < NGX_HTTP_B24TRIGGER_JF_NUMBER; i++) {
        if (e->str[i].len == 0) {
            continue;
        }

        p = ngx_sprintf(p, ",\"%V\":\"",
                        &ngx_http_b24trigger_journal_fields[i]);
        p = ngx_http_b24trigger_json_escape(p, e->str[i].data,
                                            e->str[i].len);
        *p++ = '"';
    }

    *p++ = '}';

    return p;
}


/* a JSON string's content: UTF-8 kept, any other byte as U+FFFD */

size_t
ngx_http_b24trigger_json_escape_len(u_char *s, size_t len)
{
    return len * 6;
}


u_char *
ngx_http_b24trigger_json_escape(u_char *p, u_char *s, size_t len)
{
    u_char    c, *q, *last;
    uint32_t  u;

    last = s + len;

    while (s < last) {
        c = *s;

        if (c >= 0x80) {
            q = s;
            u = ngx_utf8_decode(&q, last - s);

            if (u > 0x10ffff) {
                p = ngx_cpymem(p, "\\ufffd", 6);
                s++;
                continue;
            }

            p = ngx_cpymem(p, s, q - s);
            s = q;
            continue;
        }

        s++;

        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = c;

        } else if (c == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else if (c == '\r') {
            *p++ = '\\';
            *p++ = 'r';

        } else if (c == '\t') {
            *p++ = '\\';
            *p++ = 't';

        } else if (c < 0x20 || c == 0x7f) {
            p = ngx_sprintf(p, "\\u%04xd", (ngx_uint_t) c);

        } else {
            *p++ = c;
        }
    }

    return p;
}


/* the file: one line per entry, into the worker's buffer */

static void
ngx_http_b24trigger_journal_write(ngx_http_b24trigger_jentry_t *e)
{
    u_char                                *p, *line, *raw;
    size_t                                 len, blen;
    ngx_str_t                              body;
    ngx_http_b24trigger_journal_file_t    *file;
    ngx_http_b24trigger_journal_writer_t  *w;

    w = ngx_http_b24trigger_writer;
    file = ngx_http_b24trigger_journal->file;

    body.len = 0;
    body.data = NULL;
    raw = NULL;

    if (e->body.len
        && (file->bodies == NGX_HTTP_B24TRIGGER_BODIES_ALL
            || (file->bodies == NGX_HTTP_B24TRIGGER_BODIES_FAILED
                && e->failed)))
    {
        /* the body as sent, but no configured secret, however escaped */

        raw = ngx_alloc(e->body.len, w->log);
        if (raw == NULL) {
            return;
        }

        ngx_memcpy(raw, e->body.data, e->body.len);

        body.data = raw;
        body.len = ngx_http_b24trigger_redact_body(raw, e->body.len);
    }

    blen = body.len ? sizeof(",\"body\":\"\"") - 1
                      + ngx_http_b24trigger_json_escape_len(body.data,
                                                            body.len)
                    : 0;

    len = ngx_http_b24trigger_journal_json_len(e) + blen + 1;

    if (len > (size_t) (w->last - w->pos)) {
        ngx_http_b24trigger_journal_flush();
    }

    if (len > (size_t) (w->last - w->pos)) {

        /* larger than the buffer: made apart, written at once */

        line = ngx_alloc(len, w->log);
        if (line == NULL) {
            goto done;
        }

    } else {
        line = w->pos;
    }

    p = ngx_http_b24trigger_journal_json(line, e);

    if (body.len) {
        p--;
        p = ngx_cpymem(p, ",\"body\":\"", sizeof(",\"body\":\"") - 1);
        p = ngx_http_b24trigger_json_escape(p, body.data, body.len);
        *p++ = '"';
        *p++ = '}';
    }

    *p++ = '\n';

    if (line != w->pos) {
        if (w->fd != NGX_INVALID_FILE) {
            (void) ngx_write_fd(w->fd, line, p - line);
        }

        ngx_free(line);
        goto done;
    }

    w->pos = p;

    if (!w->flush.timer_set) {
        ngx_add_timer(&w->flush, NGX_HTTP_B24TRIGGER_JOURNAL_FLUSH);
    }

done:

    if (raw) {
        ngx_free(raw);
    }
}


static void
ngx_http_b24trigger_journal_flush_handler(ngx_event_t *ev)
{
    ngx_http_b24trigger_journal_flush();
}


/* one write() with O_APPEND: lines of several workers never mix */

static void
ngx_http_b24trigger_journal_flush(void)
{
    ssize_t                                n;
    ngx_http_b24trigger_journal_writer_t  *w;

    w = ngx_http_b24trigger_writer;

    ngx_http_b24trigger_journal_rotate();

    if (w->pos == w->start) {
        return;
    }

    if (w->fd != NGX_INVALID_FILE) {
        n = ngx_write_fd(w->fd, w->start, w->pos - w->start);

        if (n != w->pos - w->start) {
            ngx_log_error(NGX_LOG_ERR, w->log, ngx_errno,
                          "b24trigger: write() to journal \"%s\" failed, "
                          "%z of %uz bytes written",
                          ngx_http_b24trigger_journal->file->path.data,
                          n, (size_t) (w->pos - w->start));
        }
    }

    w->pos = w->start;
}


/* the file after a rotation (by this worker or another one) */

static void
ngx_http_b24trigger_journal_open(void)
{
    ngx_http_b24trigger_journal_sh_t      *sh;
    ngx_http_b24trigger_journal_file_t    *file;
    ngx_http_b24trigger_journal_writer_t  *w;

    w = ngx_http_b24trigger_writer;
    file = ngx_http_b24trigger_journal->file;
    sh = ngx_http_b24trigger_journal->sh;

    if (w->fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(w->fd);
    }

    w->fd = ngx_open_file(file->path.data, NGX_FILE_APPEND,
                          NGX_FILE_CREATE_OR_OPEN|O_NOFOLLOW|O_CLOEXEC,
                          NGX_FILE_OWNER_ACCESS);

    if (w->fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, w->log, ngx_errno,
                      "b24trigger: " ngx_open_file_n " journal \"%s\" "
                      "failed", file->path.data);
    }

    ngx_shmtx_lock(&ngx_http_b24trigger_journal->shpool->mutex);

    w->generation = sh->generation;

    if (sh->opened == 0) {
        sh->opened = ngx_time();
    }

    ngx_shmtx_unlock(&ngx_http_b24trigger_journal->shpool->mutex);
}


/*
 * Larger than max_size or older than max_age: the first worker to see it
 * renames PATH to PATH.1 (the one before is replaced) and every worker
 * opens a new PATH at its next flush.
 */

static void
ngx_http_b24trigger_journal_rotate(void)
{
    off_t                                  size;
    ngx_uint_t                             reopen;
    ngx_file_info_t                        fi, pi;
    ngx_http_b24trigger_journal_sh_t      *sh;
    ngx_http_b24trigger_journal_file_t    *file;
    ngx_http_b24trigger_journal_writer_t  *w;

    w = ngx_http_b24trigger_writer;
    file = ngx_http_b24trigger_journal->file;
    sh = ngx_http_b24trigger_journal->sh;

    if (w->fd == NGX_INVALID_FILE) {
        ngx_http_b24trigger_journal_open();
        return;
    }

    if (ngx_fd_info(w->fd, &fi) == NGX_FILE_ERROR) {
        return;
    }

    size = ngx_file_size(&fi) + (w->pos - w->start);

    reopen = 0;

    ngx_shmtx_lock(&ngx_http_b24trigger_journal->shpool->mutex);

    if (w->generation != sh->generation) {
        reopen = 1;

    } else if ((size > file->max_size && ngx_file_size(&fi) > 0)
               || (sh->opened && ngx_time() - sh->opened >= file->max_age
                   && ngx_file_size(&fi) > 0))
    {
        /* ours is still PATH: nobody else rotated it */

        if (ngx_file_info(file->path.data, &pi) != NGX_FILE_ERROR
            && pi.st_ino == fi.st_ino && pi.st_dev == fi.st_dev)
        {
            if (ngx_rename_file(file->path.data, file->rotated.data)
                == NGX_FILE_ERROR)
            {
                ngx_log_error(NGX_LOG_ERR, w->log, ngx_errno,
                              "b24trigger: " ngx_rename_file_n " journal "
                              "\"%s\" to \"%s\" failed",
                              file->path.data, file->rotated.data);

            } else {
                ngx_log_error(NGX_LOG_NOTICE, w->log, 0,
                              "b24trigger: journal \"%s\" rotated to \"%s\"",
                              file->path.data, file->rotated.data);
            }
        }

        sh->generation++;
        sh->opened = ngx_time();
        reopen = 1;
    }

    ngx_shmtx_unlock(&ngx_http_b24trigger_journal->shpool->mutex);

    if (reopen) {
        ngx_http_b24trigger_journal_open();
    }
}
