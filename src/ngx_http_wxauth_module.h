/*
 * ngx_http_wxauth_module: WeChat mini-program login in front of any upstream.
 * Shared declarations of the nginx glue. The logic that needs no nginx lives in src/core/.
 */

#ifndef NGX_HTTP_WXAUTH_MODULE_H_INCLUDED_
#define NGX_HTTP_WXAUTH_MODULE_H_INCLUDED_

extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
}

#include <string>
#include <string_view>
#include <vector>

#include "core/errors.h"
#include "core/redis_reply.h"
#include "core/session_protocol.h"


typedef struct ngx_http_wxauth_redis_server_s  ngx_http_wxauth_redis_server_t;
typedef struct ngx_http_wxauth_redis_batch_s   ngx_http_wxauth_redis_batch_t;
typedef struct ngx_http_wxauth_cache_conf_s    ngx_http_wxauth_cache_conf_t;


typedef struct {
    ngx_array_t                    servers;  /* ngx_http_wxauth_redis_server_t * */
} ngx_http_wxauth_main_conf_t;


typedef struct {
    ngx_http_wxauth_redis_server_t *redis;
    ngx_msec_t                      redis_timeout;
    ngx_str_t                       redis_prefix;
    time_t                          session_ttl;

    ngx_flag_t                      enable;
    ngx_http_complex_value_t       *token;

    ngx_flag_t                      session_renew;
    time_t                          session_max_lifetime;
    ngx_flag_t                      single_session;
    ngx_uint_t                      login_replicas;    /* 0: a login does not WAIT */
    ngx_msec_t                      login_replicas_wait;
    ngx_array_t                    *allowed_apps;      /* ngx_str_t */
    time_t                          watermark_max_age;

    ngx_uint_t                      handler;           /* NGX_HTTP_WXAUTH_HANDLER_* */
    ngx_str_t                       appid;
    ngx_str_t                       secret;
    ngx_str_t                       code2session;

    ngx_uint_t                      handler_line;  /* where the handler directive is */
    ngx_str_t                       handler_file;

    ngx_http_wxauth_cache_conf_t   *session_cache;   /* NULL: off (ngx_http_wxauth_cache.h) */
} ngx_http_wxauth_loc_conf_t;


#define NGX_HTTP_WXAUTH_HANDLER_NONE       0
#define NGX_HTTP_WXAUTH_HANDLER_LOGIN      1
#define NGX_HTTP_WXAUTH_HANDLER_LOGOUT     2
#define NGX_HTTP_WXAUTH_HANDLER_SIGNATURE  3
#define NGX_HTTP_WXAUTH_HANDLER_DECRYPT    4
#define NGX_HTTP_WXAUTH_HANDLER_METRICS    5


typedef void (*ngx_http_wxauth_next_pt)(ngx_http_request_t *r);

typedef struct ngx_http_wxauth_ctx_s  ngx_http_wxauth_ctx_t;

/* what a request does with the replies of its Redis step (ngx_http_wxauth_redis_step) */
typedef void (*ngx_http_wxauth_step_done_pt)(ngx_http_request_t *r,
    ngx_http_wxauth_ctx_t *ctx, ngx_uint_t outcome,
    const std::vector<wxauth::ReplyView> &replies);


typedef enum {
    NGX_HTTP_WXAUTH_NEW = 0,
    NGX_HTTP_WXAUTH_WAITING,
    NGX_HTTP_WXAUTH_PASSED,
    NGX_HTTP_WXAUTH_FAILED
} ngx_http_wxauth_state_e;


/* login: the WeChat exchange (ngx_http_wxauth_login.cpp) */
typedef struct {
    ngx_http_request_t             *sr;           /* the code2session subrequest */
    ngx_int_t                       sr_rc;
    ngx_uint_t                      sr_status;
    ngx_int_t                       wx_errcode;
    ngx_str_t                       token;        /* the new session's */
    time_t                          expires_in;
    size_t                          ending;       /* single session: sessions to end */
    size_t                          waits;        /* wxauth_login_replicas: WAIT replies */
    ngx_uint_t                      saved_log_level;
    ngx_http_log_handler_pt         saved_log_handler;
    unsigned                        sr_done:1;
    unsigned                        sr_failed:1;   /* no usable answer: 502 */
    unsigned                        sr_timed_out:1;   /* ... because it stalled: 504 */
    unsigned                        has_wx_errcode:1;
    unsigned                        log_hidden:1;
} ngx_http_wxauth_login_part_t;


/* signature check and decryption: the client's input (ngx_http_wxauth_userdata.cpp) */
typedef struct {
    ngx_str_t                       data;         /* rawData, or encryptedData */
    ngx_str_t                       proof;        /* signature, or iv */
} ngx_http_wxauth_userdata_part_t;


/* a refusal that nginx answers, given the module's JSON (ngx_http_wxauth_refusal.cpp) */
typedef struct {
    ngx_uint_t                      uri_changes;  /* where it happened */
    ngx_str_t                       body;         /* the JSON error that replaces nginx's page */
    unsigned                        refused:1;    /* by the access phase */
    unsigned                        replace_body:1;
    unsigned                        body_replaced:1;
} ngx_http_wxauth_refusal_part_t;


struct ngx_http_wxauth_ctx_s {
    ngx_http_wxauth_state_e         state;        /* of the session check */
    wxauth::Error                   error;        /* why the request was refused */
    unsigned                        failed:1;     /* `error` is set: $wxauth_error */
    unsigned                        counted:1;    /* the check's outcome is in the metrics */
    unsigned                        no_renewal:1; /* logout: the session is about to end */

    /* the caller's identity once a session check or a login succeeded */
    ngx_str_t                       openid;
    ngx_str_t                       unionid;
    ngx_str_t                       appid;

    /* the caller's session, once loaded (session_key never leaves the server) */
    ngx_str_t                       session_key;
    ngx_str_t                       storage_key;

    /* the Redis step the request waits for */
    ngx_http_wxauth_redis_batch_t  *pending;
    ngx_http_wxauth_step_done_pt    step_done;    /* the pending step's continuation */
    ngx_http_wxauth_next_pt         next;         /* called when a session load is done */

    /* wxauth_session_cache (ngx_http_wxauth_cache.cpp): the lookup sent to Redis, or a hit */
    ngx_http_wxauth_redis_server_t *cache_server; /* the server (cluster node) it went to */
    uint64_t                        cache_mark;   /* its invalidation log when it was sent */
    ngx_msec_t                      cache_sent;
    int64_t                         cache_renew;  /* a hit's due renewal, seconds */
    unsigned                        cache_armed:1;   /* its reply may be cached */

    ngx_http_wxauth_login_part_t     login;
    ngx_http_wxauth_userdata_part_t  userdata;
    ngx_http_wxauth_refusal_part_t   refusal;
};


extern ngx_module_t  ngx_http_wxauth_module;


static inline std::string_view
ngx_http_wxauth_sv(const ngx_str_t &s)
{
    return std::string_view(reinterpret_cast<const char *>(s.data), s.len);
}


/*
 * A timer of a worker's background work (reconnect probes, liveness, refreshes, heartbeats):
 * cancelable, so that it never keeps an exiting worker (reload, quit) alive.
 */
static inline void
ngx_http_wxauth_background_timer(ngx_event_t *ev, ngx_event_handler_pt handler, void *data,
    ngx_log_t *log)
{
    ev->handler = handler;
    ev->data = data;
    ev->log = log;
    ev->cancelable = 1;
}


/* ngx_http_wxauth_context.cpp */
ngx_http_wxauth_ctx_t *ngx_http_wxauth_find_ctx(ngx_http_request_t *r);
ngx_http_wxauth_ctx_t *ngx_http_wxauth_get_ctx(ngx_http_request_t *r);
void ngx_http_wxauth_park(ngx_http_request_t *r);
ngx_int_t ngx_http_wxauth_copy_str(ngx_pool_t *pool, ngx_str_t *dst,
    const char *data, size_t len);
ngx_int_t ngx_http_wxauth_read_body(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt body_handler);
ngx_int_t ngx_http_wxauth_request_body(ngx_http_request_t *r, size_t max, std::string &body);
ngx_int_t ngx_http_wxauth_start_body_handler(ngx_http_request_t *r, ngx_uint_t methods,
    const char *allow, ngx_http_client_body_handler_pt body_handler);
bool ngx_http_wxauth_handler_flow(ngx_uint_t handler, wxauth::Flow *flow);

/* ngx_http_wxauth_response.cpp */
ngx_int_t ngx_http_wxauth_send_response(ngx_http_request_t *r, ngx_uint_t status,
    const char *content_type, const char *allow, const char *data, size_t len);
ngx_int_t ngx_http_wxauth_set_json_headers(ngx_http_request_t *r, size_t len);
ngx_int_t ngx_http_wxauth_send_json(ngx_http_request_t *r, ngx_uint_t status,
    const char *data, size_t len);
ngx_int_t ngx_http_wxauth_send_not_allowed(ngx_http_request_t *r, const char *allow);
ngx_int_t ngx_http_wxauth_send_error(ngx_http_request_t *r, wxauth::Error err,
    ngx_int_t wx_errcode, ngx_flag_t has_wx_errcode);
void ngx_http_wxauth_count_outcome(ngx_http_request_t *r, const wxauth::Error *err);
void ngx_http_wxauth_refuse(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    wxauth::Error err);
void ngx_http_wxauth_answer(ngx_http_request_t *r, const char *body, size_t len);

/* ngx_http_wxauth_log.cpp */
ngx_uint_t ngx_http_wxauth_log_level(wxauth::Error err);
void ngx_http_wxauth_log_note(ngx_http_request_t *r, const wxauth::LogNote &note);
void ngx_http_wxauth_hide_secret_in_log(ngx_http_request_t *r);
void ngx_http_wxauth_restore_log(ngx_http_request_t *r);

/* ngx_http_wxauth_refusal.cpp */
ngx_int_t ngx_http_wxauth_refuse_in_access_phase(ngx_http_request_t *r,
    ngx_http_wxauth_ctx_t *ctx, wxauth::Error err);
ngx_int_t ngx_http_wxauth_refusal_filter_init(ngx_conf_t *cf);

/* ngx_http_wxauth_session.cpp */
ngx_int_t ngx_http_wxauth_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_wxauth_read_token(ngx_http_request_t *r,
    ngx_http_wxauth_loc_conf_t *wlcf, ngx_str_t *token);
ngx_int_t ngx_http_wxauth_session_load(ngx_http_request_t *r, ngx_http_wxauth_ctx_t *ctx,
    ngx_http_wxauth_next_pt next);

/* ngx_http_wxauth_logout.cpp */
ngx_int_t ngx_http_wxauth_logout_handler(ngx_http_request_t *r);

/* ngx_http_wxauth_userdata.cpp */
ngx_int_t ngx_http_wxauth_signature_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_wxauth_decrypt_handler(ngx_http_request_t *r);

/* ngx_http_wxauth_login.cpp */
ngx_int_t ngx_http_wxauth_login_handler(ngx_http_request_t *r);


#endif /* NGX_HTTP_WXAUTH_MODULE_H_INCLUDED_ */
