/*
 * The request context of the module: created once per request, recovered after internal
 * redirects, parked while Redis answers; and the small request helpers around it (copying
 * into the request pool, reading the request body into memory).
 */

#include "ngx_http_wxauth_module.h"
#include "ngx_http_wxauth_redis.h"

#include <string>


static void
ngx_http_wxauth_ctx_cleanup(void *data)
{
    ngx_http_wxauth_ctx_t  *ctx = static_cast<ngx_http_wxauth_ctx_t *>(data);

    /* the request is gone: its Redis batch must not call back into it */

    if (ctx->pending) {
        ngx_http_wxauth_redis_detach(ctx->pending);
        ctx->pending = NULL;
    }
}


/*
 * The request's context. An internal redirect (try_files, error_page, X-Accel-Redirect) wipes
 * every module's context, but the pool cleanup that owns ours survives it: recover the context
 * from there, so that the identity checked once stays with the request.
 */
ngx_http_wxauth_ctx_t *
ngx_http_wxauth_find_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_wxauth_ctx_t  *ctx;

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_http_get_module_ctx(r, ngx_http_wxauth_module));
    if (ctx || !r->internal) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_wxauth_ctx_cleanup) {
            ctx = static_cast<ngx_http_wxauth_ctx_t *>(cln->data);
            ngx_http_set_ctx(r, ctx, ngx_http_wxauth_module);
            return ctx;
        }
    }

    return NULL;
}


/* The request waits for Redis: notice a client that gives up meanwhile (the pool cleanup then
 * detaches the pending batch), and let no other event drive it. */
void
ngx_http_wxauth_park(ngx_http_request_t *r)
{
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;
}


ngx_http_wxauth_ctx_t *
ngx_http_wxauth_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_wxauth_ctx_t  *ctx;

    ctx = ngx_http_wxauth_find_ctx(r);
    if (ctx) {
        return ctx;
    }

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(ngx_pcalloc(r->pool, sizeof(ngx_http_wxauth_ctx_t)));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_wxauth_ctx_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_wxauth_module);

    return ctx;
}


ngx_int_t
ngx_http_wxauth_copy_str(ngx_pool_t *pool, ngx_str_t *dst, const char *data, size_t len)
{
    if (len == 0) {
        ngx_str_null(dst);
        return NGX_OK;
    }

    dst->data = static_cast<u_char *>(ngx_pnalloc(pool, len));
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, data, len);
    dst->len = len;

    return NGX_OK;
}


/*
 * Starts a handler that needs the (small) request body: creates the context and reads the body;
 * `body_handler` runs once it is in memory and finishes the request with one finalize call.
 */
ngx_int_t
ngx_http_wxauth_read_body(ngx_http_request_t *r, ngx_http_client_body_handler_pt body_handler)
{
    ngx_int_t  rc;

    if (ngx_http_wxauth_get_ctx(r) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* The request body, read into memory by nginx already; NGX_DECLINED when larger than `max` or
 * buffered to a file (reading that would block). */
ngx_int_t
ngx_http_wxauth_request_body(ngx_http_request_t *r, size_t max, std::string &body)
{
    size_t        len;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body.clear();

    if (r->request_body == NULL) {
        return NGX_DECLINED;
    }

    if (r->request_body->temp_file) {
        /* reading the file back would block the worker */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "wxauth: the request body did not fit in client_body_buffer_size and was "
                      "buffered to a file; raise client_body_buffer_size in this location");
        return NGX_DECLINED;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file || len + (b->last - b->pos) > max) {
            return NGX_DECLINED;
        }

        body.append(reinterpret_cast<const char *>(b->pos), b->last - b->pos);
        len += b->last - b->pos;
    }

    return NGX_OK;
}


/* the flow whose outcomes a handler location counts */
bool
ngx_http_wxauth_handler_flow(ngx_uint_t handler, wxauth::Flow *flow)
{
    switch (handler) {
    case NGX_HTTP_WXAUTH_HANDLER_LOGIN:
        *flow = wxauth::Flow::login;
        return true;
    case NGX_HTTP_WXAUTH_HANDLER_LOGOUT:
        *flow = wxauth::Flow::logout;
        return true;
    case NGX_HTTP_WXAUTH_HANDLER_SIGNATURE:
        *flow = wxauth::Flow::signature;
        return true;
    case NGX_HTTP_WXAUTH_HANDLER_DECRYPT:
        *flow = wxauth::Flow::decrypt;
        return true;
    default:
        return false;
    }
}


/* A handler that reads a (small) body: its methods only (405 with Allow), then the body. */
ngx_int_t
ngx_http_wxauth_start_body_handler(ngx_http_request_t *r, ngx_uint_t methods, const char *allow,
    ngx_http_client_body_handler_pt body_handler)
{
    if (!(r->method & methods)) {
        wxauth::Error  err = wxauth::Error::method_not_allowed;

        ngx_http_wxauth_count_outcome(r, &err);
        return ngx_http_wxauth_send_not_allowed(r, allow);
    }

    return ngx_http_wxauth_read_body(r, body_handler);
}
