/*
 * Small pieces shared by the handlers: the request context, JSON answers, log levels, and
 * keeping the AppSecret out of the error log.
 */

#include "ngx_http_wxauth_module.h"
#include "ngx_http_wxauth_redis.h"

#include <string>

#include "core/session_protocol.h"


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


static ngx_int_t
ngx_http_wxauth_add_header(ngx_http_request_t *r, const char *key, const char *value)
{
    ngx_table_elt_t  *h;

    h = static_cast<ngx_table_elt_t *>(ngx_list_push(&r->headers_out.headers));
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


/*
 * The headers of every JSON (or metrics) answer of the module: Content-Type, its length, and
 * Cache-Control: no-store. The status is the caller's (or nginx's, for its own refusals).
 */
static ngx_int_t
ngx_http_wxauth_set_headers(ngx_http_request_t *r, const char *content_type, size_t len)
{
    size_t  type_len;

    r->headers_out.content_length_n = len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    r->headers_out.content_type.data = (u_char *) content_type;
    r->headers_out.content_type.len = ngx_strlen(content_type);
    r->headers_out.content_type_lowcase = NULL;

    /* the media type alone: with parameters, nginx's charset filter adds none */
    for (type_len = 0; type_len < r->headers_out.content_type.len; type_len++) {
        if (content_type[type_len] == ';' || content_type[type_len] == ' ') {
            break;
        }
    }

    r->headers_out.content_type_len = type_len;

    return ngx_http_wxauth_add_header(r, "Cache-Control", "no-store");
}


ngx_int_t
ngx_http_wxauth_set_json_headers(ngx_http_request_t *r, size_t len)
{
    return ngx_http_wxauth_set_headers(r, "application/json", len);
}


/*
 * The whole answer of a handler: status, Content-Type, Cache-Control: no-store, an Allow header
 * when allow is not NULL, and the body (none for HEAD).
 */
ngx_int_t
ngx_http_wxauth_send_response(ngx_http_request_t *r, ngx_uint_t status,
    const char *content_type, const char *allow, const char *data, size_t len)
{
    ngx_buf_t    *b;
    ngx_int_t     rc;
    ngx_chain_t   out;

    r->headers_out.status = status;

    if (ngx_http_wxauth_set_headers(r, content_type, len) != NGX_OK) {
        return NGX_ERROR;
    }

    if (allow && ngx_http_wxauth_add_header(r, "Allow", allow) != NGX_OK) {
        return NGX_ERROR;
    }

    if (r->method == NGX_HTTP_HEAD || len == 0) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, data, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_wxauth_send_json(ngx_http_request_t *r, ngx_uint_t status, const char *data,
    size_t len)
{
    return ngx_http_wxauth_send_response(r, status, "application/json", NULL, data, len);
}


ngx_int_t
ngx_http_wxauth_send_error(ngx_http_request_t *r, wxauth::Error err, ngx_int_t wx_errcode,
    ngx_flag_t has_wx_errcode)
{
    try {
        std::string body = has_wx_errcode ? wxauth::error_json(err, (long) wx_errcode)
                                          : wxauth::error_json(err);

        return ngx_http_wxauth_send_json(r, wxauth::http_status(err), body.data(), body.size());

    } catch (...) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* 405 with the module's JSON error and the methods the location accepts */
ngx_int_t
ngx_http_wxauth_send_not_allowed(ngx_http_request_t *r, const char *allow)
{
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    try {
        std::string body = wxauth::error_json(wxauth::Error::method_not_allowed);

        return ngx_http_wxauth_send_response(r, NGX_HTTP_NOT_ALLOWED, "application/json", allow,
                                             body.data(), body.size());

    } catch (...) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* nginx logs client mistakes at info, trouble with its own peers at error (core/session_protocol) */
ngx_uint_t
ngx_http_wxauth_log_level(wxauth::Error err)
{
    switch (wxauth::severity(err)) {
    case wxauth::Severity::error:
        return NGX_LOG_ERR;
    case wxauth::Severity::warn:
        return NGX_LOG_WARN;
    case wxauth::Severity::alert:
        return NGX_LOG_ALERT;
    default:
        return NGX_LOG_INFO;
    }
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


void
ngx_http_wxauth_log_note(ngx_http_request_t *r, const wxauth::LogNote &note)
{
    static const ngx_uint_t  levels[] = { NGX_LOG_INFO, NGX_LOG_WARN, NGX_LOG_ERR, NGX_LOG_ALERT };

    ngx_log_error(levels[static_cast<unsigned>(note.severity)], r->connection->log, 0,
                  "wxauth: %s", note.text.c_str());
}


/*
 * The error log's context of a request ends with `upstream: "http://host/path?args"`: for the
 * WeChat subrequest the arguments hold the secret. This wrapper of the request's log handler
 * removes the value of every `secret=` argument from what it wrote.
 */
static u_char *
ngx_http_wxauth_log_error_handler(ngx_http_request_t *r, ngx_http_request_t *sr, u_char *buf,
    size_t len)
{
    u_char                 *p, *start, *end, *last;
    ngx_http_wxauth_ctx_t  *ctx;
    static const u_char     key[] = "secret=";
    static const u_char     mask[] = "[hidden]";

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(
              ngx_http_get_module_ctx(r, ngx_http_wxauth_module));

    if (ctx == NULL || ctx->login.saved_log_handler == NULL) {
        return buf;
    }

    last = ctx->login.saved_log_handler(r, sr, buf, len);

    for (p = buf; last - p >= (ssize_t) sizeof(key) - 1; p++) {

        if (ngx_strncmp(p, key, sizeof(key) - 1) != 0) {
            continue;
        }

        start = p + sizeof(key) - 1;
        end = start;

        while (end < last && *end != '&' && *end != '"' && *end != ' ' && *end != ',') {
            end++;
        }

        if ((size_t) (end - start) < sizeof(mask) - 1) {
            ngx_memset(start, '*', end - start);
            p = end - 1;
            continue;
        }

        /* the mask is never longer than what it replaces: shift the rest left */
        ngx_memcpy(start, mask, sizeof(mask) - 1);
        ngx_memmove(start + sizeof(mask) - 1, end, last - end);
        last -= (end - start) - (sizeof(mask) - 1);
        p = start + sizeof(mask) - 2;
    }

    return last;
}


void
ngx_http_wxauth_hide_secret_in_log(ngx_http_request_t *r)
{
    ngx_log_t              *log;
    ngx_http_request_t     *mr;
    ngx_http_wxauth_ctx_t  *ctx;

    mr = r->main;
    log = r->connection->log;

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(
              ngx_http_get_module_ctx(mr, ngx_http_wxauth_module));
    if (ctx == NULL) {
        return;
    }

    if (!ctx->login.log_hidden) {
        ctx->login.saved_log_level = log->log_level;
        ctx->login.saved_log_handler = mr->log_handler;
        mr->log_handler = ngx_http_wxauth_log_error_handler;
        ctx->login.log_hidden = 1;
    }

    /* debug lines carry no context and go past the handler: no debug lines meanwhile */
    if (log->log_level > NGX_LOG_INFO) {
        log->log_level = NGX_LOG_INFO;
    }
}


void
ngx_http_wxauth_restore_log(ngx_http_request_t *r)
{
    ngx_http_request_t     *mr;
    ngx_http_wxauth_ctx_t  *ctx;

    mr = r->main;

    ctx = static_cast<ngx_http_wxauth_ctx_t *>(
              ngx_http_get_module_ctx(mr, ngx_http_wxauth_module));
    if (ctx == NULL || !ctx->login.log_hidden) {
        return;
    }

    r->connection->log->log_level = ctx->login.saved_log_level;
    ctx->login.log_hidden = 0;

    /* the handler stays: a late line about the finished subrequest is still masked */
}
