/*
 * The shared session cache (wxauth_session_cache): one slab-allocated shared memory zone per
 * name, shared by all workers: a red-black tree of entries keyed by the SHA-256 of the Redis
 * data set's identity and the session's storage key (never the token), and a queue in least
 * recently used order. A zone that is full evicts from the queue's tail; an entry that cannot
 * be placed at all is simply not cached (no log line: the slab allocator's own is off).
 *
 * A flush (a lost connection, a flush of Redis) bumps the zone's generation: entries of an
 * older generation are never served and are freed when met, or evicted; so a flush costs the
 * same whatever the zone holds.
 *
 * What is trusted and when (ngx_http_wxauth_tracking.cpp decides): an entry is served and
 * stored only while this worker's invalidation connection to the location's Redis is
 * subscribed and its data connection confirmed CLIENT TRACKING; an entry is stored only from a
 * lookup sent in that state, with no invalidation of its key, no flush and no change of
 * connection in between.
 */

#include "ngx_http_wxauth_cache.h"

#include <cstring>

#include "core/session_cache.h"
#include "core/session_protocol.h"
#include "ngx_http_wxauth_metrics.h"
#include "ngx_http_wxauth_redis.h"
#include "ngx_http_wxauth_redis_cluster.h"
#include "ngx_http_wxauth_tracking.h"


#define NGX_HTTP_WXAUTH_CACHE_DIGEST_LEN   32
#define NGX_HTTP_WXAUTH_CACHE_VALID        5000    /* valid= by default, ms */
#define NGX_HTTP_WXAUTH_CACHE_EVICT_MAX    64      /* evictions tried for one entry */


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     lru;          /* most recently used first */
    ngx_uint_t                      generation;
    ngx_uint_t                      entries;      /* of the current generation */
} ngx_http_wxauth_cache_sh_t;


typedef struct {
    ngx_http_wxauth_cache_sh_t     *sh;
    ngx_slab_pool_t                *shpool;
} ngx_http_wxauth_cache_zone_t;


typedef struct {
    ngx_rbtree_node_t               node;         /* key: the digest's first bytes */
    ngx_queue_t                     queue;
    u_char                          digest[NGX_HTTP_WXAUTH_CACHE_DIGEST_LEN];
    ngx_uint_t                      generation;
    int64_t                         inserted;     /* ms, nginx's monotonic clock */
    int64_t                         expires;      /* ms, or wxauth::no_expiry */
    int64_t                         issued_at;
    int64_t                         ttl;
    int64_t                         max_until;
    uint16_t                        openid_len;
    uint16_t                        unionid_len;
    uint16_t                        appid_len;
    uint16_t                        session_key_len;
    unsigned                        renew:1;
    u_char                          data[1];      /* openid unionid appid session_key */
} ngx_http_wxauth_cache_node_t;


/* the zones' tag: set apart from the module's other zone (the metrics) */
static u_char  ngx_http_wxauth_cache_tag;

/* this worker's cache zones (init_worker) */
static ngx_http_wxauth_cache_zone_t  **ngx_http_wxauth_cache_zones;
static ngx_uint_t                      ngx_http_wxauth_cache_nzones;


static ngx_rbtree_key_t
ngx_http_wxauth_cache_rbkey(const u_char *digest)
{
    ngx_rbtree_key_t  key;

    ngx_memcpy(&key, digest, sizeof(ngx_rbtree_key_t));

    return key;
}


static void
ngx_http_wxauth_cache_rbtree_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t             **p;
    ngx_http_wxauth_cache_node_t   *n, *t;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            n = reinterpret_cast<ngx_http_wxauth_cache_node_t *>(node);
            t = reinterpret_cast<ngx_http_wxauth_cache_node_t *>(temp);

            p = (ngx_memcmp(n->digest, t->digest, NGX_HTTP_WXAUTH_CACHE_DIGEST_LEN) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_wxauth_cache_node_t *
ngx_http_wxauth_cache_find(ngx_http_wxauth_cache_zone_t *z, const u_char *digest)
{
    ngx_int_t                      rc;
    ngx_rbtree_key_t               key;
    ngx_rbtree_node_t             *node, *sentinel;
    ngx_http_wxauth_cache_node_t  *n;

    key = ngx_http_wxauth_cache_rbkey(digest);
    node = z->sh->rbtree.root;
    sentinel = z->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        n = reinterpret_cast<ngx_http_wxauth_cache_node_t *>(node);
        rc = ngx_memcmp(digest, n->digest, NGX_HTTP_WXAUTH_CACHE_DIGEST_LEN);

        if (rc == 0) {
            return n;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* frees an entry; the zone's mutex is held */
static void
ngx_http_wxauth_cache_free_node(ngx_http_wxauth_cache_zone_t *z, ngx_http_wxauth_cache_node_t *n)
{
    if (n->generation == z->sh->generation && z->sh->entries > 0) {
        z->sh->entries--;
    }

    ngx_queue_remove(&n->queue);
    ngx_rbtree_delete(&z->sh->rbtree, &n->node);
    ngx_slab_free_locked(z->shpool, n);
}


static ngx_int_t
ngx_http_wxauth_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_wxauth_cache_zone_t  *z, *oz;

    z = static_cast<ngx_http_wxauth_cache_zone_t *>(shm_zone->data);
    oz = static_cast<ngx_http_wxauth_cache_zone_t *>(data);

    if (oz != NULL) {
        /* reload: the same memory and entries (the new workers flush them once tracked) */
        z->sh = oz->sh;
        z->shpool = oz->shpool;
        return NGX_OK;
    }

    z->shpool = reinterpret_cast<ngx_slab_pool_t *>(shm_zone->shm.addr);

    if (shm_zone->shm.exists) {
        z->sh = static_cast<ngx_http_wxauth_cache_sh_t *>(z->shpool->data);
        return NGX_OK;
    }

    z->sh = static_cast<ngx_http_wxauth_cache_sh_t *>(
                ngx_slab_calloc(z->shpool, sizeof(ngx_http_wxauth_cache_sh_t)));
    if (z->sh == NULL) {
        return NGX_ERROR;
    }

    z->shpool->data = z->sh;

    ngx_rbtree_init(&z->sh->rbtree, &z->sh->sentinel, ngx_http_wxauth_cache_rbtree_insert);
    ngx_queue_init(&z->sh->lru);

    z->shpool->log_ctx = static_cast<u_char *>(
                             ngx_slab_alloc(z->shpool, sizeof(" in wxauth session cache zone \"\"")
                                                       + shm_zone->shm.name.len));
    if (z->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(z->shpool->log_ctx, " in wxauth session cache zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone evicts or skips an entry: never a log line */
    z->shpool->log_nomem = 0;

    return NGX_OK;
}


char *
ngx_http_wxauth_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_wxauth_loc_conf_t *wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(conf);

    u_char                        *p;
    ssize_t                        size;
    ngx_str_t                     *value, name, s;
    ngx_uint_t                     i;
    ngx_msec_t                     valid;
    ngx_shm_zone_t                *shm_zone;
    ngx_http_wxauth_cache_conf_t  *cc;
    ngx_http_wxauth_cache_zone_t  *z;

    if (wlcf->session_cache != NGX_CONF_UNSET_PTR) {
        return const_cast<char *>("is duplicate");
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);

    if (cf->args->nelts == 2 && value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        wlcf->session_cache = NULL;
        return NGX_CONF_OK;
    }

    ngx_str_null(&name);
    size = 0;
    valid = NGX_HTTP_WXAUTH_CACHE_VALID;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            p = static_cast<u_char *>(ngx_strlchr(name.data, value[i].data + value[i].len, ':'));

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" in \"wxauth_session_cache\": "
                                   "expected \"zone=NAME:SIZE\"", &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (name.len == 0 || size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" in \"wxauth_session_cache\": "
                                   "expected \"zone=NAME:SIZE\"", &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" of \"wxauth_session_cache\" is too small, "
                                   "at least %uzk", &name, 8 * ngx_pagesize / 1024);
                return static_cast<char *>(NGX_CONF_ERROR);
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "valid=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            valid = ngx_parse_time(&s, 0);

            if (valid == (ngx_msec_t) NGX_ERROR || valid == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" in \"wxauth_session_cache\": "
                                   "valid must be a positive time", &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"wxauth_session_cache\", expected "
                           "\"zone=NAME:SIZE\", \"valid=TIME\" or \"off\"", &value[i]);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"wxauth_session_cache\" needs \"zone=NAME:SIZE\"");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_wxauth_cache_tag);
    if (shm_zone == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (shm_zone->data == NULL) {
        z = static_cast<ngx_http_wxauth_cache_zone_t *>(
                ngx_pcalloc(cf->pool, sizeof(ngx_http_wxauth_cache_zone_t)));
        if (z == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        shm_zone->init = ngx_http_wxauth_cache_init_zone;
        shm_zone->data = z;
    }

    cc = static_cast<ngx_http_wxauth_cache_conf_t *>(
             ngx_pcalloc(cf->pool, sizeof(ngx_http_wxauth_cache_conf_t)));
    if (cc == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    cc->zone = shm_zone;
    cc->valid = valid;

    wlcf->session_cache = cc;

    return NGX_CONF_OK;
}


char *
ngx_http_wxauth_cache_merge(ngx_conf_t *cf, ngx_http_wxauth_loc_conf_t *conf)
{
    if (conf->session_cache == NULL || conf->redis == NULL) {
        return NGX_CONF_OK;
    }

    if (ngx_http_wxauth_tracking_add(cf->pool, conf->redis, NULL) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_wxauth_cache_init_worker(ngx_cycle_t *cycle)
{
    ngx_uint_t        i, n;
    ngx_shm_zone_t   *zone;
    ngx_list_part_t  *part;

    ngx_http_wxauth_cache_zones = NULL;
    ngx_http_wxauth_cache_nzones = 0;

    for (n = 0; n < 2; n++) {
        /* count, then collect */
        ngx_uint_t  found = 0;

        part = &cycle->shared_memory.part;
        zone = static_cast<ngx_shm_zone_t *>(part->elts);

        for (i = 0; /* void */ ; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }

                part = part->next;
                zone = static_cast<ngx_shm_zone_t *>(part->elts);
                i = 0;
            }

            if (zone[i].tag != &ngx_http_wxauth_cache_tag || zone[i].data == NULL) {
                continue;
            }

            if (n == 1) {
                ngx_http_wxauth_cache_zones[found] =
                    static_cast<ngx_http_wxauth_cache_zone_t *>(zone[i].data);
            }

            found++;
        }

        if (n == 0) {
            if (found == 0) {
                return NGX_OK;
            }

            ngx_http_wxauth_cache_zones = static_cast<ngx_http_wxauth_cache_zone_t **>(
                ngx_pcalloc(cycle->pool, found * sizeof(ngx_http_wxauth_cache_zone_t *)));
            if (ngx_http_wxauth_cache_zones == NULL) {
                return NGX_ERROR;
            }

            ngx_http_wxauth_cache_nzones = found;
        }
    }

    /*
     * A worker that starts may replace one that died without its exit handler (a crash): the
     * invalidations of the keys only that one read reach nobody now. Nothing stored before is
     * trusted.
     */
    ngx_http_wxauth_cache_flush();

    return NGX_OK;
}


/* ---- operations on one zone ---------------------------------------------------------------- */

static ngx_uint_t
ngx_http_wxauth_cache_zone_remove(ngx_http_wxauth_cache_zone_t *z, const u_char *digest)
{
    ngx_http_wxauth_cache_node_t  *n;

    if (z == NULL || z->sh == NULL) {
        return 0;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    n = ngx_http_wxauth_cache_find(z, digest);

    if (n != NULL) {
        ngx_http_wxauth_cache_free_node(z, n);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return n != NULL;
}


ngx_uint_t
ngx_http_wxauth_cache_remove(const std::string &digest)
{
    ngx_uint_t  i, removed;

    if (digest.size() != NGX_HTTP_WXAUTH_CACHE_DIGEST_LEN) {
        return 0;
    }

    removed = 0;

    for (i = 0; i < ngx_http_wxauth_cache_nzones; i++) {
        removed += ngx_http_wxauth_cache_zone_remove(
                       ngx_http_wxauth_cache_zones[i],
                       reinterpret_cast<const u_char *>(digest.data()));
    }

    return removed;
}


void
ngx_http_wxauth_cache_flush(void)
{
    ngx_uint_t                     i;
    ngx_http_wxauth_cache_zone_t  *z;

    for (i = 0; i < ngx_http_wxauth_cache_nzones; i++) {
        z = ngx_http_wxauth_cache_zones[i];

        if (z->sh == NULL) {
            continue;
        }

        ngx_shmtx_lock(&z->shpool->mutex);
        z->sh->generation++;
        z->sh->entries = 0;
        ngx_shmtx_unlock(&z->shpool->mutex);
    }
}


uint64_t
ngx_http_wxauth_cache_entries(void)
{
    uint64_t    n;
    ngx_uint_t  i;

    n = 0;

    for (i = 0; i < ngx_http_wxauth_cache_nzones; i++) {
        if (ngx_http_wxauth_cache_zones[i]->sh != NULL) {
            n += *static_cast<volatile ngx_uint_t *>(&ngx_http_wxauth_cache_zones[i]->sh->entries);
        }
    }

    return n;
}


/* ---- the session check --------------------------------------------------------------------- */

static ngx_http_wxauth_cache_zone_t *
ngx_http_wxauth_cache_zone_of(ngx_http_wxauth_loc_conf_t *wlcf)
{
    ngx_http_wxauth_cache_zone_t  *z;

    z = static_cast<ngx_http_wxauth_cache_zone_t *>(wlcf->session_cache->zone->data);

    return (z != NULL && z->sh != NULL) ? z : NULL;
}


/* The server whose connection reads this key: the location's, or its cluster's node for it. */
static ngx_http_wxauth_redis_server_t *
ngx_http_wxauth_cache_tracker(ngx_http_wxauth_redis_server_t *server, std::string_view key)
{
    if (server->cluster == NULL) {
        return server;
    }

    try {
        return ngx_http_wxauth_cluster_route(server, key);

    } catch (...) {
        return NULL;
    }
}


ngx_int_t
ngx_http_wxauth_cache_lookup(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_http_wxauth_loc_conf_t *wlcf, std::string_view storage_key)
{
    u_char                         *p;
    int64_t                         now, expires, issued_at, ttl, max_until;
    unsigned                        renew;
    ngx_http_wxauth_cache_node_t   *n;
    ngx_http_wxauth_cache_zone_t   *z;
    ngx_http_wxauth_redis_server_t *tracker;

    ctx->cache_armed = 0;
    ctx->cache_renew = 0;

    z = ngx_http_wxauth_cache_zone_of(wlcf);
    if (z == NULL || wlcf->redis->tracking == NULL) {
        return NGX_DECLINED;
    }

    std::string digest = ngx_http_wxauth_tracking_digest(wlcf->redis, storage_key);

    if (ctx->no_renewal) {
        /* logout: the session is about to end; Redis decides, and the entry goes now, from
           every zone (the invalidation message follows the DEL anyway) */
        (void) ngx_http_wxauth_cache_remove(digest);
        return NGX_DECLINED;
    }

    tracker = ngx_http_wxauth_cache_tracker(wlcf->redis, storage_key);

    if (tracker == NULL || !ngx_http_wxauth_tracking_trusted(tracker)) {
        /* no invalidations right now: neither served nor stored */
        ngx_http_wxauth_metric_inc(wxauth::Metric::cache_misses);
        return NGX_DECLINED;
    }

    now = (int64_t) ngx_current_msec;

    ngx_shmtx_lock(&z->shpool->mutex);

    n = ngx_http_wxauth_cache_find(z, reinterpret_cast<const u_char *>(digest.data()));

    /*
     * Each worker's ngx_current_msec is the monotonic clock as of its own last event-loop turn:
     * an entry another worker stored a moment ago may look a few ms "younger than now". Its
     * age is then 0, not a reason to drop it.
     */
    if (n != NULL && now < n->inserted) {
        now = n->inserted;
    }

    if (n != NULL
        && (n->generation != z->sh->generation
            || !wxauth::entry_servable(now, n->inserted, n->expires,
                                       (int64_t) wlcf->session_cache->valid)))
    {
        if (n->generation != z->sh->generation
            || !wxauth::entry_servable(now, n->inserted, n->expires, INT64_MAX / 2))
        {
            /* flushed, or the session itself expired: gone for every location */
            ngx_http_wxauth_cache_free_node(z, n);
        }

        n = NULL;
    }

    if (n == NULL) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        goto miss;
    }

    ngx_queue_remove(&n->queue);
    ngx_queue_insert_head(&z->sh->lru, &n->queue);

    p = n->data;

    if (ngx_http_wxauth_copy_str(r->pool, &ctx->openid, (const char *) p, n->openid_len)
        != NGX_OK
        || ngx_http_wxauth_copy_str(r->pool, &ctx->unionid, (const char *) p + n->openid_len,
                                    n->unionid_len) != NGX_OK
        || ngx_http_wxauth_copy_str(r->pool, &ctx->appid,
                                    (const char *) p + n->openid_len + n->unionid_len,
                                    n->appid_len) != NGX_OK
        || ngx_http_wxauth_copy_str(r->pool, &ctx->session_key,
                                    (const char *) p + n->openid_len + n->unionid_len
                                    + n->appid_len, n->session_key_len) != NGX_OK)
    {
        ngx_shmtx_unlock(&z->shpool->mutex);
        ngx_str_null(&ctx->openid);
        ngx_str_null(&ctx->unionid);
        ngx_str_null(&ctx->appid);
        ngx_str_null(&ctx->session_key);
        goto miss;
    }

    expires = n->expires;
    issued_at = n->issued_at;
    ttl = n->ttl;
    max_until = n->max_until;
    renew = n->renew;

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_http_wxauth_metric_inc(wxauth::Metric::cache_hits);

    {
        /* the renewal the uncached check would decide, from the cached expiry */
        wxauth::SessionRecord  rec;

        rec.issued_at = issued_at;
        rec.ttl = ttl;
        rec.renew = renew;
        rec.max_until = max_until;

        ctx->cache_renew = wxauth::renewal_expiry(rec, wxauth::entry_remaining_ms(now, expires),
                                                  (std::int64_t) ngx_time());
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "wxauth: session served from the session cache");

    return NGX_OK;

miss:

    ngx_http_wxauth_metric_inc(wxauth::Metric::cache_misses);

    ctx->cache_server = tracker;
    ctx->cache_mark = ngx_http_wxauth_tracking_mark(tracker);
    ctx->cache_sent = ngx_current_msec;
    ctx->cache_armed = 1;

    return NGX_DECLINED;
}


void
ngx_http_wxauth_cache_renew(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_http_wxauth_loc_conf_t *wlcf)
{
    ngx_http_wxauth_cache_zone_t  *z;

    if (ctx->cache_renew <= 0 || ctx->no_renewal) {
        return;
    }

    wxauth::SessionRecord  rec;

    rec.appid.assign(reinterpret_cast<const char *>(ctx->appid.data), ctx->appid.len);
    rec.openid.assign(reinterpret_cast<const char *>(ctx->openid.data), ctx->openid.len);

    std::string_view key = ngx_http_wxauth_sv(ctx->storage_key);

    if (ngx_http_wxauth_redis_send(wlcf->redis, wlcf->redis_timeout,
                                   wxauth::renewal_commands(ngx_http_wxauth_sv(
                                                                wlcf->redis_prefix),
                                                            key, rec, ctx->cache_renew),
                                   NULL, NULL)
        == NULL)
    {
        return;
    }

    ngx_http_wxauth_metric_inc(wxauth::Metric::session_renewed);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "wxauth: cached session renewed for %L s", (int64_t) ctx->cache_renew);

    /*
     * The EXPIRE invalidates the entry anyway; dropping it now keeps the other requests of
     * this moment from renewing it again, and the next check reads the new expiry.
     */
    z = ngx_http_wxauth_cache_zone_of(wlcf);

    if (z != NULL) {
        std::string digest = ngx_http_wxauth_tracking_digest(wlcf->redis, key);
        (void) ngx_http_wxauth_cache_zone_remove(z, reinterpret_cast<const u_char *>(
                                                        digest.data()));
    }
}


void
ngx_http_wxauth_cache_store(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_http_wxauth_loc_conf_t *wlcf, const wxauth::SessionRecord &rec,
    const std::vector<wxauth::ReplyView> &replies)
{
    u_char                        *p;
    size_t                         len;
    ngx_uint_t                     tries;
    ngx_queue_t                   *q;
    ngx_http_wxauth_cache_node_t  *n, *old;
    ngx_http_wxauth_cache_zone_t  *z;

    if (!ctx->cache_armed) {
        return;
    }

    ctx->cache_armed = 0;

    /* a read answered by another node than the tracked one it was sent to (Cluster ASK/MOVED) */
    if (ngx_http_wxauth_redis_redirected_now()) {
        return;
    }

    z = ngx_http_wxauth_cache_zone_of(wlcf);

    if (z == NULL || replies.size() < 2 || replies[1].outcome != wxauth::ReplyOutcome::integer
        || rec.openid.size() > 0xffff || rec.unionid.size() > 0xffff
        || rec.appid.size() > 0xffff || rec.session_key.size() > 0xffff)
    {
        return;
    }

    std::optional<std::int64_t> expires = wxauth::entry_expiry((int64_t) ctx->cache_sent,
                                                               replies[1].integer);
    if (!expires) {
        return;
    }

    std::string digest = ngx_http_wxauth_tracking_digest(wlcf->redis,
                                                         ngx_http_wxauth_sv(ctx->storage_key));

    /*
     * tracked now, by the same connection pair (a cluster's slot may have moved), and nothing
     * about this key (nor any connection change) since it was asked
     */
    if (ngx_http_wxauth_cache_tracker(wlcf->redis, ngx_http_wxauth_sv(ctx->storage_key))
            != ctx->cache_server
        || !ngx_http_wxauth_tracking_trusted(ctx->cache_server)
        || !ngx_http_wxauth_tracking_clean_since(ctx->cache_server, ctx->cache_mark,
                                                 wxauth::digest_hash64(digest)))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "wxauth: session not cached, invalidations came meanwhile");
        return;
    }

    len = offsetof(ngx_http_wxauth_cache_node_t, data) + rec.openid.size() + rec.unionid.size()
          + rec.appid.size() + rec.session_key.size();

    ngx_shmtx_lock(&z->shpool->mutex);

    old = ngx_http_wxauth_cache_find(z, reinterpret_cast<const u_char *>(digest.data()));
    if (old != NULL) {
        ngx_http_wxauth_cache_free_node(z, old);
    }

    n = static_cast<ngx_http_wxauth_cache_node_t *>(ngx_slab_alloc_locked(z->shpool, len));

    /* full: evict the least recently used entries until this one fits */
    for (tries = 0; n == NULL && tries < NGX_HTTP_WXAUTH_CACHE_EVICT_MAX; tries++) {
        if (ngx_queue_empty(&z->sh->lru)) {
            break;
        }

        q = ngx_queue_last(&z->sh->lru);
        old = ngx_queue_data(q, ngx_http_wxauth_cache_node_t, queue);

        if (old->generation == z->sh->generation) {
            ngx_http_wxauth_metric_inc(wxauth::Metric::cache_evictions);
        }

        ngx_http_wxauth_cache_free_node(z, old);

        n = static_cast<ngx_http_wxauth_cache_node_t *>(ngx_slab_alloc_locked(z->shpool, len));
    }

    if (n == NULL) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return;   /* not cached: the next check asks Redis again */
    }

    ngx_memcpy(n->digest, digest.data(), NGX_HTTP_WXAUTH_CACHE_DIGEST_LEN);
    n->node.key = ngx_http_wxauth_cache_rbkey(n->digest);
    n->generation = z->sh->generation;
    n->inserted = (int64_t) ctx->cache_sent;
    n->expires = *expires;
    n->issued_at = rec.issued_at;
    n->ttl = rec.ttl;
    n->max_until = rec.max_until;
    n->renew = rec.renew ? 1 : 0;
    n->openid_len = (uint16_t) rec.openid.size();
    n->unionid_len = (uint16_t) rec.unionid.size();
    n->appid_len = (uint16_t) rec.appid.size();
    n->session_key_len = (uint16_t) rec.session_key.size();

    p = n->data;
    p = ngx_cpymem(p, rec.openid.data(), rec.openid.size());
    p = ngx_cpymem(p, rec.unionid.data(), rec.unionid.size());
    p = ngx_cpymem(p, rec.appid.data(), rec.appid.size());
    (void) ngx_cpymem(p, rec.session_key.data(), rec.session_key.size());

    ngx_rbtree_insert(&z->sh->rbtree, &n->node);
    ngx_queue_insert_head(&z->sh->lru, &n->queue);
    z->sh->entries++;

    ngx_shmtx_unlock(&z->shpool->mutex);
}
