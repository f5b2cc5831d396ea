/*
 * The error log: the level of each refusal, lines the core asks for, and keeping the
 * AppSecret out of the log while the WeChat subrequest runs.
 */

#include "ngx_http_wxauth_module.h"

#include "core/session_protocol.h"


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
