/*
 * wxauth_session_cache: a shared-memory cache of the sessions Redis confirmed, shared by all
 * workers, kept honest by Redis's invalidation messages (ngx_http_wxauth_tracking.cpp).
 */

#ifndef NGX_HTTP_WXAUTH_CACHE_H_INCLUDED_
#define NGX_HTTP_WXAUTH_CACHE_H_INCLUDED_

#include "ngx_http_wxauth_module.h"

#include <string>
#include <string_view>

#include "core/session.h"


/* a location's `wxauth_session_cache zone=NAME:SIZE [valid=TIME]` */
struct ngx_http_wxauth_cache_conf_s {
    ngx_shm_zone_t                 *zone;
    ngx_msec_t                      valid;
};


/* `wxauth_session_cache zone=NAME:SIZE [valid=TIME] | off` */
char *ngx_http_wxauth_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* merge: a location with a cache and a Redis gets that Redis tracked (per worker) */
char *ngx_http_wxauth_cache_merge(ngx_conf_t *cf, ngx_http_wxauth_loc_conf_t *conf);

/* init_process: finds the cache zones of the cycle */
ngx_int_t ngx_http_wxauth_cache_init_worker(ngx_cycle_t *cycle);

/*
 * The session check (ngx_http_wxauth_session.cpp), `storage_key` being the session's Redis key:
 *  lookup: NGX_OK: a hit, the identity is in ctx (and ctx->cache_renew says whether a renewal
 *          is due); NGX_DECLINED: ask Redis (the lookup is armed for store when the cache is
 *          trusted now);
 *  renew:  the session was accepted: sends a due renewal, fire-and-forget;
 *  store:  Redis answered a lookup armed by `lookup` with this record: cache it when nothing
 *          that concerns it happened meanwhile.
 */
ngx_int_t ngx_http_wxauth_cache_lookup(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_http_wxauth_loc_conf_t *wlcf, std::string_view storage_key);
void ngx_http_wxauth_cache_renew(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_http_wxauth_loc_conf_t *wlcf);
void ngx_http_wxauth_cache_store(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_http_wxauth_loc_conf_t *wlcf, const wxauth::SessionRecord &rec,
    const std::vector<wxauth::ReplyView> &replies);

/* Invalidation (every cache zone): one entry by its digest; every entry. */
ngx_uint_t ngx_http_wxauth_cache_remove(const std::string &digest);
void ngx_http_wxauth_cache_flush(void);

/* The number of entries in every zone, for the metrics (racy read, no lock). */
uint64_t ngx_http_wxauth_cache_entries(void);


#endif /* NGX_HTTP_WXAUTH_CACHE_H_INCLUDED_ */
